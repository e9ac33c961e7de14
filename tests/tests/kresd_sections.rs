//! Each config section rendered for kresd 5.6 and checked against a real kresd: the Lua is
//! accepted, and DNS answers show the section doing what the config says.

use kres_tests::kresd::{Kresd, config};

#[test]
fn listens_where_the_config_says() {
    let kresd = Kresd::start(&config("lua:\n  script: policy.add(policy.all(policy.REFUSE))\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("example.com", "A").rcode, "REFUSED");
    assert!(kresd.control_socket().exists(), "no control socket at {}", kresd.control_socket().display());
}

#[test]
fn lua_script_runs_as_written() {
    let script = "lua:\n  script: |\n    policy.add(policy.suffix(policy.ANSWER({ [kres.type.A] = { rdata = kres.str2ip('192.0.2.7'), ttl = 300 } }), { todname('answer.example.') }))\n    policy.add(policy.all(policy.REFUSE))\n";
    let kresd = Kresd::start(&config(script)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
}

#[test]
fn lua_script_file_runs() {
    let dir = kres_tests::kresd::TempDir::new("script-file");
    let file = dir.0.join("extra.lua");
    std::fs::write(
        &file,
        "policy.add(policy.suffix(policy.ANSWER({ [kres.type.A] = { rdata = kres.str2ip('192.0.2.8'), ttl = 300 } }), { todname('file.example.') }))\npolicy.add(policy.all(policy.REFUSE))\n",
    )
    .expect("write");
    let kresd =
        Kresd::start(&config(&format!("lua:\n  script-file: {}\n", file.display()))).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.query("file.example", "A").data(), vec!["192.0.2.8"]);
}

#[test]
fn dnssec_trust_anchors_and_negative_anchors_reach_kresd() {
    // Validation on, with a trust anchor for a private zone; the test removes the root anchor at
    // the end of the config so kresd never tries to refresh it from the network.
    let yaml = "options:\n  priming: false\nnetwork:\n  listen:\n    - interface: 127.0.0.1@{port}\ndnssec:\n  enable: true\n  trust-anchors:\n    - \"example. 3600 IN DS 31589 8 2 F1E53B0DF5C62B1AF6F4F4F94C4BB0D0F4A7D9F6A6A0E1B0DC3C1E0A0A1B2C3D\"\n  negative-trust-anchors: [bad.example]\nlua:\n  script: |\n    trust_anchors.remove('.')\n    policy.add(policy.all(policy.REFUSE))\n";
    let kresd = Kresd::start(yaml).unwrap_or_else(|e| panic!("{e}"));
    let summary = kresd.control("trust_anchors.summary()");
    assert!(summary.contains("example."), "{summary}");
    let insecure = kresd.control("trust_anchors.insecure");
    assert!(insecure.contains("bad.example"), "{insecure}");
    let modules = kresd.control("modules.list()");
    assert!(modules.contains("ta_sentinel") && modules.contains("ta_signal_query"), "{modules}");
}
