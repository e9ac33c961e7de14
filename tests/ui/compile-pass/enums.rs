// A string enum (unit variants, kebab-case by default, one renamed, `rename_all` on another
// enum) and a union enum (a string constant beside members wrapping one type each).

use schema_core::{AddrPort, Schema, load};

/// Transport of a listener.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plain DNS.
    Dns,
    /// DNS over TLS.
    Dot,
    /// DNS over HTTPS, legacy endpoint.
    DohLegacy,
    /// Named explicitly.
    #[schema(rename = "doh2")]
    DohTwo,
}

/// Record types.
#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
#[schema(rename_all = "UPPERCASE")]
enum RecordType {
    A,
    Aaaa,
    Txt,
}

/// An upstream: `system`, an address, or a number of retries (for the sake of the test).
#[derive(Schema, Debug, Clone, PartialEq)]
enum Upstream {
    System,
    Address(AddrPort),
    Count(u16),
}

#[derive(Schema, Debug, PartialEq)]
struct Listener {
    transport: Transport,
    #[schema(default)]
    types: Vec<RecordType>,
    upstreams: Vec<Upstream>,
}

fn main() {
    assert_eq!(Transport::NAMES, ["dns", "dot", "doh-legacy", "doh2"]);
    assert_eq!(RecordType::NAMES, ["A", "AAAA", "TXT"]);

    let text = "transport: doh-legacy\ntypes: [AAAA, TXT]\nupstreams: [system, 127.0.0.1@53, 5]\n";
    let listener: Listener = load(text, Some("l.yaml")).unwrap();
    assert_eq!(listener.transport, Transport::DohLegacy);
    assert_eq!(listener.types, [RecordType::Aaaa, RecordType::Txt]);
    assert_eq!(
        listener.upstreams,
        [Upstream::System, Upstream::Address(AddrPort::parse("127.0.0.1@53").unwrap()), Upstream::Count(5)]
    );

    let transport: Transport = load("doh2", Some("t.yaml")).unwrap();
    assert_eq!(transport, Transport::DohTwo);

    let report = load::<Transport>("doh", Some("t.yaml")).unwrap_err().to_string();
    assert!(report.contains("doh"), "{report}");
    let report = load::<Upstream>("[1]", Some("u.yaml")).unwrap_err().to_string();
    assert!(report.contains("expected \"system\" or "), "{report}");
}
