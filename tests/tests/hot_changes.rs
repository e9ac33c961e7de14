//! Hot changes against real kresd 5.6: a kresd started from config A gets `plan(A, B).hot_lua`
//! over its control socket, and must then behave like a kresd started from B (the oracle,
//! started next to it): same answers, same values read back over the control socket.

use kres_manager::config::Config;
use kres_manager::kresd::render::{self, WorkerContext};
use kres_manager::reconcile::plan::{Impact, Plan, plan};
use kres_tests::kresd::{self, Answer, Kresd, OFFLINE, REFUSE_THE_REST, TempDir, certificate, free_port, kdig};

/// `{port}` and `{tls-port}` of a config, filled in.
fn fill(yaml: &str, ports: (u16, u16)) -> String {
    yaml.replace("{port}", &ports.0.to_string()).replace("{tls-port}", &ports.1.to_string())
}

/// A kresd started from `yaml` (with fresh ports), the config it runs and its ports.
fn start(yaml: &str) -> (Kresd, Config, (u16, u16)) {
    let ports = (free_port(), free_port());
    let validated = kresd::validate(&fill(yaml, ports));
    let dir = TempDir::new("hot");
    let worker = WorkerContext { id: 0, control_socket: dir.0.join("control") };
    let lua = render::render_worker(kres_tests::kresd::dialect(), &validated.config, &worker)
        .unwrap_or_else(|e| panic!("{e}"));
    let kresd = Kresd::start_lua(&lua, ports.0, dir).unwrap_or_else(|e| panic!("{e}"));
    (kresd, validated.config, ports)
}

/// Runs the hot part of a plan on a running kresd: every chunk must succeed (empty reply).
fn apply(kresd: &Kresd, plan: &Plan) {
    assert_eq!(plan.impact(), Some(Impact::Hot), "not a hot plan: {plan:#?}");
    assert!(!plan.hot_lua.is_empty(), "{plan:#?}");
    for chunk in &plan.hot_lua {
        let reply = kresd.control(chunk);
        assert_eq!(reply, "", "chunk failed:\n{chunk}\n{}", kresd.output());
    }
}

/// A kresd started from `a`, changed hot to `b` (whose changes must be exactly `pointers`), and
/// a kresd started from `b`.
fn hot_change(a: &str, b: &str, pointers: &[&str]) -> (Kresd, Config, Kresd) {
    let (running, config_a, ports) = start(a);
    let config_b = kresd::validate(&fill(b, ports)).config;
    let plan = plan(kres_tests::kresd::dialect(), &config_a, &config_b);
    let changed: Vec<&str> = plan.changes.iter().map(|c| c.pointer.as_str()).collect();
    assert_eq!(changed, pointers, "{plan:#?}");
    apply(&running, &plan);
    let (fresh, _, _) = start(b);
    (running, config_b, fresh)
}

/// The two kresds give the same value for each Lua expression.
fn same_values(running: &Kresd, fresh: &Kresd, expressions: &[&str]) {
    for expression in expressions {
        assert_eq!(running.control(expression), fresh.control(expression), "{expression}");
    }
}

/// An answer with its records in a fixed order (kresd may shuffle a record set).
fn sorted(mut answer: Answer) -> Answer {
    answer.records.sort();
    answer
}

/// The two kresds answer each question alike.
fn same_answers(running: &Kresd, fresh: &Kresd, names: &[&str], types: &[&str]) {
    for name in names {
        for rtype in types {
            let (got, want) = (sorted(running.query(name, rtype)), sorted(fresh.query(name, rtype)));
            assert_eq!(got, want, "{name} {rtype}");
        }
    }
}

/// A config listening on `{port}`, offline, with `options` (extra lines of that section) and
/// `body`; names without a local answer are refused.
fn offline(options: &str, body: &str) -> String {
    format!(
        "dnssec:\n  enable: false\noptions:\n  priming: false\n{options}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n{body}{REFUSE_THE_REST}"
    )
}

#[test]
fn logging_level_target_and_groups() {
    let a = offline("", "logging:\n  level: notice\n  target: stdout\n  groups: [cache, manager]\n");
    let b = offline("", "logging:\n  level: debug\n  target: stderr\n  groups: [io, tls_cl, kresd]\n");
    let (running, _, fresh) = hot_change(&a, &b, &["/logging/groups", "/logging/level", "/logging/target"]);
    same_values(&running, &fresh, &["log_level()", "log_target()", "log_groups()"]);
    assert_eq!(running.control("log_level()"), "'debug'");
    // log_groups replaces the set: `cache` is gone, the manager's `kresd` group never reaches kresd.
    assert_eq!(running.control("log_groups()").split_whitespace().collect::<String>(), "{'io','tls_cl',}");
    // And on: no groups at all (only a manager group), logs to syslog.
    let (running, _, fresh) = hot_change(
        &b,
        &a.replace("[cache, manager]", "[manager]").replace("stdout", "syslog"),
        &["/logging/groups", "/logging/level", "/logging/target"],
    );
    same_values(&running, &fresh, &["log_level()", "log_target()", "log_groups()"]);
    assert_eq!(running.control("log_target()"), "'syslog'");
}

#[test]
fn cache_ttls_and_server_timeout() {
    let a = offline("", "");
    let b = offline("", "cache:\n  ttl-min: 1m\n  ttl-max: 2h\n  ns-timeout: 1500ms\n");
    let (running, _, fresh) = hot_change(&a, &b, &["/cache/ns-timeout", "/cache/ttl-max", "/cache/ttl-min"]);
    same_values(&running, &fresh, &["cache.min_ttl()", "cache.max_ttl()", "cache.ns_tout()"]);
    assert_eq!(running.control("cache.max_ttl()"), "7200");
}

#[test]
fn option_flags_and_glue_checking() {
    let a = offline("", "");
    let b = offline(
        "  minimize: false\n  query-loopback: true\n  reorder-rrset: false\n  query-case-randomization: false\n  glue-checking: strict\n",
        "",
    );
    let (running, _, fresh) = hot_change(
        &a,
        &b,
        &[
            "/options/glue-checking",
            "/options/minimize",
            "/options/query-case-randomization",
            "/options/query-loopback",
            "/options/reorder-rrset",
        ],
    );
    let flags = ["NO_MINIMIZE", "ALLOW_LOCAL", "REORDER_RR", "NO_0X20", "STRICT", "PERMISSIVE"];
    let expressions: Vec<String> = flags.iter().map(|f| format!("option('{f}')")).collect();
    let mut expressions: Vec<&str> = expressions.iter().map(String::as_str).collect();
    expressions.push("mode()");
    same_values(&running, &fresh, &expressions);
    assert_eq!(running.control("mode()"), "'strict'");
    // And back to the defaults.
    let (running, _, fresh) = hot_change(
        &b,
        &a,
        &[
            "/options/glue-checking",
            "/options/minimize",
            "/options/query-case-randomization",
            "/options/query-loopback",
            "/options/reorder-rrset",
        ],
    );
    same_values(&running, &fresh, &expressions);
}

#[test]
fn nsid_and_hostname() {
    let a =
        offline("", "nsid: resolver-1\nhostname: one.example\nlocal-data:\n  addresses:\n    a.example: 192.0.2.1\n");
    let b =
        offline("", "nsid: resolver-2\nhostname: two.example\nlocal-data:\n  addresses:\n    a.example: 192.0.2.1\n");
    let (running, _, fresh) = hot_change(&a, &b, &["/hostname", "/nsid"]);
    same_values(&running, &fresh, &["nsid.name()", "hostname()"]);
    let nsid = |kresd: &Kresd| {
        let out = kdig(kresd.port, "a.example", "A", &["+nsid"]);
        out.lines().find(|l| l.contains("NSID:")).unwrap_or_else(|| panic!("no NSID in {out}")).trim().to_owned()
    };
    assert_eq!(nsid(&running), nsid(&fresh));
    assert!(nsid(&running).contains("\"resolver-2\""), "{}", nsid(&running));
}

const LOCAL_A: &str = "\
local-data:
  addresses:
    a.example: 192.0.2.1
    b.example: [192.0.2.2, 2001:db8::2]
  records: |
    c.example. 60 TXT \"old\"
  rules:
    - name: [sub.example]
      subtree: nxdomain
";

const LOCAL_B: &str = "\
local-data:
  addresses:
    a.example: 192.0.2.9
    d.example: [192.0.2.4, 2001:db8::4]
    x.sub.example: 192.0.2.5
  records: |
    c.example. 60 TXT \"new\"
    e.example. 60 MX 10 mail.example.
  rules:
    - name: [sub.example]
      subtree: nxdomain
";

const NAMES: &[&str] = &[
    "a.example",
    "b.example",
    "c.example",
    "d.example",
    "e.example",
    "x.sub.example",
    "y.sub.example",
    "f.example",
    "hosts.example",
];
const TYPES: &[&str] = &["A", "AAAA", "TXT", "MX"];

#[test]
fn local_data_addresses_and_records_are_replaced_in_place() {
    let (running, _, fresh) = hot_change(
        &offline("", LOCAL_A),
        &offline("", LOCAL_B),
        &[
            "/local-data/addresses/a.example",
            "/local-data/addresses/b.example",
            "/local-data/addresses/d.example",
            "/local-data/addresses/x.sub.example",
            "/local-data/records",
        ],
    );
    same_answers(&running, &fresh, NAMES, TYPES);
    // Old names are gone, new ones answer, and the rule kept its place ahead of the subtree
    // rule: x.sub.example is answered, not NXDOMAIN.
    assert_eq!(running.query("b.example", "A").rcode, "REFUSED");
    assert_eq!(running.query("a.example", "A").data(), ["192.0.2.9"]);
    assert_eq!(running.query("x.sub.example", "A").data(), ["192.0.2.5"]);
    assert_eq!(running.query("y.sub.example", "A").rcode, "NXDOMAIN");
    assert_eq!(running.control("#policy.rules"), fresh.control("#policy.rules"));
    assert_eq!(running.control("policy.rules[1].id"), "0");

    // A second change on the same worker (the rule is found again), now with a hosts file.
    let dir = TempDir::new("hot-hosts");
    let hosts = dir.0.join("hosts");
    std::fs::write(&hosts, "192.0.2.30 hosts.example\n2001:db8::30 hosts.example a.example\n").unwrap();
    let local_c = format!(
        "local-data:\n  addresses:\n    f.example: 192.0.2.6\n  addresses-files: [{}]\n  rules:\n    - name: [sub.example]\n      subtree: nxdomain\n",
        hosts.display()
    );
    let config_b = kresd::validate(&fill(&offline("", LOCAL_B), (running.port, 0))).config;
    let config_c = kresd::validate(&fill(&offline("", &local_c), (running.port, 0))).config;
    let plan = plan(kres_tests::kresd::dialect(), &config_b, &config_c);
    apply(&running, &plan);
    let (fresh, _, _) = start(&offline("", &local_c));
    same_answers(&running, &fresh, NAMES, TYPES);
    assert_eq!(running.query("hosts.example", "A").data(), ["192.0.2.30"]);
    assert_eq!(running.query("c.example", "TXT").rcode, "REFUSED");
}

#[test]
fn local_data_ttl_and_nodata() {
    let a = offline("", "local-data:\n  addresses:\n    a.example: 192.0.2.1\n");
    let b = offline("", "local-data:\n  ttl: 1m\n  nodata: false\n  addresses:\n    a.example: 192.0.2.2\n");
    let (running, _, fresh) =
        hot_change(&a, &b, &["/local-data/addresses/a.example", "/local-data/nodata", "/local-data/ttl"]);
    same_answers(&running, &fresh, &["a.example", "b.example"], &["A", "AAAA"]);
    let answer = running.query("a.example", "A");
    assert!(answer.records[0].split_whitespace().nth(1) == Some("60"), "{answer:?}");
    // nodata off: the other types are not answered locally (here: refused by the final rule).
    assert_eq!(running.query("a.example", "AAAA").rcode, "REFUSED");
}

#[test]
fn the_local_data_chunk_refuses_a_rule_it_did_not_make() {
    // The operator's Lua replaced the first rule: the chunk must fail and change nothing.
    let lua = "lua:\n  script: |\n    policy.rules[1].cb = function(req, qry) return nil end\n    policy.add(policy.all(policy.REFUSE))\n";
    let body = |address: &str| {
        format!(
            "dnssec:\n  enable: false\noptions:\n  priming: false\nnetwork:\n  listen:\n    - interface: 127.0.0.1@{{port}}\nlocal-data:\n  addresses:\n    a.example: {address}\n{lua}"
        )
    };
    let (running, config_a, ports) = start(&body("192.0.2.1"));
    let config_b = kresd::validate(&fill(&body("192.0.2.2"), ports)).config;
    let plan = plan(kres_tests::kresd::dialect(), &config_a, &config_b);
    assert_eq!(plan.hot_lua.len(), 1, "{plan:#?}");
    let rules = running.control("#policy.rules");
    let reply = running.control(&plan.hot_lua[0]);
    assert!(reply.contains("the first policy rule is not the local-data rule"), "{reply}");
    assert_eq!(running.control("#policy.rules"), rules);
    // policy.add is the real one again.
    assert_eq!(running.control("policy.add(policy.all(policy.PASS)).id > 0"), "true");
    assert_eq!(running.query("a.example", "A").rcode, "REFUSED");
}

fn tls_config(cert: Option<&(String, String)>) -> String {
    let tls =
        cert.map_or_else(String::new, |(cert, key)| format!("  tls:\n    cert-file: {cert}\n    key-file: {key}\n"));
    format!(
        "{OFFLINE}network:\n  listen:\n    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{{tls-port}}\n      kind: dot\n{tls}local-data:\n  addresses:\n    a.example: 192.0.2.1\n{REFUSE_THE_REST}"
    )
}

/// Whether a DNS over TLS query to `port` verifies with the certificate `cert` for `name`.
fn tls_verifies(port: u16, cert: &str, name: &str) -> bool {
    kdig(port, "a.example", "A", &[&format!("+tls-ca={cert}"), &format!("+tls-hostname={name}")]).contains("192.0.2.1")
}

#[test]
fn tls_certificate_replaced() {
    let dir = TempDir::new("hot-tls");
    let (one, two) = (certificate(&dir.0, "one.test"), certificate(&dir.0, "two.test"));
    let (running, config_a, ports) = start(&tls_config(Some(&one)));
    assert!(tls_verifies(ports.1, &one.0, "one.test"));
    let config_b = kresd::validate(&fill(&tls_config(Some(&two)), ports)).config;
    let plan = plan(kres_tests::kresd::dialect(), &config_a, &config_b);
    let changed: Vec<&str> = plan.changes.iter().map(|c| c.pointer.as_str()).collect();
    assert_eq!(changed, ["/network/tls/cert-file", "/network/tls/key-file"]);
    apply(&running, &plan);
    let (fresh, _, _) = start(&tls_config(Some(&two)));
    same_values(&running, &fresh, &["net.tls()"]);
    assert!(running.control("net.tls()").contains("two.test.crt"));
    assert!(tls_verifies(ports.1, &two.0, "two.test"), "{}", running.output());
    assert!(!tls_verifies(ports.1, &one.0, "one.test"));
}

#[test]
fn tls_certificate_replaces_the_self_signed_one() {
    let dir = TempDir::new("hot-tls-new");
    let two = certificate(&dir.0, "two.test");
    let (running, config_a, ports) = start(&tls_config(None));
    assert!(!tls_verifies(ports.1, &two.0, "two.test"));
    let config_b = kresd::validate(&fill(&tls_config(Some(&two)), ports)).config;
    apply(&running, &plan(kres_tests::kresd::dialect(), &config_a, &config_b));
    assert!(tls_verifies(ports.1, &two.0, "two.test"), "{}", running.output());
    let (fresh, _, _) = start(&tls_config(Some(&two)));
    same_values(&running, &fresh, &["net.tls()"]);
}

#[test]
fn every_hot_change_at_once() {
    let a = offline("", "nsid: one\nlogging:\n  level: info\nlocal-data:\n  addresses:\n    a.example: 192.0.2.1\n");
    let b = offline(
        "  minimize: false\n  glue-checking: permissive\n",
        "nsid: two\nhostname: two.example\nworkers: 2\nlogging:\n  level: crit\n  groups: [dnssec]\ncache:\n  ttl-min: 10s\n  garbage-collector:\n    threshold: 70\nmonitoring:\n  metrics: always\nlocal-data:\n  addresses:\n    b.example: 192.0.2.2\n",
    );
    let (running, config_a, ports) = start(&a);
    let config_b = kresd::validate(&fill(&b, ports)).config;
    let plan = plan(kres_tests::kresd::dialect(), &config_a, &config_b);
    assert!(!plan.rolling() && plan.cache_gc && plan.workers == (1, 2), "{plan:#?}");
    apply(&running, &plan);
    let (fresh, _, _) = start(&b);
    same_values(
        &running,
        &fresh,
        &[
            "nsid.name()",
            "hostname()",
            "log_level()",
            "log_groups()",
            "cache.min_ttl()",
            "option('NO_MINIMIZE')",
            "mode()",
        ],
    );
    same_answers(&running, &fresh, &["a.example", "b.example"], &["A", "AAAA"]);
}
