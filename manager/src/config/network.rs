//! `network`: where the resolver listens and how it talks to clients and to other servers:
//! listening sockets, TLS, EDNS, the PROXY protocol, outgoing addresses, renumbering.
//!
//! Pass 2 fills in listening ports (53, 853 for `dot`, 443 for `doh2`/`doh-legacy`), decides
//! `tls.watchdog: auto`, and checks what the installed kresd can do: kresd 5.6 has no QUIC, so
//! the `doq` and `doh2-insecure` listen kinds are errors there, and QUIC settings are ignored
//! with a note.

use std::net::IpAddr;

use schema_core::json_schema::SchemaGen;
use schema_core::{
    Auto, Checks, FilePath, InterfacePort, IpAddrExact, IpNet, Kind, MapCx, OneOrMany, Port, Resolve, ResolveCx,
    Schema, Size, Value,
};
use serde_json::{Value as Json, json};

/// How the resolver talks to clients and to other servers: listening sockets, TLS, EDNS, the
/// PROXY protocol, outgoing addresses.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = NetworkResolved)]
pub struct Network {
    /// Use IPv4 to reach other servers.
    #[schema(default = true)]
    pub do_ipv4: bool,
    /// Use IPv6 to reach other servers.
    #[schema(default = true)]
    pub do_ipv6: bool,
    /// IPv4 address outgoing queries are sent from; chosen by the system when null.
    #[schema(validate = check_out_v4)]
    pub out_interface_v4: Option<IpAddr>,
    /// IPv6 address outgoing queries are sent from; chosen by the system when null.
    #[schema(validate = check_out_v6)]
    pub out_interface_v6: Option<IpAddr>,
    /// How many queries of one TCP connection are processed at the same time (0 to 65535).
    #[schema(default = 100)]
    pub tcp_pipeline: u16,
    /// Tell TCP clients how long an idle connection is kept open (EDNS TCP keepalive, RFC 7828).
    #[schema(default = true)]
    pub edns_tcp_keepalive: bool,
    /// The largest UDP message sizes advertised with EDNS.
    #[schema(default)]
    pub edns_buffer_size: EdnsBufferSize,
    /// Rewrite addresses in answers: addresses within a source network get the destination's
    /// prefix (for example to publish internal addresses of a NAT).
    pub address_renumbering: Option<Vec<AddressRenumbering>>,
    /// TLS for DNS over TLS and DNS over HTTPS listeners.
    #[schema(default)]
    pub tls: Tls,
    /// Accept the PROXY protocol (version 2) from trusted clients, so queries relayed by a load
    /// balancer carry the address of the real client.
    #[schema(default)]
    pub proxy_protocol: ProxyProtocol,
    /// Limits of DNS over QUIC. kresd 5.6 has no QUIC: these are ignored there (with a note when
    /// they differ from the defaults).
    #[schema(default, resolve = resolve_quic, into = Quic)]
    pub quic: Quic,
    /// The sockets the resolver answers on. By default plain DNS on 127.0.0.1 and ::1, port 53.
    #[schema(default = default_listen)]
    pub listen: Vec<Listen>,
}

/// The largest UDP message sizes advertised with EDNS (512B to 65535B; kresd refuses others).
/// 1232 bytes avoids IP fragmentation on practically every path.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct EdnsBufferSize {
    /// Advertised in queries to other servers.
    #[schema(default = "1232B", min = "512B", max = "65535B")]
    pub upstream: Size,
    /// Advertised in answers to clients.
    #[schema(default = "1232B", min = "512B", max = "65535B")]
    pub downstream: Size,
}

/// One renumbering rule.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(validate = check_renumbering)]
pub struct AddressRenumbering {
    /// The network whose addresses are rewritten.
    pub source: IpNet,
    /// What they are rewritten to: an address (or a network, whose address part is used)
    /// whose leading bits, as many as the source's prefix length, replace those of each
    /// matching address, which keeps its remaining bits; or an address followed by `!`
    /// (`'::1!'`), which replaces each matching address whole, so a whole network maps to
    /// one address. Same address family as `source`.
    pub destination: RenumberingDestination,
}

/// An IP address (`192.0.2.1`) or an IP network (`192.0.2.0/24`).
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum AddressOrNetwork {
    /// A single address.
    Address(IpAddr),
    /// A network in CIDR notation.
    Network(IpNet),
}

/// Where renumbering rewrites addresses to: an IP address (`192.0.2.0`), an IP network
/// (`192.0.2.0/24`), or an address followed by `!` (`'192.0.2.1!'`).
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum RenumberingDestination {
    /// A single address: a prefix.
    Address(IpAddr),
    /// A network in CIDR notation: its address is a prefix.
    Network(IpNet),
    /// An address followed by `!`: the whole address, for every matching one.
    Exact(IpAddrExact),
}

impl RenumberingDestination {
    /// The address, or the network's address part.
    pub fn addr(&self) -> IpAddr {
        match self {
            RenumberingDestination::Address(addr) | RenumberingDestination::Exact(IpAddrExact(addr)) => *addr,
            RenumberingDestination::Network(net) => net.addr,
        }
    }
}

/// TLS settings of DNS over TLS and DNS over HTTPS listeners. Without a certificate, kresd
/// makes up a self-signed one, which clients that check certificates reject.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = TlsResolved, validate = check_tls)]
pub struct Tls {
    /// Reload the certificate and key when their files change; `auto` is on where file watching
    /// is available (Linux).
    #[schema(default = "auto", resolve = resolve_watchdog, into = bool)]
    pub watchdog: Auto<bool>,
    /// Certificate (chain) file, PEM. Needs `key-file`.
    pub cert_file: Option<FilePath>,
    /// Private key file of the certificate, PEM. Needs `cert-file`.
    pub key_file: Option<FilePath>,
    /// Secret for TLS session tickets (at least 32 characters), for resuming sessions across
    /// workers and restarts. Random per worker when neither this nor `sticket-secret-file` is
    /// given.
    #[schema(min_len = 32)]
    pub sticket_secret: Option<String>,
    /// File holding the secret for TLS session tickets (instead of `sticket-secret`).
    pub sticket_secret_file: Option<FilePath>,
    /// EDNS padding of answers over TLS (RFC 7830), which hides their exact size: `true` for
    /// the default padding scheme, `false` for none, or a block size in bytes (0 to 512).
    #[schema(default = true)]
    pub padding: TlsPadding,
}

/// EDNS padding of answers over TLS: on, off, or a block size.
#[derive(Schema, Debug, Clone, PartialEq)]
pub enum TlsPadding {
    /// `true` pads with the default scheme, `false` does not pad.
    Enabled(bool),
    /// Pad answers to a multiple of this many bytes.
    Block(PaddingBlock),
}

/// A padding block size in bytes, 0 to 512 (what kresd accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaddingBlock(pub u16);

impl PaddingBlock {
    pub const MAX: u16 = 512;
}

impl Schema for PaddingBlock {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<PaddingBlock> {
        let bytes = u16::map(value, cx)?;
        if bytes > PaddingBlock::MAX {
            cx.error(
                &value.span,
                format!("{bytes} is more than the largest padding block, {} bytes", PaddingBlock::MAX),
            );
            return None;
        }
        Some(PaddingBlock(bytes))
    }
    fn json_schema(_: &mut SchemaGen) -> Json {
        json!({"type": "integer", "minimum": 0, "maximum": PaddingBlock::MAX})
    }
    fn to_json(&self) -> Json {
        json!(self.0)
    }
    fn expecting() -> String {
        format!("a number of bytes from 0 to {}", PaddingBlock::MAX)
    }
    fn accepts(kind: &Kind) -> bool {
        u16::accepts(kind)
    }
}

impl Resolve for PaddingBlock {
    type Output = PaddingBlock;
    fn resolve(&self, _: &mut ResolveCx<'_>) -> Option<PaddingBlock> {
        Some(*self)
    }
}

/// The PROXY protocol (version 2) from trusted clients.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct ProxyProtocol {
    /// Accept the PROXY protocol header from the clients in `allow`.
    #[schema(default = false)]
    pub enable: bool,
    /// Addresses and networks of the clients (load balancers) allowed to send the header.
    pub allow: Option<Vec<AddressOrNetwork>>,
}

/// Limits of DNS over QUIC (Knot Resolver 6 only).
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Quic {
    /// Most QUIC connections open at once per worker.
    #[schema(default = 1024, min = 1, max = 4096)]
    pub max_conns: u16,
    /// Most streams open at once per QUIC connection.
    #[schema(default = 1024, min = 1, max = 4096)]
    pub max_streams: u16,
    /// Make every client prove its address with a retry packet before a connection opens.
    #[schema(default = false)]
    pub require_retry: bool,
}

/// One listening socket (or several sharing the settings): on IP addresses or network
/// interfaces, or on unix sockets.
#[derive(Schema, Debug, Clone, PartialEq)]
#[schema(resolved = ListenResolved, validate = check_listen)]
pub struct Listen {
    /// IP addresses or interface names, each optionally with `@port` (`127.0.0.1`, `eth0@853`).
    /// Not with `unix-socket`.
    #[schema(min_items = 1)]
    pub interface: Option<OneOrMany<InterfacePort>>,
    /// Paths of unix sockets (not with `interface`); plain DNS (kind `dns`) cannot be served on
    /// them.
    #[schema(min_items = 1, validate = check_unix_sockets)]
    pub unix_socket: Option<OneOrMany<String>>,
    /// Port for the interfaces given without `@port`. By default 53, 853 for `dot` and 443 for
    /// `doh2` and `doh-legacy`. Not with `unix-socket`.
    #[schema(resolve = resolve_port, into = MaybePort)]
    pub port: Option<Port>,
    /// The protocol served.
    #[schema(default = "dns", resolve = resolve_kind, into = ListenKind)]
    pub kind: ListenKind,
    /// Allow binding addresses not (yet) present on the machine (IP_FREEBIND).
    #[schema(default = false)]
    pub freebind: bool,
}

/// A port, or none (the resolved `port` of a unix-socket listener).
pub type MaybePort = Option<Port>;

/// The protocol a listening socket serves.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenKind {
    /// Plain DNS over UDP and TCP.
    #[schema(rename = "dns")]
    Dns,
    /// Plain DNS over UDP through XDP, bypassing most of the kernel's network stack.
    #[schema(rename = "xdp")]
    Xdp,
    /// DNS over TLS (RFC 7858).
    #[schema(rename = "dot")]
    Dot,
    /// DNS over HTTPS through the older HTTP module.
    #[schema(rename = "doh-legacy")]
    DohLegacy,
    /// DNS over HTTPS (RFC 8484) over HTTP/2.
    #[schema(rename = "doh2")]
    Doh2,
    /// DNS over HTTP/2 without TLS, for a TLS-terminating proxy in front (Knot Resolver 6 only).
    #[schema(rename = "doh2-insecure")]
    Doh2Insecure,
    /// DNS over QUIC (RFC 9250; Knot Resolver 6 only).
    #[schema(rename = "doq")]
    Doq,
}

impl ListenKind {
    /// The port a listener of this kind uses when none is given.
    pub fn default_port(self) -> Port {
        match self {
            ListenKind::Dot | ListenKind::Doq => Port(853),
            ListenKind::Doh2 | ListenKind::DohLegacy => Port(443),
            ListenKind::Dns | ListenKind::Xdp | ListenKind::Doh2Insecure => Port(53),
        }
    }

    /// The document name (`doh-legacy`).
    pub fn name(self) -> &'static str {
        match self {
            ListenKind::Dns => "dns",
            ListenKind::Xdp => "xdp",
            ListenKind::Dot => "dot",
            ListenKind::DohLegacy => "doh-legacy",
            ListenKind::Doh2 => "doh2",
            ListenKind::Doh2Insecure => "doh2-insecure",
            ListenKind::Doq => "doq",
        }
    }
}

/// Knot Resolver 6's default listeners: plain DNS on 127.0.0.1 and ::1, port 53 (the latter
/// with freebind, as ::1 may be missing when IPv6 is disabled).
pub fn default_listen() -> Vec<Listen> {
    let local = |addr: &str, freebind| Listen {
        interface: Some(OneOrMany::Many(vec![InterfacePort::parse(addr).expect("a valid address")])),
        unix_socket: None,
        port: Some(Port(53)),
        kind: ListenKind::Dns,
        freebind,
    };
    vec![local("127.0.0.1", false), local("::1", true)]
}

fn check_out_v4(addr: &Option<IpAddr>) -> Result<(), String> {
    match addr {
        Some(IpAddr::V6(addr)) => Err(format!("{addr} is an IPv6 address; out-interface-v4 takes an IPv4 address")),
        _ => Ok(()),
    }
}

fn check_out_v6(addr: &Option<IpAddr>) -> Result<(), String> {
    match addr {
        Some(IpAddr::V4(addr)) => Err(format!("{addr} is an IPv4 address; out-interface-v6 takes an IPv6 address")),
        _ => Ok(()),
    }
}

fn check_renumbering(rule: &AddressRenumbering, checks: &mut Checks) {
    if rule.source.addr.is_ipv4() != rule.destination.addr().is_ipv4() {
        checks.error("destination", "the destination must be of the same address family (IPv4 or IPv6) as the source");
    }
}

fn check_tls(tls: &Tls, checks: &mut Checks) {
    match (&tls.cert_file, &tls.key_file) {
        (Some(_), None) => checks.error("cert-file", "a certificate needs its private key: `key-file` is missing"),
        (None, Some(_)) => checks.error("key-file", "a private key needs its certificate: `cert-file` is missing"),
        _ => {}
    }
    if tls.sticket_secret.is_some() && tls.sticket_secret_file.is_some() {
        checks.error("sticket-secret-file", "give the session ticket secret either inline (`sticket-secret`) or in a file (`sticket-secret-file`), not both");
    }
}

fn check_unix_sockets(sockets: &Option<OneOrMany<String>>) -> Result<(), String> {
    let sockets = sockets.as_ref().map_or(&[][..], OneOrMany::as_slice);
    if sockets.iter().any(|path| path.is_empty() || path.contains('\0')) {
        return Err("a unix socket path must not be empty or contain a NUL character".into());
    }
    Ok(())
}

fn check_listen(listen: &Listen, checks: &mut Checks) {
    match (&listen.interface, &listen.unix_socket) {
        (None, None) => checks.error("", "a listener needs `interface` or `unix-socket`"),
        (Some(_), Some(_)) => {
            checks.error("unix-socket", "a listener has either `interface` or `unix-socket`, not both")
        }
        (None, Some(_)) => {
            if listen.port.is_some() {
                checks.error("port", "a unix socket has no port");
            }
            match listen.kind {
                ListenKind::Dns => checks.error(
                    "unix-socket",
                    "kresd cannot serve plain DNS (kind `dns`) on a unix socket; choose another kind or an `interface`",
                ),
                ListenKind::Xdp => {
                    checks.error("unix-socket", "XDP (kind `xdp`) works on network interfaces, not on unix sockets")
                }
                _ => {}
            }
        }
        (Some(interfaces), None) => {
            if let Some(port) = listen.port
                && let Some(with_port) = interfaces.as_slice().iter().find(|i| i.port.is_some())
            {
                checks.error(
                    "port",
                    format!("the port is given both as `port` ({port}) and as `@port` in `interface` ({with_port})"),
                );
            }
        }
    }
}

/// Pass 2 of `listen[].port`: the given port, else the kind's default; none for unix sockets.
/// An `@port` in an interface entry overrides it for that entry.
fn resolve_port(port: &Option<Port>, listen: &Listen, _: &mut ResolveCx<'_>) -> Result<MaybePort, String> {
    if listen.unix_socket.is_some() {
        return Ok(None);
    }
    Ok(Some(port.unwrap_or_else(|| listen.kind.default_port())))
}

/// Pass 2 of `listen[].kind`: the QUIC-era kinds need Knot Resolver 6.
fn resolve_kind(kind: &ListenKind, _: &Listen, cx: &mut ResolveCx<'_>) -> Result<ListenKind, String> {
    let feature = match kind {
        ListenKind::Doq => "DNS over QUIC (kind `doq`)",
        ListenKind::Doh2Insecure => "DNS over HTTP/2 without TLS (kind `doh2-insecure`)",
        _ => return Ok(*kind),
    };
    super::target::needs_6(cx, feature).map(|()| *kind)
}

/// Pass 2 of `quic`: kept as is; before Knot Resolver 6, settings that differ from the defaults
/// are noted as ignored.
fn resolve_quic(quic: &Quic, _: &Network, cx: &mut ResolveCx<'_>) -> Result<Quic, String> {
    if let Some(installed) = super::target::before_6(cx)
        && *quic != Quic::default()
    {
        cx.note(format!("ignored: {installed}, which has no DNS over QUIC"));
    }
    Ok(quic.clone())
}

/// Pass 2 of `tls.watchdog`: `auto` is whether file watching is available (on Linux).
fn resolve_watchdog(watchdog: &Auto<bool>, tls: &Tls, cx: &mut ResolveCx<'_>) -> Result<bool, String> {
    let available = cfg!(target_os = "linux");
    match watchdog {
        Auto::Auto => Ok(available),
        Auto::Value(true) if !available => Err("watching certificate files is not available on this system".into()),
        Auto::Value(true) => {
            if tls.cert_file.is_none() {
                cx.note("there is nothing to watch: no `cert-file` is given");
            }
            Ok(true)
        }
        Auto::Value(false) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema_core::FakeSystem;
    use schema_core::Version;

    fn load(text: &str) -> Result<Network, String> {
        schema_core::load::<Network>(text, Some("t.yaml")).map_err(|r| r.to_string())
    }

    fn resolve_with(network: &Network, system: &FakeSystem) -> Result<(NetworkResolved, Vec<String>), String> {
        schema_core::resolve_document(network, system, Default::default())
            .map(|(resolved, notes)| {
                (resolved, notes.notes().map(|n| format!("{}: {}", n.pointer, n.message)).collect())
            })
            .map_err(|r| r.to_string())
    }

    fn resolve(network: &Network) -> Result<(NetworkResolved, Vec<String>), String> {
        resolve_with(network, &FakeSystem::default())
    }

    #[test]
    fn default_is_the_reference_default() {
        let mut expected = json!({
            "do-ipv4": true,
            "do-ipv6": true,
            "out-interface-v4": null,
            "out-interface-v6": null,
            "tcp-pipeline": 100,
            "edns-tcp-keepalive": true,
            "edns-buffer-size": {"upstream": "1232B", "downstream": "1232B"},
            "address-renumbering": null,
            "tls": {
                "watchdog": false,
                "cert-file": null,
                "key-file": null,
                "sticket-secret": null,
                "sticket-secret-file": null,
                "padding": true
            },
            "proxy-protocol": {"enable": false, "allow": null},
            "quic": {"max-conns": 1024, "max-streams": 1024, "require-retry": false},
            "listen": [
                {"interface": ["127.0.0.1"], "unix-socket": null, "port": 53, "kind": "dns", "freebind": false},
                {"interface": ["::1"], "unix-socket": null, "port": 53, "kind": "dns", "freebind": true}
            ]
        });
        // The reference's section default shows `watchdog` already resolved (false on the
        // machine it was generated on); the field's own default there is `auto`, as here.
        expected["tls"]["watchdog"] = json!("auto");
        assert_eq!(Network::default().to_json(), expected);
    }

    #[test]
    fn default_resolves_like_knot_resolver_6() {
        let (network, notes) = resolve(&Network::default()).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(network.tls.watchdog, cfg!(target_os = "linux"));
        assert_eq!(network.listen.len(), 2);
        assert!(network.listen.iter().all(|l| l.port == Some(Port(53)) && l.kind == ListenKind::Dns));
    }

    #[test]
    fn realistic_snippet_maps_and_resolves() {
        let text = "\
do-ipv6: false
out-interface-v4: 192.0.2.10
tcp-pipeline: 200
edns-buffer-size:
  upstream: 1K
  downstream: 1232B
address-renumbering:
  - source: 10.10.0.0/16
    destination: 192.0.2.0
  - source: fd00::/64
    destination: 2001:db8::/64
  - source: 2001:db8::/32
    destination: '::1!'
tls:
  cert-file: /etc/knot-resolver/server.crt
  key-file: /etc/knot-resolver/server.key
  sticket-secret: 0123456789abcdef0123456789abcdef
  padding: 128
proxy-protocol:
  enable: true
  allow: [172.16.0.1, 10.0.0.0/8]
listen:
  - interface: [eth0, 192.0.2.1]
  - interface: 192.0.2.1
    kind: dot
  - interface: [192.0.2.1@8443, 192.0.2.2]
    kind: doh2
  - unix-socket: /run/knot-resolver/doh.sock
    kind: doh2
";
        let raw = load(text).unwrap();
        assert_eq!(raw.tls.padding, TlsPadding::Block(PaddingBlock(128)));
        assert_eq!(raw.edns_buffer_size.upstream, Size(1024));
        let renumbering = raw.address_renumbering.as_ref().unwrap();
        assert!(matches!(renumbering[0].destination, RenumberingDestination::Address(_)));
        assert!(matches!(renumbering[1].destination, RenumberingDestination::Network(_)));
        assert_eq!(renumbering[2].destination, RenumberingDestination::Exact(IpAddrExact("::1".parse().unwrap())));
        let (network, notes) = resolve(&raw).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let ports: Vec<_> = network.listen.iter().map(|l| l.port).collect();
        assert_eq!(ports, vec![Some(Port(53)), Some(Port(853)), Some(Port(443)), None]);
        // Round trip: the document form maps back to the same value.
        let again: Network = schema_core::load(&raw.to_json().to_string(), Some("t.json")).unwrap();
        assert_eq!(again, raw);
    }

    #[test]
    fn listener_rules() {
        let cases = [
            ("listen:\n  - kind: dot\n", "/listen/0: a listener needs `interface` or `unix-socket` (at t.yaml:2:5)"),
            (
                "listen:\n  - interface: 127.0.0.1\n    unix-socket: /run/a.sock\n    kind: dot\n",
                "/listen/0/unix-socket: a listener has either `interface` or `unix-socket`, not both (at t.yaml:3:18)",
            ),
            (
                "listen:\n  - unix-socket: /run/a.sock\n    kind: doh2\n    port: 443\n",
                "/listen/0/port: a unix socket has no port (at t.yaml:4:11)",
            ),
            (
                "listen:\n  - interface: [127.0.0.1, ::1@5353]\n    port: 53\n",
                "/listen/0/port: the port is given both as `port` (53) and as `@port` in `interface` (::1@5353) (at t.yaml:3:11)",
            ),
            (
                "listen:\n  - unix-socket: /run/dns.sock\n",
                "/listen/0/unix-socket: kresd cannot serve plain DNS (kind `dns`) on a unix socket; choose another kind or an `interface` (at t.yaml:2:18)",
            ),
            (
                "listen:\n  - unix-socket: /run/dns.sock\n    kind: xdp\n",
                "/listen/0/unix-socket: XDP (kind `xdp`) works on network interfaces, not on unix sockets (at t.yaml:2:18)",
            ),
            ("listen:\n  - interface: []\n", "/listen/0/interface: "),
            (
                "listen:\n  - unix-socket: ''\n    kind: dot\n",
                "/listen/0/unix-socket: a unix socket path must not be empty or contain a NUL character (at t.yaml:2:18)",
            ),
        ];
        for (text, expected) in cases {
            let report = load(text).unwrap_err();
            assert!(report.starts_with(expected), "{text}\n{report}");
        }
    }

    #[test]
    fn tls_rules() {
        assert_eq!(
            load("tls:\n  cert-file: /etc/c.pem\n").unwrap_err(),
            "/tls/cert-file: a certificate needs its private key: `key-file` is missing (at t.yaml:2:14)"
        );
        assert_eq!(
            load("tls:\n  key-file: /etc/k.pem\n").unwrap_err(),
            "/tls/key-file: a private key needs its certificate: `cert-file` is missing (at t.yaml:2:13)"
        );
        assert_eq!(
            load("tls:\n  sticket-secret: 0123456789abcdef0123456789abcdef\n  sticket-secret-file: /etc/s\n")
                .unwrap_err(),
            "/tls/sticket-secret-file: give the session ticket secret either inline (`sticket-secret`) or in a file (`sticket-secret-file`), not both (at t.yaml:3:24)"
        );
        assert!(load("tls:\n  sticket-secret: short\n").unwrap_err().starts_with("/tls/sticket-secret: "));
        assert_eq!(
            load("tls:\n  padding: 513\n").unwrap_err(),
            "/tls/padding: 513 is more than the largest padding block, 512 bytes (at t.yaml:2:12)"
        );
        assert_eq!(load("tls:\n  padding: false\n").unwrap().tls.padding, TlsPadding::Enabled(false));
    }

    #[test]
    fn other_pass_one_rules() {
        assert_eq!(
            load("out-interface-v4: ::1\n").unwrap_err(),
            "/out-interface-v4: ::1 is an IPv6 address; out-interface-v4 takes an IPv4 address (at t.yaml:1:19)"
        );
        assert_eq!(
            load("out-interface-v6: 192.0.2.1\n").unwrap_err(),
            "/out-interface-v6: 192.0.2.1 is an IPv4 address; out-interface-v6 takes an IPv6 address (at t.yaml:1:19)"
        );
        assert_eq!(
            load("address-renumbering:\n  - source: 10.0.0.0/8\n    destination: 2001:db8::1\n").unwrap_err(),
            "/address-renumbering/0/destination: the destination must be of the same address family (IPv4 or IPv6) as the source (at t.yaml:3:18)"
        );
        assert_eq!(
            load("address-renumbering:\n  - source: 10.0.0.0/8\n    destination: '::1!'\n").unwrap_err(),
            "/address-renumbering/0/destination: the destination must be of the same address family (IPv4 or IPv6) as the source (at t.yaml:3:18)"
        );
        assert_eq!(
            load("address-renumbering:\n  - source: 10.0.0.0/8\n    destination: 192.0.2.1!!\n").unwrap_err(),
            "/address-renumbering/0/destination: \"192.0.2.1!!\" is not an IP address (at t.yaml:3:18)"
        );
        // Only renumbering has a use for the '!'.
        assert!(load("proxy-protocol:\n  allow: ['::1!']\n").unwrap_err().starts_with("/proxy-protocol/allow/0: "));
        assert!(load("edns-buffer-size:\n  upstream: 256B\n").unwrap_err().starts_with("/edns-buffer-size/upstream: "));
        assert!(
            load("edns-buffer-size:\n  downstream: 64K\n").unwrap_err().starts_with("/edns-buffer-size/downstream: ")
        );
        assert!(load("quic:\n  max-conns: 0\n").unwrap_err().starts_with("/quic/max-conns: "));
    }

    #[test]
    fn json_schema_is_strict() {
        let schema = schema_core::json_schema::schema_for::<Network>(None);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["$defs"]["Listen"]["additionalProperties"], false);
        assert_eq!(schema["$defs"]["PaddingBlock"], json!(null));
        let kinds = &schema["$defs"]["ListenKind"]["enum"];
        assert_eq!(kinds, &json!(["dns", "xdp", "dot", "doh-legacy", "doh2", "doh2-insecure", "doq"]));
        let docs = schema_core::docs::markdown(&schema, "Network");
        assert!(docs.contains("## `/listen`"), "{docs}");
        assert!(docs.contains("### `/tls/cert-file`"), "{docs}");
    }

    #[test]
    fn quic_kinds_are_rejected_before_knot_resolver_6() {
        let raw = load(
            "listen:\n  - interface: 127.0.0.1\n    kind: doq\n  - interface: 127.0.0.1\n    kind: doh2-insecure\n",
        )
        .unwrap();
        assert_eq!(
            resolve(&raw).unwrap_err(),
            "/listen/0/kind: DNS over QUIC (kind `doq`) needs Knot Resolver 6; the installed kresd is 5.6.0\n\
             /listen/1/kind: DNS over HTTP/2 without TLS (kind `doh2-insecure`) needs Knot Resolver 6; the installed kresd is 5.6.0"
        );
        let kr6 = FakeSystem { version: Some(Version::new(6, 0, 8)), ..Default::default() };
        let (network, _) = resolve_with(&raw, &kr6).unwrap();
        assert_eq!(network.listen[0].port, Some(Port(853)));
        assert_eq!(network.listen[1].port, Some(Port(53)));
    }

    #[test]
    fn quic_settings_are_noted_as_ignored_before_knot_resolver_6() {
        let raw = load("quic:\n  max-conns: 10\n").unwrap();
        let (_, notes) = resolve(&raw).unwrap();
        assert_eq!(notes, vec!["/quic: ignored: the installed kresd is 5.6.0, which has no DNS over QUIC".to_owned()]);
        let kr6 = FakeSystem { version: Some(Version::new(6, 0, 8)), ..Default::default() };
        assert!(resolve_with(&raw, &kr6).unwrap().1.is_empty());
    }

    #[test]
    fn tls_watchdog() {
        let raw = load("tls:\n  watchdog: true\n").unwrap();
        let (network, notes) = resolve(&raw).unwrap();
        assert!(network.tls.watchdog);
        assert_eq!(notes, vec!["/tls/watchdog: there is nothing to watch: no `cert-file` is given".to_owned()]);
        let raw = load("tls:\n  watchdog: false\n").unwrap();
        assert!(!resolve(&raw).unwrap().0.tls.watchdog);
    }
}
