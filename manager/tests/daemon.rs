//! The whole service end to end: `kres-manager -c FILE` with real supervisord (from the venv,
//! with our extensions) and real kresd 5.6 workers on loopback. Each test runs its own service in
//! its own rundir and port, and leaves no process behind.

use std::time::{Duration, Instant};

use kres_manager::backend::{ProcessState, Program};
use kres_tests::service::{Load, Service, config, kill, rolling};
use nix::sys::signal::Signal;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

fn start(workers: u32) -> Service {
    Service::start(std::path::Path::new(EXE), &config(workers, ""))
}

fn answer(service: &Service, name: &str) -> Vec<String> {
    kres_tests::kresd::query(service.port, name, "A").map(|a| a.data()).unwrap_or_default()
}

fn control(service: &Service, worker: &str, lua: &str) -> String {
    kres_tests::kresd::control(&service.rundir().join("control").join(worker), lua).expect("control socket")
}

/// Sends SIGHUP and waits for the reload's outcome in the log (the `n`-th reload).
fn reload(service: &Service, n: usize) {
    service.signal(Signal::SIGHUP);
    let outcome = |log: &str| {
        ["reload: generation", "reload: the config files are unchanged", "reload refused", "reload failed"]
            .iter()
            .map(|needle| log.matches(needle).count())
            .sum::<usize>()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while outcome(&service.log()) < n {
        assert!(Instant::now() < deadline, "reload {n} did not finish:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `pid` is gone or a zombie (dead, waiting to be reaped by init).
fn dead(pid: u32) -> bool {
    kres_manager::procfs::get(pid).is_none_or(|p| p.is_zombie())
}

/// How long a test's DNS load may take to send the queries the test asks of it (it sends
/// hundreds a second; a loaded machine is slower).
const LOAD_RAN: Duration = Duration::from_secs(30);

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let began = Instant::now();
    while !condition() {
        assert!(began.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    began.elapsed()
}

#[test]
fn the_service_starts_serves_and_stops_leaving_nothing() {
    let mut service = start(2);
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    let processes = service.processes();
    for role in ["manager", "kresd0", "kresd1", "cache-gc"] {
        assert!(processes.contains_key(role), "{role} missing: {processes:?}\n{}", service.log());
    }
    // The manager sends READY=1 after it logged its `ready: `, which is what the start waited
    // for: supervisord's line about it may come a moment later.
    service
        .wait_log("manager entered RUNNING state, READY=1", 1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let log = service.log();
    assert!(log.contains("kresd0 entered RUNNING state, READY=1"), "{log}");
    // Every line of every process in one stream, prefixed with its name and pid.
    assert!(log.lines().any(|l| l.starts_with("kresd1[")), "{log}");
    let status = service.stop();
    assert!(status.success(), "{status}\n{}", service.log());
    service.assert_nothing_left(Duration::from_secs(1));
}

/// Starts the service with `yaml` and expects the start to be refused (exit status 1 within
/// 10 s, as a refusal is immediate; "nothing was started" said and true): its log.
fn refused_at_start(yaml: &str) -> String {
    let mut service = Service::spawn(std::path::Path::new(EXE), yaml);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = service.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "kres-manager did not exit:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(10));
    };
    let log = service.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("nothing was started"), "{log}");
    service.assert_nothing_left(Duration::from_millis(100));
    log
}

#[test]
fn an_invalid_config_is_refused_with_positions_and_starts_nothing() {
    let log = refused_at_start("rundir: {rundir}\nworkers: 0\nnetwork:\n  listen: 5\n");
    assert!(log.contains("config.yaml:2:10"), "{log}");
    assert!(log.contains("/workers"), "{log}");
    assert!(log.contains("config.yaml:4:11"), "{log}");
    assert!(!log.contains("supervisord"), "{log}");
}

#[test]
fn files_the_services_user_cannot_read_are_refused_at_start() {
    if !nix::unistd::geteuid().is_root() {
        println!("not root: the service runs as the caller, who can read what it wrote (this test needs root)");
        return;
    }
    let certs = kres_tests::kresd::TempDir::new("unreadable-key");
    // openssl writes the key 0600 root: knot-resolver cannot read it.
    let (cert, key) = kres_tests::kresd::certificate(&certs.0, "dot.test");
    let token = certs.0.join("token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let tls = format!("  tls:\n    cert-file: {cert}\n    key-file: {key}\n");
    let management = format!(
        "management:\n  interface: 127.0.0.1@{}\n  tokens:\n    - name: ops\n      file: {}\n",
        kres_tests::kresd::free_port(),
        token.display()
    );
    let yaml = config(1, &management).replace("network:\n", &format!("network:\n{tls}"));
    let log = refused_at_start(&yaml);
    assert!(log.contains(&format!("/network/tls/key-file: {key} is not readable by knot-resolver")), "{log}");
    assert!(
        log.contains(&format!("/management/tokens/0/file: {} is not readable by knot-resolver", token.display())),
        "{log}"
    );
    assert!(!log.contains(&format!("{cert} is not")), "the certificate (0644) is readable: {log}");
    assert!(log.contains("chgrp knot-resolver FILE; chmod 0640"), "{log}");
}

#[test]
fn an_api_socket_the_services_user_cannot_create_or_give_its_group_is_refused_at_start() {
    if !nix::unistd::geteuid().is_root() {
        println!("not root: the service runs as the caller (this test needs root)");
        return;
    }
    let dir = kres_tests::kresd::TempDir::new("root-only");
    let socket = dir.0.join("api.sock");
    let management = format!(
        "management:\n  unix-socket: {}\n  unix-socket-mode: \"0660\"\n  unix-socket-group: root\n",
        socket.display()
    );
    let log = refused_at_start(&config(1, &management));
    let expected = format!(
        "/management/unix-socket: knot-resolver cannot create {}: the directory {}",
        socket.display(),
        dir.0.display()
    );
    assert!(log.contains(&expected), "{log}");
    assert!(log.contains("/management/unix-socket-group: knot-resolver is not a member of the group root"), "{log}");
}

#[test]
fn one_service_per_rundir() {
    let service = start(1);
    let second = std::process::Command::new(kres_tests::service::reachable_by_others(std::path::Path::new(EXE)))
        .arg("-c")
        .arg(service.config_path())
        .output()
        .expect("runs");
    assert_eq!(second.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("another kres-manager service runs with the rundir"), "{stderr}");
    assert!(stderr.contains(&service.pid().to_string()), "names supervisord's pid: {stderr}");
    // The first one is untouched.
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    assert_eq!(service.workers().len(), 1);
}

#[test]
fn a_killed_manager_is_restarted_and_adopts_the_workers_without_restarting_them() {
    let service = start(2);
    let before = service.processes();
    let load = Load::start(service.port, "a.example", 2, Duration::from_millis(2));
    kill(before["manager"], Signal::SIGKILL);
    service
        .wait_log("re-adopting the running workers", 1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    service.wait_log("ready: ", 2, Duration::from_secs(20)).unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    // The load goes on past the new manager's ready, until it has sent what the test asks of it.
    let at_ready = load.sent();
    wait_until(&format!("the load sent 100 queries, some after the ready ({at_ready} by then)"), LOAD_RAN, || {
        load.sent() > at_ready.max(100)
    });
    let (sent, lost) = load.finish();
    let after = service.processes();
    assert_ne!(after["manager"], before["manager"], "a new manager runs");
    for worker in ["kresd0", "kresd1", "cache-gc"] {
        assert_eq!(
            after.get(worker),
            before.get(worker),
            "{worker} kept running: before {before:?}, after {after:?}\n{}",
            service.log()
        );
    }
    let log = service.log();
    assert!(log.contains(&format!("adopted kresd0 (pid {})", before["kresd0"])), "{log}");
    assert!(sent > 100, "the load ran ({sent} queries)");
    assert_eq!(lost, 0, "{lost} of {sent} queries unanswered while the manager restarted");
    println!("manager restart: {sent} queries sent, {lost} lost");
}

#[test]
fn after_supervisord_is_killed_no_kresd_survives_and_the_service_starts_again() {
    let mut service = start(2);
    let before = service.workers();
    service.signal(Signal::SIGKILL);
    let gone = wait_until("every process of the old run gone", Duration::from_secs(1), || {
        kres_manager::daemon::service::processes_mentioning(&service.rundir()).is_empty()
    });
    println!("old run's processes gone {gone:?} after supervisord's SIGKILL");
    service.restart();
    let after = service.workers();
    assert_eq!(after.len(), 2);
    for (worker, pid) in &before {
        assert_ne!(after[worker], *pid);
        assert!(dead(*pid), "old {worker} (pid {pid}) still exists");
    }
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
}

#[test]
fn a_killed_worker_is_replaced_and_ready_within_a_second() {
    let service = start(2);
    let old = service.workers()["kresd0"];
    kill(old, Signal::SIGKILL);
    let took = wait_until("kresd0 running again with a new pid", Duration::from_secs(1), || {
        service
            .supervisor_states()
            .iter()
            .any(|p| p.program == Program::Worker(0) && matches!(p.state, ProcessState::Running { pid } if pid != old))
    });
    println!("kresd0 replaced and READY {took:?} after SIGKILL");
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    service
        .wait_log("kresd0 was restarted by the supervisor", 1, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("the manager noticed: {e}\n{}", service.log()));
}

#[test]
fn sighup_applies_a_hot_change_without_restarting_workers() {
    let service = start(2);
    let before = service.workers();
    assert_eq!(control(&service, "kresd0", "log_level()"), "'notice'");
    service.write_config(&config(2, "logging:\n  level: debug\n").replace("192.0.2.1", "192.0.2.99"));
    reload(&service, 1);
    let log = service.log();
    assert!(log.contains("reload: generation 2 applied"), "{log}");
    assert!(!log.contains("canary READY"), "no canary for a hot change: {log}");
    assert_eq!(service.workers(), before, "no worker restarted");
    for worker in ["kresd0", "kresd1"] {
        assert_eq!(control(&service, worker, "log_level()"), "'debug'", "{worker}");
    }
    for _ in 0..8 {
        // Each query may reach either worker: both serve the new answer.
        assert_eq!(answer(&service, "a.example"), ["192.0.2.99"]);
    }
    // A worker started later gets the same config.
    let lua = std::fs::read_to_string(service.rundir().join("lua/kresd1.lua")).unwrap();
    assert!(lua.contains("log_level(\"debug\")") && lua.contains("192.0.2.99"), "{lua}");
    // The same files again: nothing to do.
    reload(&service, 2);
    assert!(service.log().contains("reload: the config files are unchanged"), "{}", service.log());
}

#[test]
fn a_cold_start_answers_from_the_upstream_and_from_local_data() {
    let knotd = kres_tests::knotd::Knotd::start(&[(
        "corp.example.",
        "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\nwww A 198.51.100.80\n",
    )])
    .unwrap_or_else(|e| panic!("{e}"));
    let forward = format!(
        "forward:\n  - subtree: corp.example\n    servers: [{}]\n    options:\n      authoritative: true\n",
        knotd.address()
    );
    let service = Service::start(std::path::Path::new(EXE), &config(2, &forward));
    assert_eq!(answer(&service, "www.corp.example"), ["198.51.100.80"], "{}", knotd.output());
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    assert_eq!(
        kres_tests::kresd::query(service.port, "elsewhere.example", "A").map(|a| a.rcode),
        Some("REFUSED".into())
    );
}

#[test]
fn a_rolling_change_restarts_every_worker_without_losing_queries() {
    let service = start(2);
    let before = service.workers();
    let load = Load::start(service.port, "a.example", 4, Duration::from_millis(1));
    std::thread::sleep(Duration::from_millis(200));
    service.write_config(&rolling(&config(2, "")));
    reload(&service, 1);
    // The load goes on past the reload, until it has sent what the test asks of it.
    let at_reload = load.sent();
    wait_until(&format!("the load sent 500 queries, some after the reload ({at_reload} by then)"), LOAD_RAN, || {
        load.sent() > at_reload.max(500)
    });
    let (sent, lost) = load.finish();
    let log = service.log();
    assert!(log.contains("reload: generation 2 applied"), "{log}");
    assert!(log.contains("canary READY with the new configuration"), "{log}");
    let after = service.workers();
    for (worker, pid) in &before {
        assert_ne!(after[worker], *pid, "{worker} restarted");
    }
    assert_eq!(control(&service, "kresd0", "(net.bufsize())"), "1400", "{log}");
    assert!(!service.processes().contains_key("canary"), "the canary is gone");
    assert!(sent > 500, "the load ran ({sent} queries)");
    println!("rolling restart of 2 workers: {sent} queries sent, {lost} lost");
    assert_eq!(lost, 0, "{lost} of {sent} queries unanswered during the rolling restart");
}

#[test]
fn a_config_kresd_refuses_is_stopped_by_the_canary_and_nothing_changes() {
    let service = start(2);
    let before = service.workers();
    service.write_config(
        &config(2, "")
            .replace("script: policy.add(policy.all(policy.REFUSE))", "script: error('refused by this test')"),
    );
    reload(&service, 1);
    let log = service.log();
    assert!(
        log.contains("reload failed, the running configuration stays: kresd refused the new configuration"),
        "{log}"
    );
    assert!(log.contains("refused by this test"), "kresd's own output is shown: {log}");
    assert_eq!(service.workers(), before, "no worker was touched");
    assert!(!service.processes().contains_key("canary"));
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
    let state = std::fs::read_to_string(service.rundir().join("state/config.json")).unwrap();
    assert!(state.contains("policy.add(policy.all(policy.REFUSE))"), "the last good config is kept: {state}");
}

#[test]
fn an_invalid_file_on_reload_keeps_the_running_config() {
    let service = start(1);
    let before = service.workers();
    std::fs::write(service.config_path(), "workers: [\n").unwrap();
    reload(&service, 1);
    let log = service.log();
    assert!(log.contains("reload refused, the running configuration stays"), "{log}");
    assert!(log.contains("config.yaml:2:1") || log.contains("config.yaml:1:"), "positions in the report: {log}");
    assert_eq!(service.workers(), before);
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
}

#[test]
fn changing_the_number_of_workers_starts_or_stops_only_the_difference() {
    let service = start(2);
    let before = service.workers();
    service.write_config(&config(4, ""));
    reload(&service, 1);
    let grown = service.workers();
    assert_eq!(grown.len(), 4, "{}", service.log());
    assert!(!service.log().contains("canary READY"), "only the difference is started: {}", service.log());
    assert_eq!(grown["kresd0"], before["kresd0"]);
    assert_eq!(grown["kresd1"], before["kresd1"]);
    service.write_config(&config(1, ""));
    reload(&service, 2);
    let shrunk = service.workers();
    assert_eq!(shrunk.len(), 1, "{}", service.log());
    assert_eq!(shrunk["kresd0"], before["kresd0"]);
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
}

#[test]
fn the_cache_gc_runs_supervised_with_the_configured_parameters() {
    let service = Service::start(
        std::path::Path::new(EXE),
        &config(1, "").replace(
            "  size-max: 10M\n",
            "  size-max: 10M\n  garbage-collector:\n    interval: 2s\n    threshold: 70\n",
        ),
    );
    let gc = service.processes()["cache-gc"];
    let cmdline = std::fs::read_to_string(format!("/proc/{gc}/cmdline")).unwrap().replace('\0', " ");
    assert!(cmdline.contains(&format!("-c {}/cache -d 2000 -u 70", service.rundir().display())), "{cmdline}");
    kill(gc, Signal::SIGKILL);
    wait_until("cache-gc restarted", Duration::from_secs(2), || {
        service.processes().get("cache-gc").is_some_and(|pid| *pid != gc)
    });
}

#[test]
fn a_crash_loop_is_given_up_and_the_other_workers_keep_serving() {
    let service = start(2);
    for round in 0..kres_manager::reconcile::apply::CRASH_LIMIT {
        let mut pid = 0;
        wait_until("kresd1 running", Duration::from_secs(2), || {
            pid = service.workers().get("kresd1").copied().unwrap_or(0);
            pid != 0
        });
        kill(pid, Signal::SIGKILL);
        wait_until("kresd1 respawned", Duration::from_secs(2), || {
            service.workers().get("kresd1").is_some_and(|p| *p != pid)
        });
        service
            .wait_log("kresd1 was restarted by the supervisor", round + 1, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    }
    service
        .wait_log("kresd1: 5 restarts within 60 s: given up", 1, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    wait_until("kresd1 stopped", Duration::from_secs(5), || !service.workers().contains_key("kresd1"));
    assert!(service.workers().contains_key("kresd0"));
    assert_eq!(answer(&service, "a.example"), ["192.0.2.1"]);
}

#[test]
fn a_renewed_certificate_is_reloaded_by_every_worker_without_a_restart() {
    use kres_tests::kresd::{TempDir, certificate, free_port, kdig};
    let certs = TempDir::new("certs");
    let (cert_a, key_a) = certificate(&certs.0, "a.test");
    let (cert_b, key_b) = certificate(&certs.0, "b.test");
    let (cert, key) = (certs.0.join("live.crt"), certs.0.join("live.key"));
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    // The workers reload the files after dropping to their unprivileged user: the key must be
    // readable by it (an operator gives it group read access; a test key may be world-readable).
    for file in [&key_a, &key_b].map(std::path::Path::new).into_iter().chain([key.as_path()]) {
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    }
    let tls_port = free_port();
    let yaml = config(2, "").replace(
        "    - interface: 127.0.0.1@{port}\n",
        &format!(
            "    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{tls_port}\n      kind: dot\n  tls:\n    cert-file: {}\n    key-file: {}\n",
            cert.display(),
            key.display()
        ),
    );
    let service = Service::start(std::path::Path::new(EXE), &yaml);
    let before = service.workers();
    let dot = |ca: &str, name: &str| {
        let flags = ["+tls".to_owned(), format!("+tls-ca={ca}"), format!("+tls-hostname={name}")];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        kdig(tls_port, "a.example", "A", &flags)
    };
    assert!(dot(&cert_a, "a.test").contains("192.0.2.1"), "{}", dot(&cert_a, "a.test"));
    // Renewed the way certbot does it: new files renamed into place.
    for (from, to) in [(&cert_b, &cert), (&key_b, &key)] {
        let temporary = to.with_extension("new");
        std::fs::copy(from, &temporary).unwrap();
        std::fs::rename(&temporary, to).unwrap();
    }
    service
        .wait_log("kresd1 reloaded the TLS certificate", 1, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    for _ in 0..4 {
        // Several queries: each may reach either worker.
        assert!(dot(&cert_b, "b.test").contains("192.0.2.1"), "{}", dot(&cert_b, "b.test"));
        assert!(!dot(&cert_a, "a.test").contains("192.0.2.1"), "the old certificate is gone");
    }
    // Garbage: refused, the workers keep the certificate they have.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    service
        .wait_log("refused the new TLS certificate", 1, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    assert!(dot(&cert_b, "b.test").contains("192.0.2.1"), "{}", dot(&cert_b, "b.test"));
    assert_eq!(service.workers(), before, "no worker restarted");
}

#[test]
fn started_as_root_the_processes_run_unprivileged_and_a_privileged_port_works() {
    if !nix::unistd::geteuid().is_root() {
        println!("not root: nothing to drop (this test needs root)");
        return;
    }
    // A free port below 1024, which only root may bind.
    let port = (600..1000)
        .find(|port| {
            std::net::UdpSocket::bind(("127.0.0.1", *port)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok()
        })
        .expect("a free privileged port");
    let service = Service::start(std::path::Path::new(EXE), &config(2, "").replace("{port}", &port.to_string()));
    assert_eq!(kres_tests::kresd::query(port, "a.example", "A").map(|a| a.data()), Some(vec!["192.0.2.1".into()]));
    let user = nix::unistd::User::from_name("knot-resolver").unwrap().expect("the knot-resolver user exists");
    let owner = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let uid =
            status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap().split_whitespace().nth(1).unwrap().to_owned();
        uid.parse::<u32>().unwrap()
    };
    // The capability sets (permitted, effective, ambient) of a process.
    let capabilities = |pid: u32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        ["CapPrm:", "CapEff:", "CapAmb:"]
            .map(|key| status.lines().find_map(|l| l.strip_prefix(key)).unwrap().trim().to_owned())
    };
    let processes = service.processes();
    // Every process of the tree runs as that user, supervisord included (the start switched to
    // it before exec), so none can get root back: the bounding set is the one capability and
    // no_new_privs is set.
    let tree = [("supervisord", service.pid()), ("manager", processes["manager"])];
    let tree = tree.into_iter().chain(["kresd0", "kresd1", "cache-gc"].map(|role| (role, processes[role])));
    for (role, pid) in tree {
        assert_eq!(owner(pid), user.uid.as_raw(), "{role} runs as knot-resolver: {processes:?}");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.contains("\nCapBnd:\t0000000000000400\n"), "{role}: {status}");
        assert!(status.contains("\nNoNewPrivs:\t1\n"), "{role}: {status}");
    }
    // And as `ps` shows it.
    let pids: Vec<String> =
        [service.pid()].into_iter().chain(processes.values().copied()).map(|p| p.to_string()).collect();
    let ps = std::process::Command::new("ps").args(["-o", "user:32=,comm=", "-p", &pids.join(",")]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert_eq!(ps.lines().count(), pids.len(), "{ps}");
    assert!(ps.lines().all(|line| line.trim_start().starts_with("knot-resolver ")), "{ps}");
    // What listens keeps exactly CAP_NET_BIND_SERVICE (bit 10) as an ambient capability: kresd
    // (started as that user, so its Lua never ran as root; one that started as root and dropped
    // with user() would have none), the manager (its API may be on a privileged port) and
    // supervisord; the cache GC has none.
    for (role, pid) in [("supervisord", service.pid()), ("manager", processes["manager"])]
        .into_iter()
        .chain(["kresd0", "kresd1"].map(|role| (role, processes[role])))
    {
        assert_eq!(capabilities(pid), ["0000000000000400"; 3].map(String::from), "{role}");
    }
    assert_eq!(capabilities(processes["cache-gc"]), ["0000000000000000"; 3].map(String::from));
    // The user owns the service's files; the Lua, the state and the notify socket are its alone.
    let rundir = service.rundir();
    let expected = [("", 0o755), ("lua", 0o700), ("control", 0o750), ("state", 0o700), ("notify", 0o700)];
    assert_owned(&rundir, user.uid.as_raw(), &expected);
    // A rundir an earlier version left to root (its Lua, state, config and lock) is taken over at
    // the next start, without following a link planted in it.
    use std::os::unix::fs::MetadataExt;
    let mut service = service;
    service.stop();
    for entry in ["", "lua", "lua/kresd0.lua", "state", "state/config.json", "supervisord.conf", "kres-manager.lock"] {
        std::os::unix::fs::lchown(rundir.join(entry), Some(0), Some(0)).unwrap();
    }
    let outside = service.rundir().with_file_name("outside");
    std::fs::write(&outside, "root's").unwrap();
    std::os::unix::fs::symlink(&outside, rundir.join("control/planted")).unwrap();
    service.restart();
    assert_owned(&rundir, user.uid.as_raw(), &expected);
    for entry in ["lua/kresd0.lua", "state/config.json", "supervisord.conf", "kres-manager.lock"] {
        assert_eq!(std::fs::symlink_metadata(rundir.join(entry)).unwrap().uid(), user.uid.as_raw(), "{entry}");
    }
    assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0, "the planted link's target stays root's");
    // A hot and a rolling change still work as that user (control sockets, Lua files, the cache).
    service.write_config(&rolling(&config(2, "")).replace("{port}", &port.to_string()));
    reload(&service, 1);
    // Generation 2 was the restart's.
    assert!(service.log().contains("reload: generation 3 applied"), "{}", service.log());
    for role in ["kresd0", "kresd1"] {
        assert_eq!(owner(service.processes()[role]), user.uid.as_raw(), "{role} after the rolling restart");
    }
    assert_eq!(kres_tests::kresd::query(port, "a.example", "A").map(|a| a.data()), Some(vec!["192.0.2.1".into()]));
    // `--user root` takes everything back, again without following a link.
    service.stop();
    std::os::unix::fs::symlink(&outside, rundir.join("lua/planted")).unwrap();
    std::os::unix::fs::lchown(&outside, Some(user.uid.as_raw()), None).unwrap();
    service.set_args(&["--user", "root"]);
    service.restart();
    assert_owned(&rundir, 0, &expected);
    assert_eq!(std::fs::metadata(&outside).unwrap().uid(), user.uid.as_raw(), "the planted link's target is untouched");
    assert_eq!(owner(service.processes()["kresd0"]), 0);
    assert_eq!(kres_tests::kresd::query(port, "a.example", "A").map(|a| a.data()), Some(vec!["192.0.2.1".into()]));
}

/// Asserts that `uid` owns `dir`'s `entries` (`""`: `dir` itself) and their modes.
fn assert_owned(dir: &std::path::Path, uid: u32, entries: &[(&str, u32)]) {
    use std::os::unix::fs::MetadataExt;
    for (entry, mode) in entries {
        let path = dir.join(entry);
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, *mode), "{}", path.display());
    }
}
