//! `forward`: subtrees whose queries go to given servers instead of being resolved from the
//! root, either to recursive resolvers (kresd 5.6 `policy.FORWARD`, or `policy.TLS_FORWARD` for
//! DNS over TLS) or to authoritative servers (`policy.STUB`, where a custom port works too).
//!
//! The server types are shared with `fallback`.

use schema_core::{AddrPort, Checks, DomainName, FilePath, OneOrMany, ResolveCx, Schema};

/// One forwarding rule.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = ForwardResolved, validate = check_forward)]
pub struct Forward {
    /// The subtree (or subtrees) whose names are forwarded; `.` forwards everything.
    pub subtree: OneOrMany<DomainName>,
    /// The servers to ask, tried in turn: an address (`192.0.2.1`, `192.0.2.1@5353`) or a
    /// server with its transport settings.
    #[schema(min_items = 1, resolve = resolve_servers)]
    pub servers: Vec<ForwardServer>,
    /// How the servers are queried.
    #[schema(default)]
    pub options: ForwardOptions,
}

/// How the servers of a forwarding rule are queried.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct ForwardOptions {
    /// The servers are authoritative for the subtree (not resolvers): queries are sent without
    /// recursion, as a stub. Such servers are reached over plain DNS only.
    #[schema(default = false)]
    pub authoritative: bool,
    /// Validate the answers with DNSSEC; `false` treats the subtree as insecure.
    #[schema(default = true)]
    pub dnssec: bool,
}

/// A server to forward to: just an address with an optional `@port`, or a mapping with the
/// address and how to reach it.
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum ForwardServer {
    /// An address with an optional port, reached over plain DNS.
    Address(AddrPort),
    /// A server with its transport settings.
    Server(ForwardServerConfig),
}

impl ForwardServer {
    /// Whether the server is reached over DNS over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, ForwardServer::Server(s) if s.transport == Some(Transport::Tls))
    }
}

/// A server with its transport settings.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_server)]
pub struct ForwardServerConfig {
    /// The address (or addresses) of the server, each with an optional `@port` (853 is the
    /// default for TLS, 53 otherwise).
    pub address: OneOrMany<AddrPort>,
    /// `tls` for DNS over TLS; plain DNS when absent.
    pub transport: Option<Transport>,
    /// TLS only: the SHA-256 hash (base64) of the server's public key, or several; the server
    /// is accepted if its key matches one. Excludes `hostname` and `ca-file`.
    pub pin_sha256: Option<OneOrMany<PinSha256>>,
    /// TLS only: the name the server's certificate must be valid for.
    pub hostname: Option<DomainName>,
    /// TLS only: the CA certificates (PEM) that verify the server's certificate instead of the
    /// system's; needs `hostname`.
    pub ca_file: Option<FilePath>,
}

/// The transport to a server.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// DNS over TLS.
    Tls,
}

/// The base64 SHA-256 hash of a public key (43 characters and `=`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PinSha256(String);

const PIN_PATTERN: &str = "^[A-Za-z0-9+/]{43}=$";

impl PinSha256 {
    pub fn parse(text: &str) -> Result<PinSha256, String> {
        let valid = text.len() == 44
            && text.ends_with('=')
            && text[..43].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
        if valid {
            Ok(PinSha256(text.to_owned()))
        } else {
            Err(format!(
                "{} is not a base64 SHA-256 key pin (43 base64 characters and '=')",
                schema_core::value::quote_for_message(text)
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PinSha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

schema_core::string_value!(PinSha256, title: "SHA-256 key pin", expecting: "a base64 SHA-256 key pin", pattern: PIN_PATTERN);

/// Rules of one server mapping: how a TLS server is authenticated, and TLS settings only with
/// TLS.
fn check_server(server: &ForwardServerConfig, checks: &mut Checks) {
    let tls = server.transport == Some(Transport::Tls);
    if tls {
        if server.pin_sha256.is_none() && server.hostname.is_none() {
            checks.error(
                "transport",
                "a DNS over TLS server needs `hostname` (checked against its certificate) or `pin-sha256` to be authenticated",
            );
        }
        if server.pin_sha256.is_some() {
            if server.hostname.is_some() {
                checks.error("hostname", "`pin-sha256` authenticates the server: leave out `hostname`");
            }
            if server.ca_file.is_some() {
                checks.error("ca-file", "`pin-sha256` authenticates the server: leave out `ca-file`");
            }
        }
    } else {
        for (key, given) in [
            ("pin-sha256", server.pin_sha256.is_some()),
            ("hostname", server.hostname.is_some()),
            ("ca-file", server.ca_file.is_some()),
        ] {
            if given {
                checks.error(key, format!("`{key}` applies only to DNS over TLS: add `transport: tls`"));
            }
        }
    }
}

/// An authoritative target is queried as a stub over plain DNS: every server is checked, not
/// only the first. (A custom port is fine: kresd 5.6's `policy.STUB` takes `address@port`.)
fn check_forward(forward: &Forward, checks: &mut Checks) {
    if forward.options.authoritative {
        for (i, server) in forward.servers.iter().enumerate() {
            if server.is_tls() {
                checks.error(
                    &format!("servers/{i}/transport"),
                    "authoritative servers are queried over plain DNS: DNS over TLS is not available with `authoritative: true`",
                );
            }
        }
    }
}

/// kresd 5.6 forwards one subtree with one action: `policy.TLS_FORWARD` (TLS only) or
/// `policy.FORWARD` / `policy.STUB` (plain DNS only); a list mixing both cannot be expressed.
#[allow(clippy::ptr_arg, reason = "a field resolver takes the field's own type")]
fn resolve_servers(
    servers: &Vec<ForwardServer>,
    _: &Forward,
    cx: &mut ResolveCx<'_>,
) -> Result<Vec<ForwardServer>, String> {
    let tls = servers.iter().filter(|s| s.is_tls()).count();
    if tls > 0 && tls < servers.len() {
        super::target::needs_6(cx, "mixing DNS over TLS and plain DNS servers in one forwarding rule")?;
    }
    Ok(servers.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::FakeSystem;

    const PIN: &str = "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=";

    fn load(yaml: &str) -> Result<Forward, String> {
        schema_core::load::<Forward>(yaml, Some("t.yaml")).map_err(|r| r.to_string())
    }

    #[test]
    fn options_default_is_the_reference_default() {
        assert_eq!(ForwardOptions::default().to_json(), serde_json::json!({"authoritative": false, "dnssec": true}));
    }

    #[test]
    fn realistic_rules_map() {
        let text = format!(
            "\
- subtree: .
  servers:
    - address: [2001:148f:fffe::1, 185.43.135.1]
      transport: tls
      hostname: odvr.nic.cz
    - address: 192.0.2.53@853
      transport: tls
      pin-sha256: {PIN}
    - 192.0.2.1
- subtree: [internal.example, 10.in-addr.arpa]
  servers: [10.0.0.53@5353, 10.0.0.54]
  options:
    authoritative: true
    dnssec: false
"
        );
        let rules: Vec<Forward> = schema_core::load(&text, Some("t.yaml")).unwrap();
        assert_eq!(rules[0].servers.len(), 3);
        assert!(rules[0].servers[0].is_tls());
        assert!(!rules[0].servers[2].is_tls());
        let ForwardServer::Server(server) = &rules[0].servers[1] else { panic!("not a mapping") };
        assert_eq!(server.pin_sha256.as_ref().unwrap().as_slice()[0].as_str(), PIN);
        assert_eq!(rules[1].subtree.as_slice().len(), 2);
        assert!(rules[1].options.authoritative);
        let ForwardServer::Address(addr) = &rules[1].servers[0] else { panic!("not an address") };
        assert_eq!(addr.port.map(|p| p.0), Some(5353));
        // Pass 2 keeps the rules as they are (with Knot Resolver 6: the first rule mixes TLS and
        // plain servers, which kresd 5.6 cannot do).
        let kr6 = FakeSystem { version: Some(schema_core::Version::new(6, 0, 0)), ..Default::default() };
        let (resolved, notes): (Vec<ForwardResolved>, _) =
            schema_core::resolve_document(&rules, &kr6, Default::default()).unwrap();
        assert_eq!(resolved.len(), rules.len());
        for (resolved, raw) in resolved.iter().zip(&rules) {
            assert_eq!(
                (&resolved.subtree, &resolved.servers, &resolved.options),
                (&raw.subtree, &raw.servers, &raw.options)
            );
        }
        assert!(notes.is_empty());
    }

    #[test]
    fn authoritative_servers_checks_every_server() {
        let text = "\
subtree: example.com
servers:
  - 192.0.2.1@5353
  - address: 192.0.2.2
    transport: tls
    hostname: ns.example.com
options:
  authoritative: true
";
        assert_eq!(
            load(text).unwrap_err(),
            "/servers/1/transport: authoritative servers are queried over plain DNS: DNS over TLS is not available with `authoritative: true` (at t.yaml:5:16)"
        );
        // A custom port alone is fine.
        assert!(load("subtree: example.com\nservers: [192.0.2.1@5353]\noptions: {authoritative: true}\n").is_ok());
    }

    #[test]
    fn tls_servers_need_authentication() {
        assert_eq!(
            load("subtree: .\nservers:\n  - address: 192.0.2.1\n    transport: tls\n").unwrap_err(),
            "/servers/0/transport: a DNS over TLS server needs `hostname` (checked against its certificate) or `pin-sha256` to be authenticated (at t.yaml:4:16)"
        );
        let text = format!(
            "subtree: .\nservers:\n  - address: 192.0.2.1\n    transport: tls\n    pin-sha256: [{PIN}]\n    hostname: dns.example\n    ca-file: /etc/ca.pem\n"
        );
        assert_eq!(
            load(&text).unwrap_err(),
            "\
/servers/0/hostname: `pin-sha256` authenticates the server: leave out `hostname` (at t.yaml:6:15)
/servers/0/ca-file: `pin-sha256` authenticates the server: leave out `ca-file` (at t.yaml:7:14)"
        );
        assert_eq!(
            load("subtree: .\nservers:\n  - address: 192.0.2.1\n    hostname: dns.example\n").unwrap_err(),
            "/servers/0/hostname: `hostname` applies only to DNS over TLS: add `transport: tls` (at t.yaml:4:15)"
        );
    }

    #[test]
    fn kresd_5_6_cannot_mix_tls_and_plain_servers() {
        let text = format!(
            "subtree: .\nservers:\n  - 192.0.2.1\n  - address: 192.0.2.2\n    transport: tls\n    pin-sha256: {PIN}\n"
        );
        let rule = load(&text).unwrap();
        let kr56 = FakeSystem { version: Some(schema_core::Version::new(5, 6, 0)), ..Default::default() };
        let report = schema_core::resolve_document(&rule, &kr56, Default::default()).unwrap_err();
        assert_eq!(
            report.to_string(),
            "/servers: mixing DNS over TLS and plain DNS servers in one forwarding rule needs Knot Resolver 6; the installed kresd is 5.6.0"
        );
        let kr6 = FakeSystem { version: Some(schema_core::Version::new(6, 0, 0)), ..Default::default() };
        assert!(schema_core::resolve_document(&rule, &kr6, Default::default()).is_ok());
        // All TLS (or all plain) is fine with 5.6.
        let tls_only =
            load(&format!("subtree: .\nservers:\n  - address: 192.0.2.2\n    transport: tls\n    pin-sha256: {PIN}\n"))
                .unwrap();
        assert!(schema_core::resolve_document(&tls_only, &kr56, Default::default()).is_ok());
    }

    #[test]
    fn bad_values() {
        assert_eq!(
            load("subtree: .\nservers:\n  - address: 192.0.2.1\n    transport: tls\n    pin-sha256: abc\n")
                .unwrap_err(),
            "/servers/0/pin-sha256: \"abc\" is not a base64 SHA-256 key pin (43 base64 characters and '=') (at t.yaml:5:17)"
        );
        assert!(load("subtree: .\nservers: []\n").unwrap_err().starts_with("/servers: "));
        assert!(load("subtree: a..b\nservers: [192.0.2.1]\n").unwrap_err().starts_with("/subtree: "));
    }
}
