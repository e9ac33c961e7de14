//! `views` and `forward` rendered for kresd 5.6 and checked against a real kresd (and a real
//! knotd as the upstream of forwarding): views answer or tag clients by their address, and
//! forwarded subtrees are answered by the configured servers.

use kres_tests::knotd::Knotd;
use kres_tests::kresd::{Kresd, OFFLINE, REFUSE_THE_REST, free_port, query_from};

fn start(body: &str) -> Kresd {
    let yaml = format!("{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n{body}{REFUSE_THE_REST}");
    Kresd::start(&yaml).unwrap_or_else(|e| panic!("{e}"))
}

fn rcode(kresd: &Kresd, name: &str, source: &str, tcp: bool) -> Option<String> {
    query_from(kresd.port, name, "A", Some(source), tcp).map(|a| a.rcode)
}

#[test]
fn views_answer_by_client_address() {
    let kresd = start(
        "\
views:
  - subnets: [127.0.0.0/8]
    answer: allow
  - subnets: [127.0.0.2/32]
    answer: refused
  - subnets: [127.0.0.3/32]
    answer: noanswer
  - subnets: [127.0.0.4/32]
    protocols: [tcp53]
    answer: refused
  - subnets: [127.0.0.5/32]
    dst-subnet: 127.0.0.1/32
    answer: refused
  - subnets: [127.0.0.6/32]
    dst-subnet: 10.0.0.0/8
    answer: refused
local-data:
  addresses:
    foo.example: 192.0.2.1
",
    );
    let ok = Some("NOERROR".to_owned());
    let refused = Some("REFUSED".to_owned());
    // Other clients: answered (the /8 view allows them).
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.1", false), ok);
    assert_eq!(kresd.query("foo.example", "A").data(), vec!["192.0.2.1"]);
    // The longest subnet wins over the /8 written before it.
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.2", false), refused);
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.2", true), refused);
    // noanswer: no reply at all.
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.3", false), None);
    // protocols: only TCP is refused.
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.4", false), ok);
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.4", true), refused);
    // dst-subnet: only queries to a matching address.
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.5", false), refused);
    assert_eq!(rcode(&kresd, "foo.example", "127.0.0.6", false), ok);
}

#[test]
fn tagged_local_data_applies_to_views_with_the_tag() {
    let kresd = start(
        "\
views:
  - subnets: [127.0.0.2/32, 127.0.0.3/32]
    tags: [corp]
  - subnets: [127.0.0.4/32]
    tags: [guest, other]
local-data:
  addresses:
    everyone.example: 192.0.2.1
  rules:
    - name: corp.example
      address: 192.0.2.2
      tags: [corp]
    - name: ads.example
      subtree: nxdomain
      tags: [guest]
",
    );
    for source in ["127.0.0.2", "127.0.0.3"] {
        let answer = query_from(kresd.port, "corp.example", "A", Some(source), false).unwrap();
        assert_eq!(answer.data(), vec!["192.0.2.2"], "from {source}");
        assert_eq!(rcode(&kresd, "x.ads.example", source, false).as_deref(), Some("REFUSED"), "from {source}");
    }
    // Clients without the tag do not get the rule.
    for source in ["127.0.0.1", "127.0.0.4"] {
        assert_eq!(rcode(&kresd, "corp.example", source, false).as_deref(), Some("REFUSED"), "from {source}");
    }
    assert_eq!(rcode(&kresd, "x.ads.example", "127.0.0.4", false).as_deref(), Some("NXDOMAIN"));
    assert_eq!(rcode(&kresd, "x.ads.example", "127.0.0.1", false).as_deref(), Some("REFUSED"));
    // Rules without tags are for everyone, tagged or not.
    for source in ["127.0.0.1", "127.0.0.2", "127.0.0.4"] {
        let answer = query_from(kresd.port, "everyone.example", "A", Some(source), false).unwrap();
        assert_eq!(answer.data(), vec!["192.0.2.1"], "from {source}");
    }
}

const CORP_ZONE: &str = "\
$ORIGIN corp.example.
$TTL 300
@ SOA ns admin 1 3600 900 604800 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
";

const LAB_ZONE: &str = "\
$ORIGIN lab.example.
$TTL 300
@ SOA ns admin 1 3600 900 604800 300
@ NS ns
ns A 127.0.0.1
host A 192.0.2.90
";

/// Asks until an answer with records comes (at most 10 tries of 2 s).
fn answered(kresd: &Kresd, name: &str) -> Vec<String> {
    (0..10)
        .find_map(|_| query_from(kresd.port, name, "A", None, false).filter(|a| !a.records.is_empty()))
        .unwrap_or_else(|| panic!("no answer for {name}:\n{}", kresd.output()))
        .data()
}

#[test]
fn forward_reaches_a_real_upstream() {
    let knotd =
        Knotd::start(&[("corp.example.", CORP_ZONE), ("lab.example.", LAB_ZONE)]).unwrap_or_else(|e| panic!("{e}"));
    // A port where nothing listens, listed first: answers come only if every server is rendered.
    let dead = free_port();
    let kresd = start(&format!(
        "\
forward:
  - subtree: corp.example
    servers: [{upstream}]
    options:
      authoritative: true
      dnssec: false
  - subtree: [lab.example]
    servers:
      - 127.0.0.1@{dead}
      - address: [{upstream}]
",
        upstream = knotd.address()
    ));
    // policy.STUB to the authoritative server.
    assert_eq!(kresd.query("www.corp.example", "A").data(), vec!["192.0.2.80"], "{}", knotd.output());
    assert_eq!(kresd.query("nothing.corp.example", "A").rcode, "NXDOMAIN");
    // policy.FORWARD; the dead server may be tried first: kresd gives up on it and asks the next.
    assert_eq!(answered(&kresd, "host.lab.example"), vec!["192.0.2.90"]);
    // Outside the forwarded subtrees nothing changes.
    assert_eq!(kresd.query("www.other.example", "A").rcode, "REFUSED");
}

#[test]
fn tls_forwarding_is_accepted_by_kresd() {
    // Started only: nothing is asked, so no connection is made.
    let kresd = start(
        "\
forward:
  - subtree: secure.example
    servers:
      - address: [127.0.0.1@8853, 127.0.0.2]
        transport: tls
        hostname: dns.example
      - address: 127.0.0.3@853
        transport: tls
        pin-sha256: d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=
",
    );
    assert!(kresd.lua.contains("TLS_FORWARD"));
}

fn rendered(body: &str, section: &str, next: &str) -> String {
    // The reviewed kresd 5 rendering, whichever kresd the tests run.
    let lua = kres_tests::kresd::render(&format!("{OFFLINE}{body}"));
    let lua = &lua[..lua.find("\n-- listeners").expect("listeners are rendered")];
    let start = lua.find(&format!("-- {section}")).expect("section is rendered");
    let end = lua[start..].find(&format!("\n-- {next}")).map_or(lua.len(), |i| start + i);
    lua[start..end].to_owned()
}

#[test]
fn snapshot_views() {
    insta::assert_snapshot!(
        "views",
        rendered(
            "\
views:
  - subnets: [10.0.0.0/8, 2001:db8::/32]
    tags: [corp]
    options:
      minimize: false
      dns64: false
  - subnets: [0.0.0.0/0]
    dst-subnet: 192.0.2.1/32
    protocols: [dot, doh]
    answer: refused
  - subnets: [192.168.0.0/16]
    answer: noanswer
local-data:
  rules:
    - name: corp.example
      address: 10.0.0.1
      tags: [corp]
",
            "views",
            "local-data"
        )
    );
}

#[test]
fn snapshot_forward() {
    insta::assert_snapshot!(
        "forward",
        rendered(
            "\
forward:
  - subtree: .
    servers:
      - address: [2001:148f:fffe::1, 185.43.135.1]
        transport: tls
        hostname: odvr.nic.cz
      - address: 192.0.2.53@853
        transport: tls
        pin-sha256: d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM=
  - subtree: [internal.example, 10.in-addr.arpa]
    servers: [10.0.0.53@5353, 10.0.0.54]
    options:
      authoritative: true
      dnssec: false
  - subtree: corp.example
    servers: [192.0.2.1, 192.0.2.2@5353]
",
            "forward",
            "lua.script"
        )
    );
}
