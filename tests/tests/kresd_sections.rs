//! Each config section rendered for the tests' kresd (5.6, or 6.x with `KRES_KRESD`) and checked
//! against it: the Lua is accepted, and DNS answers show the section doing what the config says.

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

/// Rate limiting, defer and a DNS over QUIC listener: served by kresd 6, and refused for kresd 5.6
/// naming each feature and the version (whichever kresd the tests run).
#[test]
fn knot_resolver_6_features_serve_on_kresd_6_and_are_refused_for_5() {
    let doq = kres_tests::kresd::free_port();
    let yaml = format!(
        "{}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{doq}\n      kind: doq\n\
         rate-limiting:\n  enable: true\n  rate-limit: 5\n  instant-limit: 5\ndefer:\n  enable: true\n\
         lua:\n  script: policy.add(policy.all(policy.REFUSE))\n",
        kres_tests::kresd::OFFLINE
    );
    if let Some(text) = kres_tests::kresd::refused_before_6(&yaml) {
        let target = kres_tests::kresd::target();
        let installed = format!("the installed kresd is {}", target.version.expect("known"));
        for feature in ["rate limiting", "defer", "DNS over QUIC (kind `doq`)"] {
            assert!(text.contains(&format!("{feature} needs Knot Resolver 6; {installed}")), "{feature}: {text}");
        }
        return;
    }
    let kresd = Kresd::start(&yaml).unwrap_or_else(|e| panic!("{e}"));
    // Over QUIC: answered (refused by the final rule).
    let quic = kres_tests::kresd::kdig(doq, "example.com", "A", &["+quic"]);
    assert!(quic.contains("QUIC session") && quic.contains("status: REFUSED"), "{quic}\n{}", kresd.output());
    // 30 queries at once from one address, 5 allowed at once: of those over the limit, every
    // second is answered truncated (slip 2) and the rest dropped.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.set_read_timeout(Some(std::time::Duration::from_millis(500))).expect("timeout");
    for _ in 0..30 {
        socket.send_to(&kres_tests::service::dns_query("example.com"), ("127.0.0.1", kresd.port)).expect("send");
    }
    let (mut answered, mut truncated) = (0, 0);
    let mut buffer = [0u8; 512];
    while let Ok(n) = socket.recv(&mut buffer) {
        answered += 1;
        if n >= 12 && buffer[2] & 0x02 != 0 {
            truncated += 1;
        }
    }
    assert!(truncated > 0 && answered < 30, "{answered} answered, {truncated} truncated\n{}", kresd.output());
    // TCP is not limited (a client sent there by TC gets its answer).
    let tcp = kres_tests::kresd::kdig(kresd.port, "example.com", "A", &["+tcp"]);
    assert!(tcp.contains("status: REFUSED"), "{tcp}");
}
