//! The real `kresctl` against the real service (`kres-manager -c` with supervisord and kresd 5.6):
//! the commands an operator types, their output and exit status. Knot Resolver 6's own kresctl
//! (6.5.0) too, as an operator who comes from it would use it.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use kres_tests::knotd::Knotd;
use kres_tests::service::Service;

const MANAGER: &str = env!("CARGO_BIN_EXE_kres-manager");
const KRESCTL: &str = env!("CARGO_BIN_EXE_kresctl");
/// Knot Resolver 6.5.0's kresctl, as `scripts/install-kresd6.sh` installs it (override with
/// `$KRES_KR6_KRESCTL`).
const KR6_KRESCTL: &str = "/opt/kr6/bin/kr6-kresctl";

/// Runs kresctl with the service's config file (so it finds the API the way an operator's
/// kresctl does: from the `management` section).
fn kresctl(service: &Service, args: &[&str]) -> Output {
    std::process::Command::new(KRESCTL).arg("-c").arg(service.config_path()).args(args).output().expect("kresctl runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn an_operator_drives_the_service_with_kresctl() {
    let mut service = Service::start(Path::new(MANAGER), &kres_tests::service::config(2, ""));
    let workers = service.workers();

    let status = kresctl(&service, &["status"]);
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("kresd0") && text(&status).contains("running"), "{}", text(&status));

    let get = kresctl(&service, &["config", "get", "-p", "/workers"]);
    assert!(get.status.success(), "{}", text(&get));
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "2");

    // A hot change: applied without restarting a worker, the new answer served.
    let set = kresctl(&service, &["config", "set", "-p", "/local-data/addresses/a.example", "192.0.2.77"]);
    assert!(set.status.success(), "{}", text(&set));
    assert!(text(&set).contains("hot"), "the plan is shown: {}", text(&set));
    assert_eq!(
        kres_tests::kresd::query(service.port, "a.example", "A").map(|a| a.data()),
        Some(vec!["192.0.2.77".into()])
    );
    assert_eq!(service.workers(), workers);

    // A dry run shows the plan and changes nothing.
    let plan = kresctl(&service, &["plan", "-p", "/network/edns-buffer-size/downstream", "1400B"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(text(&plan).contains("rolling"), "{}", text(&plan));
    assert_eq!(service.workers(), workers);

    // Refused changes: exit status 1 and a message naming the pointer.
    let invalid = kresctl(&service, &["config", "set", "-p", "/workers", "0"]);
    assert_eq!(invalid.status.code(), Some(1), "{}", text(&invalid));
    assert!(text(&invalid).contains("/workers"), "{}", text(&invalid));
    let restart = kresctl(&service, &["config", "set", "-p", "/rundir", "/elsewhere"]);
    assert_eq!(restart.status.code(), Some(1), "{}", text(&restart));
    assert!(text(&restart).contains("restart"), "{}", text(&restart));

    let pids = kresctl(&service, &["pids", "kresd"]);
    assert!(pids.status.success(), "{}", text(&pids));
    let listed: Vec<u32> =
        String::from_utf8_lossy(&pids.stdout).lines().filter_map(|l| l.trim().parse().ok()).collect();
    let mut expected: Vec<u32> = workers.values().copied().collect();
    let mut listed_sorted = listed.clone();
    listed_sorted.sort();
    expected.sort();
    assert_eq!(listed_sorted, expected);

    let metrics = kresctl(&service, &["metrics", "--prometheus"]);
    assert!(metrics.status.success(), "{}", text(&metrics));
    assert!(text(&metrics).contains("instance=\"kresd1\""), "{}", text(&metrics));

    // The API change survives a reload of the files.
    let reload = kresctl(&service, &["reload"]);
    assert!(reload.status.success(), "{}", text(&reload));
    assert_eq!(
        kres_tests::kresd::query(service.port, "a.example", "A").map(|a| a.data()),
        Some(vec!["192.0.2.77".into()])
    );

    let stop = kresctl(&service, &["stop"]);
    assert!(stop.status.success(), "{}", text(&stop));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while service.try_wait().is_none() {
        assert!(std::time::Instant::now() < deadline, "the service did not stop:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    service.assert_nothing_left(Duration::from_secs(2));

    // Nothing to talk to any more: a message that says what to do.
    let gone = kresctl(&service, &["status"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(text(&gone).contains("is kres-manager running"), "{}", text(&gone));
}

/// Runs Knot Resolver 6's kresctl against the service's API socket (`-s`: 6.5.0 takes a unix
/// socket path there).
fn kr6_kresctl(service: &Service, args: &[&str]) -> Output {
    let kr6 = std::env::var("KRES_KR6_KRESCTL").unwrap_or_else(|_| KR6_KRESCTL.to_owned());
    assert!(
        Path::new(&kr6).exists(),
        "{kr6} is missing: Knot Resolver 6's kresctl is installed by `bash scripts/install-kresd6.sh`"
    );
    std::process::Command::new(&kr6)
        .arg("-s")
        .arg(service.rundir().join("api.sock"))
        .args(args)
        .output()
        .expect("Knot Resolver 6's kresctl runs")
}

/// The addresses the service answers for `name`/`rtype` (none when it does not answer in time).
fn answer(service: &Service, name: &str, rtype: &str) -> Vec<String> {
    kres_tests::kresd::query(service.port, name, rtype).map(|a| a.data()).unwrap_or_default()
}

#[test]
fn knot_resolver_6s_kresctl_clears_the_cache_by_exact_name_and_type() {
    let knotd = Knotd::start(&[(
        "corp.example.",
        "$TTL 3600\n@ SOA ns hostmaster 1 3600 600 86400 3600\n@ NS ns\nns A 192.0.2.53\n\
         www A 198.51.100.80\nwww AAAA 2001:db8::80\nmail AAAA 2001:db8::25\n",
    )])
    .unwrap_or_else(|e| panic!("{e}"));
    let forward = format!(
        "forward:\n  - subtree: corp.example\n    servers: [{}]\n    options:\n      authoritative: true\n",
        knotd.address()
    );
    let service = Service::start(Path::new(MANAGER), &kres_tests::service::config(2, &forward));
    // Into the shared cache, then the upstream goes silent: from here on only the cache answers.
    assert_eq!(answer(&service, "www.corp.example", "AAAA"), ["2001:db8::80"], "{}", knotd.output());
    assert_eq!(answer(&service, "www.corp.example", "A"), ["198.51.100.80"]);
    assert_eq!(answer(&service, "mail.corp.example", "AAAA"), ["2001:db8::25"]);
    knotd.pause();
    assert_eq!(answer(&service, "www.corp.example", "AAAA"), ["2001:db8::80"], "answered from the cache");
    // The entries of the shared cache as a worker sees them (the API clears through kresd0): its
    // read snapshot renewed first, as the end of each request does.
    let count = |worker: &str| -> u64 {
        let socket = service.rundir().join("control").join(worker);
        let lua = "(function() kres.context().cache:commit(); return cache.count() end)()";
        let text = kres_tests::kresd::control(&socket, lua).expect("control socket");
        text.trim().parse().unwrap_or_else(|_| panic!("cache.count() of {worker}: {text}"))
    };
    let before = count("kresd1");

    // What its client sends: `{"exact-name": true, "name": ..., "rr-type": "AAAA", "chunk-size": 100}`.
    let run = kr6_kresctl(&service, &["cache", "clear", "--exact-name", "--rr-type", "AAAA", "www.corp.example."]);
    assert!(run.status.success(), "{}\n{}", text(&run), service.log());
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "count: 1", "{}", text(&run));
    // Gone for every worker at once, not only for the one that cleared it.
    assert_eq!(count("kresd1"), before - 1, "the other worker still sees the record");
    assert_eq!(
        answer(&service, "www.corp.example", "AAAA"),
        Vec::<String>::new(),
        "cleared, and the upstream is silent"
    );
    assert_eq!(answer(&service, "www.corp.example", "A"), ["198.51.100.80"], "another type of the name stays");
    assert_eq!(answer(&service, "mail.corp.example", "AAAA"), ["2001:db8::25"], "another name stays");

    // Its refusal of a type without --exact-name is its own (nothing reaches the API).
    let refused = kr6_kresctl(&service, &["cache", "clear", "--rr-type", "A", "www.corp.example."]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert_eq!(answer(&service, "www.corp.example", "A"), ["198.51.100.80"]);

    // A subtree, with its default chunk, printed as JSON.
    let run = kr6_kresctl(&service, &["cache", "clear", "--json", "corp.example."]);
    assert!(run.status.success(), "{}", text(&run));
    let cleared: serde_json::Value =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&run)));
    assert!(cleared["count"].as_u64().is_some_and(|count| count >= 2), "{cleared}");
    assert_eq!(answer(&service, "www.corp.example", "A"), Vec::<String>::new(), "the subtree is cleared");
    assert_eq!(answer(&service, "mail.corp.example", "AAAA"), Vec::<String>::new(), "the subtree is cleared");

    // A chunk that would have no effect is refused by our API, and its client says so.
    let run = kr6_kresctl(&service, &["cache", "clear", "--exact-name", "--chunk-size", "5", "www.corp.example."]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(text(&run).contains("422") && text(&run).contains("only to a subtree"), "{}", text(&run));
    knotd.resume();
}

#[test]
fn kresctl_debug_attaches_gdb_to_real_workers_and_lets_them_go() {
    let service = Service::start(Path::new(MANAGER), &kres_tests::service::config(2, ""));
    let workers = service.workers();
    // One worker, by name: a backtrace, then gdb detaches (-batch).
    let run = kresctl(&service, &["debug", "kresd1", "--", "-batch", "-ex", "info inferiors", "-ex", "bt"]);
    let output = text(&run);
    assert!(run.status.success(), "{output}");
    assert!(output.contains(&format!("process {}", workers["kresd1"])), "attached to kresd1: {output}");
    assert!(output.lines().any(|l| l.starts_with("#0 ")), "a backtrace: {output}");
    // Every worker, each an inferior of one gdb.
    let run = kresctl(&service, &["debug", "--", "-batch", "-ex", "info inferiors"]);
    let output = text(&run);
    assert!(run.status.success(), "{output}");
    for (name, pid) in &workers {
        assert!(output.contains(&format!("process {pid}")), "{name} ({pid}) attached: {output}");
    }
    assert!(output.contains("Attached to 2 processes"), "{output}");
    // Let go: the same workers, answering.
    assert_eq!(service.workers(), workers, "no worker was restarted:\n{}", service.log());
    assert_eq!(answer(&service, "a.example", "A"), ["192.0.2.1"]);
}
