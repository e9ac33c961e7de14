use schema_core::{FakeSystem, FileKind};

use super::*;
use Impact::{Hot, RestartRequired, Rolling};

fn config_on(text: &str, system: &FakeSystem) -> Config {
    let document = schema_core::yaml::parse(text, Some("t.yaml")).expect("parses");
    crate::config::validate(&document, system, schema_core::ResolveOptions::default())
        .unwrap_or_else(|r| panic!("{r}\n---\n{text}"))
        .config
}

fn config(text: &str) -> Config {
    config_on(text, &FakeSystem::default())
}

fn plan_of(old: &str, new: &str) -> Plan {
    plan(crate::kresd::Dialect::Kresd5, &config(old), &config(new))
}

fn impacts(plan: &Plan) -> Vec<(&str, Impact)> {
    plan.changes.iter().map(|c| (c.pointer.as_str(), c.impact)).collect()
}

/// A case of the table: two configs, the (pointer, impact) of every change and the hot Lua.
struct Case {
    name: &'static str,
    old: &'static str,
    new: &'static str,
    changes: &'static [(&'static str, Impact)],
    hot_lua: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case { name: "identical", old: "workers: 2\n", new: "workers: 2\n", changes: &[], hot_lua: &[] },
    Case { name: "defaults written out", old: "", new: "logging:\n  level: notice\n", changes: &[], hot_lua: &[] },
    Case {
        name: "sizes by value",
        old: "cache:\n  size-max: 1024K\n  garbage-collector:\n    temp-keys-space: 0M\n",
        new: "cache:\n  size-max: 1M\n  garbage-collector:\n    temp-keys-space: 0K\n",
        changes: &[],
        hot_lua: &[],
    },
    Case {
        name: "durations by value",
        old: "cache:\n  ttl-min: 60s\n  ttl-max: 1d\n  ns-timeout: 1000ms\n",
        new: "cache:\n  ttl-min: 1m\n  ttl-max: 24h\n  ns-timeout: 1s\n",
        changes: &[],
        hot_lua: &[],
    },
    Case {
        name: "order of keys",
        old: "logging:\n  level: info\n  target: stderr\nworkers: 2\n",
        new: "workers: 2\nlogging:\n  target: stderr\n  level: info\n",
        changes: &[],
        hot_lua: &[],
    },
    Case {
        name: "log level",
        old: "",
        new: "logging:\n  level: debug\n",
        changes: &[("/logging/level", Hot)],
        hot_lua: &["do log_level(\"debug\") end"],
    },
    Case {
        name: "log level and a listener",
        old: "",
        new: "logging:\n  level: debug\nnetwork:\n  listen:\n    - interface: 127.0.0.1@5353\n",
        changes: &[("/logging/level", Hot), ("/network/listen", Rolling)],
        hot_lua: &["do log_level(\"debug\") end"],
    },
    Case {
        name: "log groups replaced, manager groups filtered out",
        old: "logging:\n  groups: [cache, manager]\n",
        new: "logging:\n  groups: [io, kresd, tls_cl]\n",
        changes: &[("/logging/groups", Hot)],
        hot_lua: &["do log_groups({\"io\", \"tls_cl\"}) end"],
    },
    Case {
        name: "log groups removed",
        old: "logging:\n  groups: [cache]\n",
        new: "",
        changes: &[("/logging/groups", Hot)],
        hot_lua: &["do log_groups({}) end"],
    },
    Case {
        name: "log target",
        old: "logging:\n  target: stdout\n",
        new: "logging:\n  target: syslog\n",
        changes: &[("/logging/target", Hot)],
        hot_lua: &["do log_target(\"syslog\") end"],
    },
    Case {
        name: "rundir",
        old: "",
        new: "rundir: /run/kres\n",
        changes: &[("/rundir", RestartRequired)],
        hot_lua: &[],
    },
    Case {
        name: "management socket",
        old: "",
        new: "management:\n  unix-socket: /run/kres/api.sock\n",
        changes: &[("/management/unix-socket", RestartRequired)],
        hot_lua: &[],
    },
    Case {
        name: "management moves to TCP",
        old: "",
        new: "management:\n  interface: 127.0.0.1@5000\n",
        changes: &[("/management/interface", RestartRequired), ("/management/unix-socket", RestartRequired)],
        hot_lua: &[],
    },
    Case {
        name: "more workers",
        old: "workers: 2\n",
        new: "workers: 4\n",
        changes: &[("/workers", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "workers auto",
        old: "workers: auto\n",
        new: "workers: 4\n",
        changes: &[], // auto is 4 CPUs on the fake system
        hot_lua: &[],
    },
    Case {
        name: "cache TTLs and server timeout",
        old: "",
        new: "cache:\n  ttl-min: 1m\n  ttl-max: 2h\n  ns-timeout: 1500ms\n",
        changes: &[("/cache/ns-timeout", Hot), ("/cache/ttl-max", Hot), ("/cache/ttl-min", Hot)],
        hot_lua: &["do cache.ns_tout(1500) end", "do cache.max_ttl(7200) end", "do cache.min_ttl(60) end"],
    },
    Case {
        name: "cache GC settings",
        old: "",
        new: "cache:\n  garbage-collector:\n    interval: 2s\n    threshold: 90\n",
        changes: &[("/cache/garbage-collector/interval", Hot), ("/cache/garbage-collector/threshold", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "cache size",
        old: "",
        new: "cache:\n  size-max: 200M\n",
        changes: &[("/cache/size-max", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "cache storage",
        old: "",
        new: "cache:\n  storage: /var/cache/kres\n",
        changes: &[("/cache/storage", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "prefetch",
        old: "",
        new: "cache:\n  prefetch:\n    expiring: true\n",
        changes: &[("/cache/prefetch/expiring", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "TLS certificate and key",
        old: "network:\n  tls:\n    cert-file: /a/cert.pem\n    key-file: /a/key.pem\n",
        new: "network:\n  tls:\n    cert-file: /b/cert.pem\n    key-file: /b/key.pem\n",
        changes: &[("/network/tls/cert-file", Hot), ("/network/tls/key-file", Hot)],
        hot_lua: &["do net.tls(\"/b/cert.pem\", \"/b/key.pem\") end"],
    },
    Case {
        name: "TLS certificate added",
        old: "",
        new: "network:\n  tls:\n    cert-file: /b/cert.pem\n    key-file: /b/key.pem\n",
        changes: &[("/network/tls/cert-file", Hot), ("/network/tls/key-file", Hot)],
        hot_lua: &["do net.tls(\"/b/cert.pem\", \"/b/key.pem\") end"],
    },
    Case {
        name: "TLS certificate removed",
        old: "network:\n  tls:\n    cert-file: /a/cert.pem\n    key-file: /a/key.pem\n",
        new: "",
        changes: &[("/network/tls/cert-file", Rolling), ("/network/tls/key-file", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "TLS padding and session tickets",
        old: "",
        new: "network:\n  tls:\n    padding: false\n    sticket-secret: 0123456789abcdef0123456789abcdef\n",
        changes: &[("/network/tls/padding", Rolling), ("/network/tls/sticket-secret", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "TLS file watching is the manager's",
        old: "network:\n  tls:\n    watchdog: true\n",
        new: "network:\n  tls:\n    watchdog: false\n",
        changes: &[("/network/tls/watchdog", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "local-data addresses: an address changed, a name added",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  addresses:\n    a.example: 192.0.2.2\n    b.example: [192.0.2.3, 2001:db8::3]\n",
        changes: &[("/local-data/addresses/a.example", Hot), ("/local-data/addresses/b.example", Hot)],
        hot_lua: &[], // checked in `local_data_chunk`
    },
    Case {
        name: "local-data records next to addresses",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n  records: |\n    c.example. 60 TXT \"hi\"\n",
        changes: &[("/local-data/records", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "local-data addresses replaced by hosts files",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  addresses-files: [/etc/hosts]\n",
        changes: &[("/local-data/addresses", Hot), ("/local-data/addresses-files", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "local-data addresses appear",
        old: "",
        new: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        changes: &[("/local-data/addresses", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "local-data addresses disappear",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  addresses: {}\n",
        changes: &[("/local-data/addresses/a.example", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "local-data TTL and nodata without rules",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  ttl: 1m\n  nodata: false\n  addresses:\n    a.example: 192.0.2.1\n",
        changes: &[("/local-data/nodata", Hot), ("/local-data/ttl", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "local-data TTL with rules",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n  rules:\n    - name: [b.example]\n      subtree: empty\n",
        new: "local-data:\n  ttl: 1m\n  addresses:\n    a.example: 192.0.2.1\n  rules:\n    - name: [b.example]\n      subtree: empty\n",
        changes: &[("/local-data/ttl", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "local-data TTL without any local data",
        old: "",
        new: "local-data:\n  ttl: 1m\n",
        changes: &[("/local-data/ttl", Hot)], // not rendered: nothing to do
        hot_lua: &[],
    },
    Case {
        name: "local-data rules",
        old: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        new: "local-data:\n  addresses:\n    a.example: 192.0.2.1\n  rules:\n    - name: [b.example]\n      subtree: nxdomain\n",
        changes: &[("/local-data/rules", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "option flags and glue checking",
        old: "",
        new: "options:\n  minimize: false\n  query-loopback: true\n  reorder-rrset: false\n  query-case-randomization: false\n  glue-checking: strict\n",
        changes: &[
            ("/options/glue-checking", Hot),
            ("/options/minimize", Hot),
            ("/options/query-case-randomization", Hot),
            ("/options/query-loopback", Hot),
            ("/options/reorder-rrset", Hot),
        ],
        hot_lua: &[
            "do mode(\"strict\") end",
            "do option(\"NO_MINIMIZE\", true) end",
            "do option(\"NO_0X20\", true) end",
            "do option(\"ALLOW_LOCAL\", true) end",
            "do option(\"REORDER_RR\", false) end",
        ],
    },
    Case {
        name: "options that are modules",
        old: "",
        new: "options:\n  serve-stale: true\n  refuse-no-rd: false\n",
        changes: &[("/options/refuse-no-rd", Rolling), ("/options/serve-stale", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "nsid renamed",
        old: "nsid: one\n",
        new: "nsid: two\n",
        changes: &[("/nsid", Hot)],
        hot_lua: &["do nsid.name(\"two\") end"],
    },
    Case { name: "nsid added", old: "", new: "nsid: two\n", changes: &[("/nsid", Rolling)], hot_lua: &[] },
    Case { name: "nsid removed", old: "nsid: one\n", new: "", changes: &[("/nsid", Rolling)], hot_lua: &[] },
    Case {
        name: "hostname",
        old: "",
        new: "hostname: dns1.example\n",
        changes: &[("/hostname", Hot)],
        hot_lua: &["do hostname(\"dns1.example\") end"],
    },
    Case {
        name: "metrics are the manager's",
        old: "monitoring:\n  metrics: lazy\n",
        new: "monitoring:\n  metrics: always\n",
        changes: &[("/monitoring/metrics", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "disabled Knot Resolver 6 sections",
        old: "",
        new: "rate-limiting:\n  rate-limit: 100\ndefer:\n  log-period: 1s\n",
        changes: &[("/defer/log-period", Hot), ("/rate-limiting/rate-limit", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "a change without effect next to a rolling one",
        old: "",
        new: "monitoring:\n  metrics: always\ndnssec:\n  enable: false\n",
        changes: &[("/dnssec/enable", Rolling), ("/monitoring/metrics", Hot)],
        hot_lua: &[],
    },
    Case {
        name: "lua",
        old: "",
        new: "lua:\n  script: log_info(0, 'hi')\n",
        changes: &[("/lua/script", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "views and forward",
        old: "",
        new: "views:\n  - subnets: [10.0.0.0/8]\n    answer: refused\nforward:\n  - subtree: example.org\n    servers: [192.0.2.53]\n",
        changes: &[("/forward", Rolling), ("/views", Rolling)],
        hot_lua: &[],
    },
    Case {
        name: "hot, rolling and restart-required together",
        old: "",
        new: "rundir: /run/kres\nworkers: 3\nlogging:\n  level: info\ndns64:\n  enable: true\n",
        changes: &[
            ("/dns64/enable", Rolling),
            ("/logging/level", Hot),
            ("/rundir", RestartRequired),
            ("/workers", Hot),
        ],
        hot_lua: &["do log_level(\"info\") end"],
    },
];

#[test]
fn the_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let plan = plan_of(case.old, case.new);
        let got = impacts(&plan);
        if got != case.changes {
            failures.push(format!("{}: changes {got:?}, expected {:?}\n{plan:#?}", case.name, case.changes));
        }
        let is_local_data = plan.hot_lua.iter().any(|c| c.contains("km.local_data"));
        if !is_local_data && plan.hot_lua != case.hot_lua {
            failures.push(format!("{}: hot_lua {:?}, expected {:?}", case.name, plan.hot_lua, case.hot_lua));
        }
        // Invariants of every plan.
        let mut sorted = plan.changes.clone();
        sorted.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(sorted, plan.changes, "{}: not sorted", case.name);
        assert_eq!(plan.is_empty(), case.changes.is_empty(), "{}", case.name);
        assert_eq!(plan.impact(), case.changes.iter().map(|c| c.1).max(), "{}", case.name);
        assert_eq!(plan.rolling(), case.changes.iter().any(|c| c.1 == Rolling), "{}", case.name);
        for chunk in &plan.hot_lua {
            assert!(!chunk.contains('\n') && chunk.starts_with("do ") && chunk.ends_with(" end"), "{chunk}");
        }
        let pointers: BTreeSet<_> = plan.changes.iter().map(|c| c.pointer.as_str()).collect();
        assert_eq!(pointers.len(), plan.changes.len(), "{}: a pointer twice", case.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn actions_say_what_is_done() {
    let plan = plan_of("", "rundir: /run/kres\nlogging:\n  level: debug\ndns64:\n  enable: true\n");
    let actions: Vec<&str> = plan.changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "rolling restart of every worker",
            "log_level(\"debug\") on every worker",
            "needs a service restart: the rundir holds the supervisor's and the workers' sockets and cannot move while they run",
        ]
    );
    assert_eq!(plan.restart_required(), vec![&plan.changes[2]]);
    assert_eq!(plan.impact(), Some(RestartRequired));
    assert!(plan.rolling());
}

#[test]
fn worker_count_changes_start_or_stop_the_difference() {
    let plan = plan_of("workers: 2\n", "workers: 4\n");
    assert_eq!(plan.workers, (2, 4));
    assert_eq!(plan.changes[0].action, "start kresd2, kresd3");
    assert!(plan.hot_lua.is_empty() && !plan.rolling() && !plan.cache_gc);
    let plan = plan_of("workers: 4\n", "workers: 3\n");
    assert_eq!(plan.workers, (4, 3));
    assert_eq!(plan.changes[0].action, "stop kresd3");
    assert_eq!(plan_of("workers: 3\n", "workers: 3\n").workers, (3, 3));
}

#[test]
fn the_cache_gc_is_restarted_for_its_settings_and_for_the_cache_it_works_on() {
    let plan = plan_of("", "cache:\n  garbage-collector:\n    interval: 2s\n");
    assert!(plan.cache_gc && !plan.rolling());
    assert_eq!(plan.changes[0].action, "restart the cache garbage collector with its new settings");
    let plan = plan_of("", "cache:\n  garbage-collector:\n    enable: false\n");
    assert_eq!(plan.changes[0].action, "stop the cache garbage collector");
    let plan = plan_of("cache:\n  garbage-collector:\n    enable: false\n", "");
    assert_eq!(plan.changes[0].action, "start the cache garbage collector");
    assert!(plan_of("", "cache:\n  storage: /var/cache/kres\n").cache_gc);
    assert!(plan_of("", "cache:\n  size-max: 1G\n").cache_gc);
    assert!(!plan_of("", "cache:\n  ttl-min: 1s\n").cache_gc);
}

#[test]
fn no_effect_changes_say_so() {
    let plan = plan_of("", "monitoring:\n  metrics: always\n");
    assert_eq!(plan.changes[0].action, NO_EFFECT);
    assert_eq!(plan.impact(), Some(Hot));
}

#[test]
fn hostname_is_rolling_when_graphite_uses_it() {
    let mut system = FakeSystem::default();
    system.files.insert(crate::config::monitoring::CQUEUES_SOCKET.into(), FileKind::File);
    let graphite = "monitoring:\n  graphite:\n    enable: true\n    host: 127.0.0.1\n";
    let old = config_on(graphite, &system);
    let new = config_on(&format!("hostname: dns1.example\n{graphite}"), &system);
    assert_eq!(impacts(&plan(crate::kresd::Dialect::Kresd5, &old, &new)), [("/hostname", Rolling)]);
}

#[test]
fn local_data_chunk() {
    let plan = plan_of(
        "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        "local-data:\n  ttl: 1m\n  nodata: false\n  addresses:\n    a.example: 192.0.2.2\n    b.example: [192.0.2.3, 2001:db8::3]\n  records: |\n    c.example. 60 TXT \"hi\"\n",
    );
    assert!(!plan.rolling(), "{plan:#?}");
    assert_eq!(plan.hot_lua.len(), 1, "one chunk for every local-data change: {plan:#?}");
    let chunk = &plan.hot_lua[0];
    let call = "pcall(km.local_data, { addresses = {[\"a.example\"] = {\"192.0.2.2\"}, [\"b.example\"] = {\"192.0.2.3\", \"2001:db8::3\"}}, ['addresses-files'] = nil, records = \"c.example. 60 TXT \\034hi\\034\\010\" }, km.seconds(\"1m\"), false)";
    assert!(chunk.contains(call), "{chunk}");
    assert!(chunk.contains("rule.id ~= 0") && chunk.contains("policy.add = add"), "{chunk}");
    for change in &plan.changes {
        assert!(change.action.starts_with("rebuild the answers for local-data"), "{change:?}");
    }
    // The template's defaults: TTL 300s, nodata on.
    let plan = plan_of(
        "local-data:\n  addresses:\n    a.example: 192.0.2.1\n",
        "local-data:\n  addresses:\n    a.example: 192.0.2.2\n",
    );
    assert!(plan.hot_lua[0].contains("km.seconds(\"300s\"), true)"), "{}", plan.hot_lua[0]);
}

#[test]
fn hot_lua_is_escaped_like_the_templates() {
    let plan = plan_of("nsid: one\n", "nsid: \"a\\\"b') os.exit() --\"\n");
    assert_eq!(plan.hot_lua, ["do nsid.name(\"a\\034b') os.exit() --\") end"]);
    let plan = plan_of(
        "network:\n  tls:\n    cert-file: /a/cert.pem\n    key-file: /a/key.pem\n",
        "network:\n  tls:\n    cert-file: \"/b/c\\\"ert\\n.pem\"\n    key-file: /b/key.pem\n",
    );
    assert_eq!(plan.hot_lua, ["do net.tls(\"/b/c\\034ert\\010.pem\", \"/b/key.pem\") end"]);
}

#[test]
fn hot_lua_matches_the_rendered_worker_config() {
    // Each hot statement appears as such in the Lua a fresh worker gets (modulo quotes).
    let new = config(
        "logging:\n  level: info\n  target: stderr\n  groups: [io, manager]\ncache:\n  ttl-min: 1m\n  ttl-max: 2h\n  ns-timeout: 1500ms\nnetwork:\n  tls:\n    cert-file: /b/cert.pem\n    key-file: /b/key.pem\nnsid: x\nhostname: h.example\n",
    );
    let old = config("nsid: y\n");
    let lua = render(crate::kresd::Dialect::Kresd5, &new).expect("renders").replace('\'', "\"");
    let plan = plan(crate::kresd::Dialect::Kresd5, &old, &new);
    assert!(!plan.hot_lua.is_empty());
    for chunk in &plan.hot_lua {
        let statement = chunk.strip_prefix("do ").and_then(|c| c.strip_suffix(" end")).expect("a do block");
        assert!(lua.contains(statement), "{statement} not in:\n{lua}");
    }
}

#[test]
fn pointers_escape_keys() {
    let mut out = Vec::new();
    diff(
        &serde_json::json!({"a/b": 1, "c~d": {"e": [1]}, "same": 2}),
        &serde_json::json!({"a/b": 2, "c~d": {"e": [1, 2]}, "same": 2, "new": null}),
        &mut String::new(),
        &mut out,
    );
    assert_eq!(out, ["/a~1b", "/c~0d/e", "/new"]);
}

#[test]
fn plans_serialize_for_the_api() {
    let plan = plan_of("", "logging:\n  level: debug\nworkers: 2\n");
    assert_eq!(
        serde_json::to_value(&plan).unwrap(),
        serde_json::json!({
            "changes": [
                {"pointer": "/logging/level", "impact": "hot", "action": "log_level(\"debug\") on every worker"},
                {"pointer": "/workers", "impact": "hot", "action": "start kresd1"},
            ],
            "hot_lua": ["do log_level(\"debug\") end"],
            "workers": [1, 2],
            "cache_gc": false,
        })
    );
    assert_eq!(serde_json::to_value(RestartRequired).unwrap(), "restart-required");
}
