//! Property tests of the schema DSL:
//! - round trip: a valid typed value → document (JSON text and YAML text) → mapped value is equal;
//! - robustness: arbitrary text, and arbitrary YAML-shaped text, parsed and mapped gives a value
//!   or an error report, never a panic.

use std::net::IpAddr;

use kres_tests::demo::{Cache, DemoRaw, Forward, Listen, ListenKind, LogLevel, Upstream};
use proptest::prelude::*;
use schema_core::{AddrPort, Auto, DomainName, Duration, IpNet, OneOrMany, Port, Schema, Size};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u16; 8]>().prop_map(IpAddr::from)]
}

fn addr_port() -> impl Strategy<Value = AddrPort> {
    (ip(), prop::option::of(1u16..=65535)).prop_map(|(addr, port)| AddrPort { addr, port: port.map(Port) })
}

fn size() -> impl Strategy<Value = Size> {
    (1u64..=64 * 1024, prop::sample::select(vec![1u64 << 20, 1 << 10]))
        .prop_map(|(n, unit)| Size(n * unit))
        .prop_filter("in 1M..=64G", |s| (1 << 20..=64 << 30).contains(&s.0))
}

fn duration() -> impl Strategy<Value = Duration> {
    (0u64..100_000, prop::sample::select(vec![1u64, 1000, 1_000_000, 60_000_000]))
        .prop_map(|(n, unit)| Duration(n * unit))
}

fn cache() -> impl Strategy<Value = Cache> {
    (size(), duration(), duration()).prop_map(|(size_max, a, b)| Cache {
        size_max,
        ttl_min: a.min(b),
        ttl_max: a.max(b),
    })
}

fn listen() -> impl Strategy<Value = Listen> {
    let interface = prop_oneof![
        addr_port().prop_map(OneOrMany::One),
        prop::collection::vec(addr_port(), 0..3).prop_map(OneOrMany::Many),
    ];
    let kind = prop::sample::select(vec![ListenKind::Dns, ListenKind::Dot, ListenKind::Doh2]);
    (interface, prop::option::of(1u32..=65535), kind).prop_map(|(interface, port, kind)| {
        // The container rule: no `port` when an address carries `@port`.
        let port = if interface.as_slice().iter().any(|a| a.port.is_some()) { None } else { port };
        Listen { interface, port, kind }
    })
}

fn domain() -> impl Strategy<Value = DomainName> {
    "[a-z0-9_]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,3}\\.?"
        .prop_map(|s| DomainName::parse(&s).expect("generated names are valid"))
}

fn forward() -> impl Strategy<Value = Forward> {
    let upstream = prop_oneof![Just(Upstream::System), addr_port().prop_map(Upstream::Address)];
    let net =
        (ip(), any::<u8>()).prop_map(|(addr, p)| IpNet { addr, prefix: p % if addr.is_ipv4() { 33 } else { 129 } });
    (domain(), prop::collection::vec(upstream, 1..4), prop::option::of(prop::collection::vec(net, 0..3)))
        .prop_map(|(subtree, servers, clients)| Forward { subtree, servers, clients })
}

fn demo() -> impl Strategy<Value = DemoRaw> {
    let workers = prop_oneof![Just(Auto::Auto), (0u16..=u16::MAX).prop_map(Auto::Value)];
    let nsid = prop::option::of("[a-z0-9-]{1,64}");
    let level = prop::sample::select(vec![
        LogLevel::Crit,
        LogLevel::Err,
        LogLevel::Warning,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Debug,
    ]);
    (workers, nsid, cache(), prop::collection::vec(listen(), 0..=8), level, prop::collection::vec(forward(), 0..3))
        .prop_map(|(workers, nsid, cache, listen, log_level, forward)| DemoRaw {
            workers,
            nsid,
            cache,
            listen,
            log_level,
            forward,
        })
}

/// Block-style YAML with every string double-quoted (JSON string escapes are valid YAML ones).
fn to_yaml(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value as J;
    let pad = "  ".repeat(indent);
    match value {
        J::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                out.push_str(&format!("{pad}{}:", serde_json::to_string(k).expect("string")));
                match v {
                    J::Object(m) if !m.is_empty() => {
                        out.push('\n');
                        to_yaml(v, indent + 1, out);
                    }
                    J::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        to_yaml(v, indent + 1, out);
                    }
                    _ => {
                        out.push(' ');
                        out.push_str(&serde_json::to_string(v).expect("scalar"));
                        out.push('\n');
                    }
                }
            }
        }
        J::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&format!("{pad}-\n"));
                to_yaml(item, indent + 1, out);
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&serde_json::to_string(other).expect("scalar"));
            out.push('\n');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_through_json_and_yaml(original in demo()) {
        let document = original.to_json();
        let json_text = serde_json::to_string_pretty(&document).expect("serializes");
        let from_json: DemoRaw = schema_core::load(&json_text, Some("rt.json")).map_err(|r| TestCaseError::fail(format!("{r}\n{json_text}")))?;
        prop_assert_eq!(&from_json, &original);

        let mut yaml_text = String::new();
        to_yaml(&document, 0, &mut yaml_text);
        let from_yaml: DemoRaw = schema_core::load(&yaml_text, Some("rt.yaml")).map_err(|r| TestCaseError::fail(format!("{r}\n{yaml_text}")))?;
        prop_assert_eq!(&from_yaml, &original);
    }
}

/// YAML-shaped text: keys of the model, indentation, flow collections, anchors, aliases, merge
/// keys, tags, quotes and garbage, in random order.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "workers",
        "cache",
        "size-max",
        "listen",
        "interface",
        "forward",
        "servers",
        ": ",
        ":",
        "- ",
        "-",
        "\n",
        "\n  ",
        "\n    ",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "<<: ",
        "!!str ",
        "!!int ",
        "!custom ",
        "'",
        "\"",
        "\\",
        "#",
        "---\n",
        "...",
        "|\n  ",
        ">\n  ",
        "auto",
        "100M",
        "127.0.0.1@53",
        "~",
        "null",
        "yes",
        "1e9999",
        "99999999999999999999",
        "0x1F",
        "é",
        "\t",
        "\u{0}",
        "?",
        "%YAML 1.2\n",
        "@",
        "`",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

fn map_anything(text: &str) {
    // Either outcome is fine; a panic fails the test.
    let _ = schema_core::load::<DemoRaw>(text, Some("fuzz.yaml"));
    let _ = schema_core::load::<DemoRaw>(text, Some("fuzz.json"));
    if let Ok(value) = schema_core::yaml::parse(text, None) {
        let _ = schema_core::map_document::<kres_tests::agree::Agree>(&value);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_yamlish_text_never_panics(text in yamlish()) {
        map_anything(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        map_anything(&text);
    }

    #[test]
    fn arbitrary_bytes_as_json_never_panic(bytes in prop::collection::vec(prop::sample::select(b"{}[]:,\"\\u0123456789.eE+-tfn \n".to_vec()), 0..80)) {
        let text = String::from_utf8(bytes).expect("ascii");
        let _ = schema_core::json::parse(&text, None);
    }
}
