//! The basics (nsid, hostname), options and cache sections rendered for kresd 5.6 and run by a
//! real kresd: the Lua is accepted, and DNS answers or the control socket show each setting in
//! effect.

use kres_tests::kresd::{ANSWER_ONLY, Kresd, TempDir, config, kdig, render, section};

const ALL_OPTIONS_FLIPPED: &str = "\
options:
  glue-checking: strict
  minimize: false
  query-loopback: true
  reorder-rrset: false
  query-case-randomization: false
  priming: false
  rebinding-protection: true
  refuse-no-rd: false
  time-jump-detection: false
  violators-workarounds: true
  serve-stale: true
";

#[test]
fn snapshot_basics_and_options() {
    let lua = render("nsid: resolver-1\nhostname: dns1.example\n");
    insta::assert_snapshot!("basics_options_default", section(&lua, "-- basics", "-- cache"));
    let lua = render(&format!("nsid: \"a\\\"b\"\n{ALL_OPTIONS_FLIPPED}"));
    insta::assert_snapshot!("basics_options_flipped", section(&lua, "-- basics", "-- cache"));
}

#[test]
fn snapshot_cache() {
    let lua = render("");
    insta::assert_snapshot!("cache_default", section(&lua, "-- cache", "-- dnssec"));
    let lua = render(
        "cache:\n  storage: /var/cache/kres\n  size-max: 2G\n  ttl-min: 1m\n  ttl-max: 2h\n  ns-timeout: 500ms\n  prefill:\n    - origin: .\n      url: https://example.net/root.zone\n      refresh-interval: 12h\n      ca-file: /etc/ssl/ca.pem\n  prefetch:\n    expiring: true\n    prediction:\n      enable: true\n      window: 30m\n      period: 48\n",
    );
    insta::assert_snapshot!("cache_full", section(&lua, "-- cache", "-- dnssec"));
    let lua = render("cache:\n  prefetch:\n    expiring: true\n");
    insta::assert_snapshot!("cache_expiring_only", section(&lua, "-- cache", "-- dnssec"));
}

#[test]
fn nsid_is_returned_and_hostname_set() {
    let kresd = Kresd::start(&config(&format!("nsid: resolver-7\nhostname: dns7.example\n{ANSWER_ONLY}")))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = kdig(kresd.port, "answer.example", "A", &["+nsid"]);
    assert!(out.contains("NSID: 7265736F6C7665722D37 \"resolver-7\""), "{out}");
    assert_eq!(kresd.control("hostname()"), "'dns7.example'");
}

#[test]
fn default_options_are_kresd_defaults_and_refuse_no_rd() {
    let kresd = Kresd::start(&config(ANSWER_ONLY)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.control("mode()"), "'normal'");
    for (option, value) in
        [("NO_MINIMIZE", "false"), ("ALLOW_LOCAL", "false"), ("REORDER_RR", "true"), ("NO_0X20", "false")]
    {
        assert_eq!(kresd.control(&format!("option('{option}')")), value, "{option}");
    }
    let modules = kresd.control("modules.list()");
    for module in ["refuse_nord", "detect_time_jump"] {
        assert!(modules.contains(&format!("'{module}'")), "{module} not loaded: {modules}");
    }
    for module in ["rebinding", "workarounds", "serve_stale", "priming", "nsid"] {
        assert!(!modules.contains(&format!("'{module}'")), "{module} loaded: {modules}");
    }
    // refuse-no-rd (on by default): a query without RD is refused, with RD it is answered.
    assert!(kdig(kresd.port, "answer.example", "A", &["+nord"]).contains("status: REFUSED"));
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
}

#[test]
fn every_option_switched_takes_effect() {
    let kresd = Kresd::start(&format!(
        "dnssec:\n  enable: false\nnetwork:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n{ALL_OPTIONS_FLIPPED}{ANSWER_ONLY}"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.control("mode()"), "'strict'");
    for (option, value) in
        [("NO_MINIMIZE", "true"), ("ALLOW_LOCAL", "true"), ("REORDER_RR", "false"), ("NO_0X20", "true")]
    {
        assert_eq!(kresd.control(&format!("option('{option}')")), value, "{option}");
    }
    let modules = kresd.control("modules.list()");
    for module in ["rebinding", "workarounds", "serve_stale"] {
        assert!(modules.contains(&format!("'{module}'")), "{module} not loaded: {modules}");
    }
    for module in ["refuse_nord", "detect_time_jump", "priming"] {
        assert!(!modules.contains(&format!("'{module}'")), "{module} loaded: {modules}");
    }
    // refuse-no-rd off: a query without RD is answered.
    let out = kdig(kresd.port, "answer.example", "A", &["+nord"]);
    assert!(out.contains("status: NOERROR") && out.contains("192.0.2.7"), "{out}");
}

#[test]
fn cache_settings_take_effect() {
    let storage = TempDir::new("cache-storage");
    let kresd = Kresd::start(&config(&format!(
        "cache:\n  storage: {}\n  size-max: 10M\n  ttl-min: 1m\n  ttl-max: 2h\n  ns-timeout: 500ms\n  prefetch:\n    expiring: true\n    prediction:\n      enable: true\n      window: 30m\n      period: 48\n{ANSWER_ONLY}",
        storage.0.display()
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(kresd.control("cache.current_size"), "10485760");
    assert_eq!(kresd.control("cache.current_storage"), format!("'lmdb://{}'", storage.0.display()));
    assert!(storage.0.join("data.mdb").exists(), "no LMDB database in {}", storage.0.display());
    assert_eq!(kresd.control("cache.min_ttl()"), "60");
    assert_eq!(kresd.control("cache.max_ttl()"), "7200");
    assert_eq!(kresd.control("cache.ns_tout()"), "500");
    assert!(kresd.control("modules.list()").contains("'predict'"));
    assert_eq!(kresd.control("predict.window"), "30");
    assert_eq!(kresd.control("predict.period"), "48");
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
}

#[test]
fn prefill_and_expiring_prefetch_load() {
    let storage = TempDir::new("cache-prefill");
    // The zone URL is a closed loopback port: the download fails locally, nothing leaves the host.
    let kresd = Kresd::start(&config(&format!(
        "cache:\n  storage: {}\n  prefill:\n    - origin: .\n      url: https://127.0.0.1:9/root.zone\n      refresh-interval: 2h\n  prefetch:\n    expiring: true\n{ANSWER_ONLY}",
        storage.0.display()
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    let modules = kresd.control("modules.list()");
    assert!(modules.contains("'prefill'") && modules.contains("'predict'"), "{modules}");
    assert_eq!(kresd.control("predict.period"), "0");
    assert_eq!(kresd.query("answer.example", "A").data(), vec!["192.0.2.7"]);
}
