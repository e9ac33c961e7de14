//! Network value types a resolver config needs, parsed from strings: IP addresses and networks,
//! `address[@port]`, `interface[@port]`, domain names and port numbers. Each JSON Schema pattern
//! accepts exactly what the parser accepts (checked by the agreement test).

use std::fmt;
use std::net::IpAddr;
use std::sync::OnceLock;

use serde_json::{Value as Json, json};

use crate::json_schema::SchemaGen;
use crate::map::{MapCx, Schema};
use crate::value::{Kind, Value, quote_for_message};

const IPV4: &str = r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const PORT: &str = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/// RFC 3986's IPv6 grammar as a regex (no zone index), built once.
fn ipv6_regex() -> &'static str {
    static PATTERN: OnceLock<String> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let h16 = "[0-9A-Fa-f]{1,4}";
        let ls32 = format!("({h16}:{h16}|{IPV4})");
        let head = |max: usize| if max == 0 { format!("({h16})?") } else { format!("(({h16}:){{0,{max}}}{h16})?") };
        let alternatives = [
            format!("({h16}:){{6}}{ls32}"),
            format!("::({h16}:){{5}}{ls32}"),
            format!("{}::({h16}:){{4}}{ls32}", head(0)),
            format!("{}::({h16}:){{3}}{ls32}", head(1)),
            format!("{}::({h16}:){{2}}{ls32}", head(2)),
            format!("{}::{h16}:{ls32}", head(3)),
            format!("{}::{ls32}", head(4)),
            format!("{}::{h16}", head(5)),
            format!("{}::", head(6)),
        ];
        format!("({})", alternatives.join("|"))
    })
}

fn ip_pattern() -> String {
    format!("({IPV4}|{})", ipv6_regex())
}

fn anchored(inner: &str) -> String {
    format!("^{inner}$")
}

fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>().map_err(|_| format!("{} is not an IP address", quote_for_message(text)))
}

/// A port number, 1 to 65535.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Schema for Port {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Port> {
        match u16::map(value, cx)? {
            0 => {
                cx.error(&value.span, "0 is out of range 1..=65535");
                None
            }
            port => Some(Port(port)),
        }
    }
    fn json_schema(_: &mut SchemaGen) -> Json {
        json!({"type": "integer", "minimum": 1, "maximum": 65535, "title": "port"})
    }
    fn to_json(&self) -> Json {
        json!(self.0)
    }
    fn expecting() -> String {
        "a port number (1 to 65535)".into()
    }
    fn accepts(kind: &Kind) -> bool {
        u16::accepts(kind)
    }
}

/// `min`/`max` on a port: JSON Schema's `minimum`/`maximum`, as for any integer.
impl crate::constraint::RangeConstraint for Port {
    fn range_schema(schema: &mut serde_json::Map<String, Json>, min: Option<&Port>, max: Option<&Port>) {
        if let Some(min) = min {
            schema.insert("minimum".into(), json!(min.0));
        }
        if let Some(max) = max {
            schema.insert("maximum".into(), json!(max.0));
        }
    }
}

fn parse_port(text: &str, whole: &str) -> Result<Port, String> {
    let valid_digits =
        !text.is_empty() && !text.starts_with('0') && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<u32>() {
        Ok(p) if valid_digits && (1..=65535).contains(&p) => Ok(Port(p as u16)),
        _ => Err(format!("{}: the port after '@' must be a number from 1 to 65535", quote_for_message(whole))),
    }
}

/// An IP address (v4 or v6), as a config value.
pub type IpAddress = IpAddr;

impl Schema for IpAddr {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<IpAddr> {
        match &value.kind {
            Kind::Str(s) => parse_ip(s).map_err(|message| cx.error(&value.span, message)).ok(),
            _ => {
                cx.mismatch::<IpAddr>(value);
                None
            }
        }
    }
    fn json_schema(_: &mut SchemaGen) -> Json {
        json!({"type": "string", "pattern": anchored(&ip_pattern()), "title": "IP address"})
    }
    fn to_json(&self) -> Json {
        json!(self.to_string())
    }
    fn expecting() -> String {
        "an IP address such as 192.0.2.1 or 2001:db8::1".into()
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Str(_))
    }
}

/// An IP address with a `!` suffix (`192.0.2.1!`, `::1!`): the whole address, as opposed to
/// an address whose leading bits alone are used (as in address renumbering, where `::1!` maps a
/// whole network to one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpAddrExact(pub IpAddr);

impl IpAddrExact {
    pub fn parse(text: &str) -> Result<IpAddrExact, String> {
        let Some(addr) = text.strip_suffix('!') else {
            return Err(format!("{} does not end with '!'", quote_for_message(text)));
        };
        addr.parse::<IpAddr>().map(IpAddrExact).map_err(|_| {
            format!("{}: before the '!' there must be an IP address such as 192.0.2.1", quote_for_message(text))
        })
    }
}

impl fmt::Display for IpAddrExact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!", self.0)
    }
}

crate::string_value!(
    IpAddrExact,
    title: "an IP address followed by '!'",
    expecting: "an IP address followed by '!' such as 192.0.2.1!",
    pattern: anchored(&format!("{}!", ip_pattern()))
);

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare address means a
/// single host. Host bits may be set (`10.0.0.1/8` is the network 10.0.0.0/8 written from one
/// of its addresses), as kresd accepts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Result<IpNet, String> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr = parse_ip(addr_text)
            .map_err(|_| format!("{} is not an IP network such as 10.0.0.0/8", quote_for_message(text)))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                let canonical =
                    p == "0" || (!p.starts_with('0') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
                match p.parse::<u8>() {
                    Ok(n) if canonical && n <= max => n,
                    _ => {
                        return Err(format!(
                            "{}: the prefix length must be a number from 0 to {max}",
                            quote_for_message(text)
                        ));
                    }
                }
            }
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix)) };
                u32::from(net) & mask == u32::from(*ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
                u128::from(net) & mask == u128::from(*ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn ipnet_pattern() -> String {
    let v4_prefix = "(3[0-2]|[12][0-9]|[0-9])";
    let v6_prefix = "(12[0-8]|1[01][0-9]|[1-9][0-9]|[0-9])";
    anchored(&format!("({IPV4}(/{v4_prefix})?|{}(/{v6_prefix})?)", ipv6_regex()))
}

crate::string_value!(IpNet, title: "an IP network", expecting: "an IP network such as 10.0.0.0/8", pattern: ipnet_pattern());

/// An IP address with an optional port: `127.0.0.1`, `127.0.0.1@53`, `::1@53`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrPort {
    pub addr: IpAddr,
    pub port: Option<Port>,
}

impl AddrPort {
    pub fn parse(text: &str) -> Result<AddrPort, String> {
        let (addr_text, port) = match text.split_once('@') {
            Some((a, p)) => (a, Some(parse_port(p, text)?)),
            None => (text, None),
        };
        let addr = parse_ip(addr_text).map_err(|_| {
            format!("{} is not an IP address with an optional @port, such as 127.0.0.1@53", quote_for_message(text))
        })?;
        Ok(AddrPort { addr, port })
    }
}

impl fmt::Display for AddrPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(port) = self.port {
            write!(f, "@{port}")?;
        }
        Ok(())
    }
}

crate::string_value!(
    AddrPort,
    title: "an IP address with an optional @port",
    expecting: "an IP address with an optional @port such as 127.0.0.1@53",
    pattern: anchored(&format!("{}(@{PORT})?", ip_pattern()))
);

/// Where to listen: an IP address or a network interface name, with an optional port
/// (`127.0.0.1@53`, `lo@853`, `eth0`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InterfacePort {
    pub target: InterfaceTarget,
    pub port: Option<Port>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InterfaceTarget {
    Addr(IpAddr),
    Interface(String),
}

/// Linux interface names: 1 to 15 characters, no '/', ':' or whitespace; names made only of
/// digits and dots are refused as they read as broken IPv4 addresses.
fn is_interface_name(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl InterfacePort {
    pub fn parse(text: &str) -> Result<InterfacePort, String> {
        let (target_text, port) = match text.split_once('@') {
            Some((t, p)) => (t, Some(parse_port(p, text)?)),
            None => (text, None),
        };
        let target = match target_text.parse::<IpAddr>() {
            Ok(addr) => InterfaceTarget::Addr(addr),
            Err(_) if is_interface_name(target_text) => InterfaceTarget::Interface(target_text.to_owned()),
            Err(_) => {
                return Err(format!(
                    "{} is neither an IP address nor an interface name (optionally with @port, e.g. lo@853)",
                    quote_for_message(text)
                ));
            }
        };
        Ok(InterfacePort { target, port })
    }
}

impl fmt::Display for InterfacePort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            InterfaceTarget::Addr(addr) => write!(f, "{addr}")?,
            InterfaceTarget::Interface(name) => f.write_str(name)?,
        }
        if let Some(port) = self.port {
            write!(f, "@{port}")?;
        }
        Ok(())
    }
}

fn interface_pattern() -> String {
    let name = "(?![0-9.]+(@|$))[A-Za-z0-9_.-]{1,15}";
    anchored(&format!("({}|{name})(@{PORT})?", ip_pattern()))
}

crate::string_value!(
    InterfacePort,
    title: "an IP address or interface name with an optional @port",
    expecting: "an IP address or interface name with an optional @port such as lo@853",
    pattern: interface_pattern()
);

/// A domain name such as `example.com` or `example.com.`, or `.` for the root. Labels are 1 to
/// 63 characters of letters, digits, `-`, `_` and `*`, not starting or ending with `-`; the
/// whole name is at most 253 characters without the final dot.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(text: &str) -> Result<DomainName, String> {
        if text == "." {
            return Ok(DomainName(text.to_owned()));
        }
        let invalid = |why: &str| format!("{} is not a domain name: {why}", quote_for_message(text));
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.is_empty() {
            return Err(invalid("it is empty"));
        }
        if body.len() > 253 {
            return Err(invalid("it is longer than 253 characters"));
        }
        for label in body.split('.') {
            if label.is_empty() {
                return Err(invalid("it has an empty label (two dots in a row?)"));
            }
            if label.len() > 63 {
                return Err(invalid("a label is longer than 63 characters"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(invalid("a label starts or ends with '-'"));
            }
            if !label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*')) {
                return Err(invalid("only letters, digits, '-', '_' and '*' are allowed in labels"));
            }
        }
        Ok(DomainName(text.to_owned()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name with a final dot (`example.com.`), as kresd's `todname` expects.
    pub fn fqdn(&self) -> String {
        if self.0.ends_with('.') { self.0.clone() } else { format!("{}.", self.0) }
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn domain_pattern() -> String {
    let label = "[A-Za-z0-9_*]([A-Za-z0-9_*-]{0,61}[A-Za-z0-9_*])?";
    format!("^(\\.|(?![\\s\\S]{{255}})(?![\\s\\S]{{253}}[^.]){label}(\\.{label})*\\.?)$")
}

crate::string_value!(DomainName, title: "a domain name", expecting: "a domain name such as example.com", pattern: domain_pattern());

impl crate::types::builtin::KeySchema for DomainName {
    fn parse_key(key: &str) -> Result<DomainName, String> {
        DomainName::parse(key)
    }
    fn key_string(&self) -> String {
        self.0.clone()
    }
    fn key_schema() -> Json {
        json!({"type": "string", "pattern": domain_pattern()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_port() {
        assert_eq!(AddrPort::parse("127.0.0.1@53").unwrap().to_string(), "127.0.0.1@53");
        assert_eq!(AddrPort::parse("::1@5353").unwrap().port, Some(Port(5353)));
        assert!(AddrPort::parse("127.0.0.1@0").is_err());
        assert!(AddrPort::parse("127.0.0.1@65536").is_err());
        assert!(AddrPort::parse("127.0.0.1@053").is_err());
        assert!(AddrPort::parse("localhost@53").is_err());
    }

    #[test]
    fn interfaces() {
        assert_eq!(InterfacePort::parse("lo@853").unwrap().target, InterfaceTarget::Interface("lo".into()));
        assert!(matches!(InterfacePort::parse("::1").unwrap().target, InterfaceTarget::Addr(_)));
        assert!(InterfacePort::parse("1.2.3.999").is_err());
        assert!(InterfacePort::parse("a-very-long-interface-name").is_err());
    }

    #[test]
    fn exact_addresses() {
        assert_eq!(IpAddrExact::parse("::1!").unwrap(), IpAddrExact("::1".parse().unwrap()));
        assert_eq!(IpAddrExact::parse("2001:0db8::1!").unwrap().to_string(), "2001:db8::1!");
        assert_eq!(IpAddrExact::parse("192.0.2.1!").unwrap().to_string(), "192.0.2.1!");
        assert_eq!(IpAddrExact::parse("::1").unwrap_err(), r#""::1" does not end with '!'"#);
        for bad in ["::1!!", "!", "192.0.2.0/24!", "::1! ", "1.2.3.999!"] {
            assert!(IpAddrExact::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn networks() {
        let net = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(net.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!net.contains(&"11.1.2.3".parse().unwrap()));
        assert_eq!(IpNet::parse("::1").unwrap().prefix, 128);
        assert!(IpNet::parse("10.0.0.0/33").is_err());
        assert!(IpNet::parse("10.0.0.0/08").is_err());
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(&"1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn domain_names() {
        assert!(DomainName::parse("example.com").is_ok());
        assert!(DomainName::parse("example.com.").is_ok());
        assert!(DomainName::parse(".").is_ok());
        assert!(DomainName::parse("_dmarc.example").is_ok());
        assert!(DomainName::parse("a..b").is_err());
        assert!(DomainName::parse("-a.b").is_err());
        assert!(DomainName::parse("a b").is_err());
        assert!(DomainName::parse(&"a".repeat(64)).is_err());
        assert_eq!(DomainName::parse("example.com").unwrap().fqdn(), "example.com.");
    }
}
