//! `local-data` rendered for kresd 5.6 and checked against a real kresd: addresses, hosts files,
//! records, subtree rules, RPZ and `nodata` answer as the config says.

use kres_tests::kresd::{Kresd, OFFLINE, REFUSE_THE_REST, TempDir, config};

fn start(body: &str) -> Kresd {
    Kresd::start(&format!("{}{REFUSE_THE_REST}", config(body))).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn addresses_hosts_files_and_records_answer() {
    let dir = TempDir::new("local-data-files");
    let hosts = dir.0.join("hosts");
    std::fs::write(
        &hosts,
        "# a hosts file\n192.0.2.20 filehost.example alias.example\n2001:db8::20 filehost.example\n",
    )
    .unwrap();
    let kresd = start(&format!(
        "\
local-data:
  ttl: 1h
  addresses:
    printer.example: 192.0.2.10
    nas.example: [192.0.2.11, 2001:db8::11]
  addresses-files: [{}]
  records: |
    www.example. 600 IN A 192.0.2.30
    www.example. IN A 192.0.2.31
    txt.example. 60 IN TXT \"hello world\"
",
        hosts.display()
    ));
    assert_eq!(kresd.query("printer.example", "A").data(), vec!["192.0.2.10"]);
    let nas = kresd.query("nas.example", "AAAA");
    assert_eq!(nas.data(), vec!["2001:db8::11"]);
    assert!(nas.records[0].contains("\t3600\t") || nas.records[0].contains(" 3600 "), "{nas:?}");
    assert_eq!(kresd.query("NAS.Example", "A").data(), vec!["192.0.2.11"]);
    assert_eq!(kresd.query("filehost.example", "A").data(), vec!["192.0.2.20"]);
    assert_eq!(kresd.query("alias.example", "A").data(), vec!["192.0.2.20"]);
    assert_eq!(kresd.query("filehost.example", "AAAA").data(), vec!["2001:db8::20"]);
    let mut www = kresd.query("www.example", "A").data();
    www.sort();
    assert_eq!(www, vec!["192.0.2.30", "192.0.2.31"]);
    let txt = kresd.query("txt.example", "TXT");
    assert_eq!(txt.rcode, "NOERROR");
    assert!(txt.records[0].contains("\"hello world\""), "{txt:?}");
    // nodata (the default): the other types of a local name are answered empty, not resolved.
    let other = kresd.query("printer.example", "MX");
    assert_eq!((other.rcode.as_str(), other.records.len()), ("NOERROR", 0));
    // A name without local data is not answered locally (here: refused by the final rule).
    assert_eq!(kresd.query("unknown.example", "A").rcode, "REFUSED");
}

#[test]
fn nodata_false_resolves_the_other_types() {
    let kresd = start(
        "\
local-data:
  nodata: false
  addresses:
    printer.example: 192.0.2.10
  rules:
    - name: strict.example
      address: 192.0.2.12
      nodata: true
",
    );
    assert_eq!(kresd.query("printer.example", "A").data(), vec!["192.0.2.10"]);
    // Not answered locally: it goes on to the (refusing) rest of the rules.
    assert_eq!(kresd.query("printer.example", "MX").rcode, "REFUSED");
    // The rule's own nodata wins.
    let mx = kresd.query("strict.example", "MX");
    assert_eq!((mx.rcode.as_str(), mx.records.len()), ("NOERROR", 0));
}

#[test]
fn subtree_rules_behave() {
    let kresd = start(
        "\
local-data:
  rules:
    - name: [ads.example, tracker.example]
      subtree: nxdomain
    - name: empty.example
      subtree: empty
    - name: intranet.example
      subtree: redirect
      address: [10.0.0.1, fd00::1]
      ttl: 2m
    - name: one.example
      address: 192.0.2.1
    - records: 'rec.example. 300 IN A 192.0.2.99'
",
    );
    assert_eq!(kresd.query("ads.example", "A").rcode, "NXDOMAIN");
    assert_eq!(kresd.query("deep.in.tracker.example", "AAAA").rcode, "NXDOMAIN");
    let empty = kresd.query("x.empty.example", "A");
    assert_eq!((empty.rcode.as_str(), empty.records.len()), ("NOERROR", 0));
    let redirected = kresd.query("any.thing.intranet.example", "A");
    assert_eq!(redirected.data(), vec!["10.0.0.1"]);
    assert!(redirected.records[0].contains("120"), "{redirected:?}");
    assert_eq!(kresd.query("intranet.example", "AAAA").data(), vec!["fd00::1"]);
    assert_eq!(kresd.query("one.example", "A").data(), vec!["192.0.2.1"]);
    // `address` without `subtree` is for the name only.
    assert_eq!(kresd.query("sub.one.example", "A").rcode, "REFUSED");
    assert_eq!(kresd.query("rec.example", "A").data(), vec!["192.0.2.99"]);
    // Neighbours are untouched.
    assert_eq!(kresd.query("notads.example", "A").rcode, "REFUSED");
}

#[test]
fn rpz_blocks_names() {
    let dir = TempDir::new("local-data-rpz");
    let rpz = dir.0.join("block.rpz");
    std::fs::write(
        &rpz,
        "\
$ORIGIN rpz.local.
$TTL 300
@ SOA localhost. nobody.invalid. 1 3600 900 604800 300
blocked.example CNAME .
*.wild.example CNAME .
fake.example A 192.0.2.66
",
    )
    .unwrap();
    let kresd = start(&format!(
        "local-data:\n  rpz:\n    - file: {}\n      watchdog: false\n      log: [ip, name]\n",
        rpz.display()
    ));
    assert_eq!(kresd.query("blocked.example", "A").rcode, "NXDOMAIN");
    assert_eq!(kresd.query("a.wild.example", "A").rcode, "NXDOMAIN");
    assert_eq!(kresd.query("fake.example", "A").data(), vec!["192.0.2.66"]);
    assert_eq!(kresd.query("fine.example", "A").rcode, "REFUSED");
    let output = kresd.output();
    assert!(output.contains("matched name blocked.example. client 127.0.0.1"), "{output}");
}

fn rendered(body: &str) -> String {
    // The reviewed kresd 5 rendering, whichever kresd the tests run.
    let lua = kres_tests::kresd::render(&format!("{OFFLINE}{body}"));
    let lua = &lua[..lua.find("\n-- listeners").expect("listeners are rendered")];
    let start = lua.find("-- local-data").expect("local-data is rendered");
    let end = lua[start..].find("\n-- forward").map_or(lua.len(), |i| start + i);
    lua[start..end].to_owned()
}

#[test]
fn snapshot_local_data() {
    insta::assert_snapshot!(
        "local_data",
        rendered(
            "\
views:
  - subnets: [10.0.0.0/8]
    tags: [corp]
local-data:
  ttl: 5m
  addresses:
    printer.example: 192.0.2.10
    nas.example: [192.0.2.11, 2001:db8::11]
  addresses-files: [/etc/hosts]
  records: |
    www.example. 600 IN A 192.0.2.30
  rules:
    - name: [ads.example, tracker.example]
      subtree: nxdomain
      tags: [corp]
    - name: intranet.example
      subtree: redirect
      address: 10.0.0.1
      ttl: 1h
      nodata: false
  rpz:
    - file: /etc/kres/block.rpz
      watchdog: false
      log: [name]
"
        )
    );
}
