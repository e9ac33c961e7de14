//! Fault injection end to end: the real service (`kres-manager -c FILE`, supervisord, kresd 5.6
//! workers, a real knotd upstream where one is needed), a UDP DNS load running through every
//! scenario, and one fault per test. Each test prints
//! `FAULT <scenario>: sent N, lost M, recovered in T ms` (collected into the table of
//! `docs/reliability.md`) and checks that the service keeps answering or recovers within the
//! bound it states, that the running config is a whole one (never half applied), that no process
//! of the service is orphaned, and that the state is visible in `/ready`, the metrics and the log.
//!
//! Scenarios already covered elsewhere are not repeated in depth: `manager/tests/daemon.rs`
//! (`a_killed_manager_is_restarted_and_adopts_the_workers_without_restarting_them`,
//! `after_supervisord_is_killed_no_kresd_survives_and_the_service_starts_again`,
//! `a_killed_worker_is_replaced_and_ready_within_a_second`, `a_crash_loop_is_given_up_...`,
//! `a_renewed_certificate_is_reloaded_...`), `manager/tests/api.rs` (the API across a manager
//! kill). Here each of those faults runs under load and is measured.
//!
//! "Recovered in T": the time from the start of the fault until the last query that went
//! unanswered (no answer within [`LOST_AFTER`]) or was answered with an unexpected rcode was
//! *sent*, or until the last poll of `/ready` that was not 200, whichever is later. 0 means
//! nothing was seen to fail.
//!
//! Run them with `cargo test -p kres-manager --test faults -- --nocapture --test-threads=1`
//! (they may also run in parallel: each has its own service, rundir, port and API socket).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kres_manager::backend::Program;
use kres_manager::layout::Layout;
use kres_tests::http::Reply;
use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::{Service, kill, rolling};
use nix::sys::signal::Signal;
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

/// A query without an answer within this is counted lost.
const LOST_AFTER: Duration = Duration::from_secs(1);

/// The name every scenario queries: answered from local data by every worker.
const LOCAL: &str = "a.example";

const SERVFAIL: u8 = 2;

/// The service tests' config with 2 workers and `extra`.
fn config(extra: &str) -> String {
    kres_tests::service::config(2, extra)
}

/// Starts the service and waits until each of its processes is there (the manager reports ready
/// once the workers answer; the cache GC may still be starting), so that a test's "before"
/// snapshot is complete.
fn start(yaml: &str) -> Service {
    let service = Service::start(Path::new(EXE), yaml);
    // The cache GC is recognised by its command line, which names the cache directory: only
    // when that is in the rundir (it is spawned right before the manager's ready, possibly not
    // yet exec'd then).
    let gc_in_rundir = yaml.contains("storage: {rundir}/");
    let roles: &[&str] =
        if gc_in_rundir { &["manager", "kresd0", "kresd1", "cache-gc"] } else { &["manager", "kresd0", "kresd1"] };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !roles.iter().all(|role| service.processes().contains_key(*role)) {
        assert!(Instant::now() < deadline, "not every process is up: {:?}\n{}", service.processes(), service.log());
        std::thread::sleep(Duration::from_millis(10));
    }
    service
}

// ------------------------------------------------------------------------------------------
// The DNS load

#[derive(Clone, Copy, Debug)]
enum Outcome {
    /// Answered, with this rcode.
    Answered(u8),
    Lost,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    client: usize,
    sent: Instant,
    /// When the answer came (or the query was given up).
    done: Instant,
    outcome: Outcome,
}

/// A UDP DNS load that records every query: `clients` sockets (each hashed by SO_REUSEPORT to
/// one worker for its whole life), each sending a query, waiting up to [`LOST_AFTER`] for its
/// answer, pausing 5 ms, and so on. A `{n}` in the name is replaced by a number unique to each
/// query (names never in the cache).
struct Probe {
    stop: Arc<AtomicBool>,
    events: Arc<Mutex<Vec<Event>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Probe {
    fn start(port: u16, name: &str, clients: usize) -> Probe {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|client| {
                let (stop, events, name) = (stop.clone(), events.clone(), name.to_owned());
                std::thread::spawn(move || {
                    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
                    socket.connect(("127.0.0.1", port)).expect("connect");
                    socket.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
                    let mut id: u16 = (client as u16) << 11;
                    let mut buffer = [0u8; 1500];
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        id = id.wrapping_add(1);
                        n += 1;
                        let mut query = kres_tests::service::dns_query(&name.replace("{n}", &format!("c{client}n{n}")));
                        query[..2].copy_from_slice(&id.to_be_bytes());
                        let sent = Instant::now();
                        let _ = socket.send(&query);
                        let outcome = loop {
                            match socket.recv(&mut buffer) {
                                Ok(n) if n >= 12 && buffer[..2] == id.to_be_bytes() => {
                                    break Outcome::Answered(buffer[3] & 0x0f);
                                }
                                Ok(_) => {}
                                // A refused send (no listener for an instant) is a lost query too.
                                Err(_) if sent.elapsed() >= LOST_AFTER => break Outcome::Lost,
                                Err(_) => {}
                            }
                        };
                        events.lock().unwrap().push(Event { client, sent, done: Instant::now(), outcome });
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Probe { stop, events, threads }
    }

    /// How many answers with `rcode` the clients have received so far.
    fn answered_with(&self, rcode: u8) -> usize {
        self.events.lock().unwrap().iter().filter(|e| matches!(e.outcome, Outcome::Answered(r) if r == rcode)).count()
    }

    fn finish(self) -> Vec<Event> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

/// What a load saw: queries sent, lost, answered with another rcode than NOERROR, the clients
/// that lost any, and when (after `fault`) the last bad query was sent.
#[derive(Debug, Default)]
struct Figures {
    sent: usize,
    lost: usize,
    failed: usize,
    clients_losing: std::collections::BTreeSet<usize>,
    last_bad: Option<Duration>,
    /// Answers per rcode, with the time (after `fault`) the first of them arrived.
    rcodes: BTreeMap<u8, (usize, Duration)>,
}

fn figures(events: &[Event], fault: Instant) -> Figures {
    let mut f = Figures { sent: events.len(), ..Figures::default() };
    for event in events {
        let bad = match event.outcome {
            Outcome::Lost => {
                f.lost += 1;
                f.clients_losing.insert(event.client);
                true
            }
            Outcome::Answered(rcode) => {
                let after = event.done.saturating_duration_since(fault);
                let (count, first) = f.rcodes.entry(rcode).or_insert((0, after));
                *count += 1;
                *first = (*first).min(after);
                if rcode != 0 {
                    f.failed += 1;
                }
                rcode != 0
            }
        };
        if bad {
            let after = event.sent.saturating_duration_since(fault);
            f.last_bad = f.last_bad.max(Some(after));
        }
    }
    f
}

/// Prints the scenario's line for the results table.
fn report(scenario: &str, dns: &Figures, ready: &ReadySeen, notes: &str) {
    let recovered = dns.last_bad.unwrap_or_default().max(ready.last_bad.unwrap_or_default());
    println!(
        "FAULT {scenario}: sent {}, lost {}, recovered in {} ms",
        dns.sent,
        dns.lost + dns.failed,
        recovered.as_millis()
    );
    let rcodes: Vec<String> = dns
        .rcodes
        .iter()
        .map(|(rcode, (count, first))| format!("rcode {rcode}: {count} (the first at {first:?})"))
        .collect();
    println!(
        "  {scenario}: {} unanswered, {} answered with an error rcode, clients losing {:?}; answers {}; /ready: {} \
         polls, {} not ready (503), {} unreachable, reasons {:?}; {notes}",
        dns.lost,
        dns.failed,
        dns.clients_losing,
        rcodes.join(", "),
        ready.polls,
        ready.not_ready,
        ready.unreachable,
        ready.reasons
    );
}

// ------------------------------------------------------------------------------------------
// The API

/// One request over the API's unix socket.
fn try_http(socket: &Path, method: &str, path: &str, body: &str) -> Result<Reply, String> {
    kres_tests::http::unix(socket, method, path, &[("Content-Type", "application/json")], body)
}

fn api(service: &Service, method: &str, path: &str, body: &str) -> Reply {
    try_http(&service.api_socket(), method, path, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn get(service: &Service, path: &str) -> Reply {
    api(service, "GET", path, "")
}

/// `/processes/kresd` as name → (pid, restarts, state).
fn api_workers(service: &Service) -> BTreeMap<String, (u64, u64, String)> {
    get(service, "/processes")
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            let state = p["state"].as_str().unwrap_or_default().to_owned();
            (name, (p["pid"].as_u64().unwrap_or(0), p["restarts"].as_u64().unwrap_or(0), state))
        })
        .collect()
}

/// What a watch of `/ready` saw.
#[derive(Debug, Default)]
struct ReadySeen {
    polls: u32,
    not_ready: u32,
    unreachable: u32,
    reasons: std::collections::BTreeSet<String>,
    /// When (after the fault) the last poll that was not 200 was made.
    last_bad: Option<Duration>,
}

/// One poll of `/ready`: when, and its status (or why it could not be asked).
type Poll = (Instant, Result<u16, String>);

/// Polls `/ready` every 20 ms from now until finished (each poll waits for its answer).
struct ReadyWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Vec<Poll>, std::collections::BTreeSet<String>)>,
}

impl ReadyWatch {
    fn start(service: &Service) -> ReadyWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let socket = service.api_socket();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut polls = Vec::new();
            let mut reasons = std::collections::BTreeSet::new();
            while !flag.load(Ordering::Relaxed) {
                let at = Instant::now();
                let result = try_http(&socket, "GET", "/ready", "").map(|reply| {
                    if reply.status != 200 {
                        let reason = serde_json::from_str::<Value>(&reply.text)
                            .ok()
                            .and_then(|v| v["reason"].as_str().map(|r| r.chars().take(120).collect::<String>()));
                        reasons.insert(reason.unwrap_or(reply.text));
                    }
                    reply.status
                });
                polls.push((at, result));
                std::thread::sleep(Duration::from_millis(20));
            }
            (polls, reasons)
        });
        ReadyWatch { stop, thread }
    }

    fn finish(self, fault: Instant) -> ReadySeen {
        self.stop.store(true, Ordering::Relaxed);
        let (polls, reasons) = self.thread.join().expect("the /ready watch");
        let mut seen = ReadySeen { polls: polls.len() as u32, reasons, ..ReadySeen::default() };
        for (at, result) in polls {
            match result {
                Ok(200) => continue,
                Ok(_) => seen.not_ready += 1,
                Err(_) => seen.unreachable += 1,
            }
            seen.last_bad = seen.last_bad.max(Some(at.saturating_duration_since(fault)));
        }
        seen
    }
}

// ------------------------------------------------------------------------------------------
// Checks shared by the scenarios

fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) -> Duration {
    let began = Instant::now();
    while !condition() {
        assert!(began.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    began.elapsed()
}

fn ready_status(service: &Service) -> u16 {
    try_http(&service.api_socket(), "GET", "/ready", "").map_or(0, |r| r.status)
}

fn control(service: &Service, worker: &str, lua: &str) -> String {
    kres_tests::kresd::control(&service.rundir().join("control").join(worker), lua)
        .unwrap_or_else(|e| panic!("{worker}'s control socket: {e}"))
}

/// The parent of a live process (`None` when gone or a zombie).
fn parent(pid: u32) -> Option<u32> {
    kres_manager::procfs::get(pid).filter(|p| !p.is_zombie()).map(|p| p.ppid)
}

/// Every process of the service is supervisord or one of its children (none orphaned, none
/// left from an earlier run).
fn assert_no_orphans(service: &Service) {
    let supervisord = service.pid();
    for (pid, cmdline) in kres_manager::daemon::service::processes_mentioning(&service.rundir()) {
        if pid == supervisord {
            continue;
        }
        let Some(ppid) = parent(pid) else { continue };
        assert_eq!(ppid, supervisord, "pid {pid} ({cmdline}) is not supervisord's child\n{}", service.log());
    }
}

/// The service is whole again: `/ready` 200 (within `within`), both metrics routes answer, every
/// worker answers the local name, no orphan, and every worker's Lua file is what the config the
/// manager reports renders to (one config, never half applied); returns the generation.
fn assert_whole(service: &Service, within: Duration) -> u64 {
    wait_until("/ready 200", within, || ready_status(service) == 200);
    for path in ["/metrics/json", "/metrics/prometheus"] {
        let reply = get(service, path);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
    }
    let metrics = get(service, "/metrics/json").json();
    assert_eq!(metrics["errors"], serde_json::json!({}), "every worker reports statistics: {metrics}");
    assert_no_orphans(service);
    assert!(!service.processes().contains_key("canary"), "no canary left:\n{}", service.log());
    let generation = assert_one_config(service);
    for _ in 0..6 {
        let answer = kres_tests::kresd::query(service.port, LOCAL, "A").map(|a| a.data()).unwrap_or_default();
        assert!(!answer.is_empty(), "{LOCAL} answered:\n{}", service.log());
    }
    generation
}

/// Every worker's Lua file is what the manager's current config (`GET /v1/config`) renders to,
/// and every worker reports that generation in `/processes`; the generation.
fn assert_one_config(service: &Service) -> u64 {
    let document = get(service, "/v1/config").json();
    let validate = kres_manager::reconcile::reload::validator(&kres_tests::kresd::target());
    let (config, _) = validate(&document).unwrap_or_else(|r| panic!("the running config is valid: {r}"));
    let layout = Layout::new(&service.rundir(), None);
    let processes = get(service, "/processes/kresd").json();
    let generation = get(service, "/").json()["generation"].as_u64().expect("generation");
    let workers = processes.as_array().expect("list");
    assert_eq!(workers.len(), usize::from(config.workers), "{processes}");
    for worker in workers {
        let n: u32 =
            worker["name"].as_str().and_then(|n| n.strip_prefix("kresd")).and_then(|n| n.parse().ok()).unwrap();
        let program = Program::Worker(n);
        let context = kres_manager::kresd::render::WorkerContext { id: n, control_socket: layout.control(program) };
        let expected = kres_manager::kresd::render::render_worker(kres_tests::kresd::dialect(), &config, &context)
            .expect("renders");
        let file = std::fs::read_to_string(layout.lua(program)).expect("lua file");
        let (file, expected) = (config_lines(&file), config_lines(&expected));
        if file != expected {
            let first = file.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(file.len().min(expected.len()));
            panic!(
                "kresd{n}'s Lua file is not the running config's (generation {generation}): line {first} is {:?}, \
                 the config renders {:?}",
                file.get(first),
                expected.get(first)
            );
        }
        assert_eq!(worker["generation"].as_u64(), Some(generation), "{worker}");
        assert_eq!(worker["state"], "running", "{worker}");
    }
    generation
}

/// The lines of a worker's Lua that come from the config: without comments, blank lines and the
/// lines that depend on the user the service runs its workers as (dropping to it, and the
/// control socket opened before or after that).
fn config_lines(lua: &str) -> Vec<&str> {
    lua.lines()
        .filter(|line| {
            let trimmed = line.trim();
            !(trimmed.is_empty()
                || trimmed.starts_with("--")
                || trimmed.starts_with("user(")
                || trimmed == "do"
                || trimmed == "end"
                || trimmed == "local ffi = require('ffi')"
                || trimmed.contains("prctl")
                || trimmed.contains("kind = 'control'"))
        })
        .collect()
}

fn log_count(service: &Service, needle: &str) -> usize {
    service.log().matches(needle).count()
}

fn mount_allowed() -> bool {
    let dir = TempDir::new("mount-probe");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir.0)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("umount").arg(&dir.0).status();
    }
    ok
}

/// A mount, unmounted (lazily: the service may still hold files open) when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], target: &Path) -> Mount {
        let status = Command::new("mount").args(args).arg(target).status().expect("mount runs");
        assert!(status.success(), "mount {args:?} {}", target.display());
        Mount(target.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

// ------------------------------------------------------------------------------------------
// Processes killed

/// A scenario's DNS load on local data and its watch of `/ready`, started together (the load
/// 300 ms ahead, so that the figures start from a steady state).
struct UnderLoad {
    probe: Probe,
    watch: ReadyWatch,
}

impl UnderLoad {
    fn start(service: &Service, clients: usize) -> UnderLoad {
        let probe = Probe::start(service.port, LOCAL, clients);
        std::thread::sleep(Duration::from_millis(300));
        UnderLoad { probe, watch: ReadyWatch::start(service) }
    }

    /// The load's figures and the readiness seen, counted from `fault`.
    fn finish(self, fault: Instant) -> (Figures, ReadySeen) {
        (figures(&self.probe.finish(), fault), self.watch.finish(fault))
    }
}

/// Kills `role` with SIGKILL under a load of `clients` and waits until `/processes` shows it
/// replaced (a new pid, one restart, running): the load's figures, the readiness seen, and how
/// long the replacement took.
fn kill9_until_replaced(service: &Service, role: &str, clients: usize) -> (Figures, ReadySeen, Duration) {
    let before = service.processes();
    let load = UnderLoad::start(service, clients);
    let fault = Instant::now();
    kill(before[role], Signal::SIGKILL);
    let replaced = wait_until(&format!("/processes shows {role} replaced"), Duration::from_secs(10), || {
        api_workers(service).get(role).is_some_and(|(pid, restarts, state)| {
            *pid != u64::from(before[role]) && *restarts == 1 && state == "running"
        })
    });
    std::thread::sleep(Duration::from_millis(500));
    let (dns, ready) = load.finish(fault);
    (dns, ready, replaced)
}

/// The supervisor's restart of `role` is in the log and in the metrics. The metrics come from
/// the status `/processes` showed the restart in; the log line, written by the manager before
/// that status, reaches the file through supervisord, a moment later.
fn assert_restart_recorded(service: &Service, role: &str) {
    service
        .wait_log(&format!("{role} was restarted by the supervisor"), 1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let prometheus = get(service, "/metrics/prometheus").text;
    let metric = format!("kres_manager_process_restarts_total{{process=\"{role}\"}} 1");
    assert!(prometheus.contains(&metric), "{prometheus}");
}

#[test]
fn worker_kill9() {
    let service = start(&config(""));
    let before = service.processes();
    let (dns, ready, replaced) = kill9_until_replaced(&service, "kresd0", 6);
    report("worker_kill9", &dns, &ready, &format!("/processes shows the new kresd0 after {replaced:?}"));
    let after = service.processes();
    assert_eq!(after["kresd1"], before["kresd1"], "kresd1 untouched");
    assert_eq!(after["manager"], before["manager"]);
    assert_restart_recorded(&service, "kresd0");
    assert!(dns.last_bad.unwrap_or_default() < Duration::from_secs(5), "recovered within 5 s: {dns:?}");
    assert_whole(&service, Duration::from_secs(5));
}

#[test]
fn cache_gc_kill9() {
    let service = start(&config(""));
    let before = service.processes();
    let (dns, ready, replaced) = kill9_until_replaced(&service, "cache-gc", 4);
    report("cache_gc_kill9", &dns, &ready, &format!("/processes shows cache-gc restarted after {replaced:?}"));
    assert_eq!(dns.lost + dns.failed, 0, "the GC is not on the query path");
    assert_eq!(ready.not_ready, 0, "the GC is not part of readiness");
    let after = service.processes();
    for role in ["manager", "kresd0", "kresd1"] {
        assert_eq!(after[role], before[role], "{role} untouched");
    }
    assert_restart_recorded(&service, "cache-gc");
    assert_whole(&service, Duration::from_secs(5));
}

/// Deeper checks of the adoption are in `daemon.rs` and `api.rs`; here: the load, and the API
/// gone while the manager restarts.
#[test]
fn manager_kill9() {
    let service = start(&config(""));
    let before = service.processes();
    let load = UnderLoad::start(&service, 4);
    let fault = Instant::now();
    kill(before["manager"], Signal::SIGKILL);
    service.wait_log("ready: ", 2, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    wait_until("the API answers /ready 200 again", Duration::from_secs(10), || ready_status(&service) == 200);
    let back = fault.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let (dns, ready) = load.finish(fault);
    report("manager_kill9", &dns, &ready, &format!("API back and /ready 200 {back:?} after the kill"));
    assert_eq!(dns.lost + dns.failed, 0, "the workers serve on while the manager restarts");
    let after = service.processes();
    assert_ne!(after["manager"], before["manager"]);
    for role in ["kresd0", "kresd1", "cache-gc"] {
        assert_eq!(after[role], before[role], "{role} adopted, not restarted");
    }
    assert!(service.log().contains("re-adopting the running workers"), "{}", service.log());
    assert_eq!(assert_whole(&service, Duration::from_secs(5)), 1, "the same generation");
}

/// supervisord killed: every process of the service dies with it (parent-death signal), DNS is
/// down until the service is started again, which the test does at once (as systemd's
/// `Restart=` would).
#[test]
fn supervisord_kill9() {
    let mut service = start(&config(""));
    let before = service.processes();
    let load = UnderLoad::start(&service, 4);
    let fault = Instant::now();
    service.signal(Signal::SIGKILL);
    let gone = wait_until("every process of the service gone", Duration::from_secs(5), || {
        kres_manager::daemon::service::processes_mentioning(&service.rundir()).is_empty()
    });
    service.restart();
    let restarted = fault.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let (dns, ready) = load.finish(fault);
    report(
        "supervisord_kill9",
        &dns,
        &ready,
        &format!("all processes gone {gone:?} after the kill; started again and ready {restarted:?} after it"),
    );
    let after = service.processes();
    for (role, pid) in &before {
        assert_ne!(after.get(role), Some(pid), "{role} is a new process");
        assert!(parent(*pid).is_none(), "old {role} (pid {pid}) is gone");
    }
    assert!(dns.last_bad.unwrap_or_default() < restarted + Duration::from_secs(1), "{dns:?}");
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// A worker stopped

#[test]
fn worker_sigstop_5s() {
    let service = start(&config(""));
    let before = service.processes();
    let load = UnderLoad::start(&service, 8);
    let fault = Instant::now();
    kill(before["kresd0"], Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(1500));
    let metrics = get(&service, "/metrics/json").json();
    let during = ready_status(&service);
    let reported = metrics["errors"]["kresd0"].as_str().unwrap_or_default().to_owned();
    std::thread::sleep(Duration::from_secs(5).saturating_sub(fault.elapsed()));
    kill(before["kresd0"], Signal::SIGCONT);
    let continued = fault.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (dns, ready) = load.finish(fault);
    report(
        "worker_sigstop_5s",
        &dns,
        &ready,
        &format!(
            "SIGCONT after {continued:?}; /ready during the stop: {during}; metrics during the stop: kresd0 {reported:?}"
        ),
    );
    assert!(reported.contains("did not answer"), "the metrics report the stopped worker: {metrics}");
    assert_eq!(during, 503, "/ready reports the stopped worker");
    assert_eq!(service.processes(), before, "nobody killed or restarted the stopped worker");
    let bad_after_cont = dns.last_bad.unwrap_or_default().saturating_sub(continued);
    assert!(bad_after_cont < Duration::from_millis(500), "every query answered after SIGCONT: {dns:?}");
    assert_eq!(control(&service, "kresd0", "1"), "1", "kresd0 answers again");
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// The upstream stopped and started

/// knotd on a fixed port (so it can be started again on it), serving `corp.example` with a
/// wildcard (every name has an answer, no name is in kresd's cache twice).
fn knotd(port: u16, dir: &Path) -> Child {
    let root = dir.display();
    let zone = dir.join("corp.zone");
    std::fs::write(
        &zone,
        "$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n* A 198.51.100.80\n",
    )
    .unwrap();
    let conf = dir.join("knot.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: {root}\ndatabase:\n    storage: {root}\n\
             template:\n  - id: default\n    storage: {root}\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n  - domain: corp.example.\n    file: {}\n",
            zone.display()
        ),
    )
    .unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("knotd.log")).unwrap();
    let child = Command::new("knotd")
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("knotd runs");
    wait_until("knotd answers", Duration::from_secs(10), || {
        kres_tests::kresd::query(port, "x.corp.example", "A").is_some_and(|a| a.rcode == "NOERROR")
    });
    child
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn upstream_knotd_stopped_and_started() {
    let dir = TempDir::new("faults-knotd");
    let upstream_port = free_port();
    let mut upstream = Killed(knotd(upstream_port, &dir.0));
    let forward = format!(
        "forward:\n  - subtree: corp.example\n    servers: [127.0.0.1@{upstream_port}]\n    options:\n      authoritative: true\n"
    );
    let service = start(&config(&forward));
    let local = Probe::start(service.port, LOCAL, 4);
    let forwarded = Probe::start(service.port, "{n}.corp.example", 4);
    std::thread::sleep(Duration::from_millis(500));
    let servfail_before = get(&service, "/metrics/json").json()["total"]["list"]["answer.servfail"].as_f64();
    let watch = ReadyWatch::start(&service);
    let fault = Instant::now();
    let _ = upstream.0.kill();
    let _ = upstream.0.wait();
    // kresd answers SERVFAIL once it gives up on the upstream, which takes its retransmit
    // timeouts (2 s here when idle, longer on a loaded machine: they follow the measured RTT).
    // The metrics are read only after the clients got such answers, and must count at least
    // those: kresd counts an answer before it sends it.
    wait_until("the clients got SERVFAIL for forwarded names", Duration::from_secs(30), || {
        forwarded.answered_with(SERVFAIL) > 0
    });
    let servfail_seen = forwarded.answered_with(SERVFAIL);
    let servfail_during = get(&service, "/metrics/json").json()["total"]["list"]["answer.servfail"].as_f64();
    let restarted = fault.elapsed();
    upstream = Killed(knotd(upstream_port, &dir.0));
    let back = fault.elapsed();
    let answered_again = wait_until("a forwarded name answered again", Duration::from_secs(30), || {
        kres_tests::kresd::query(service.port, &format!("check{}.corp.example", fault.elapsed().as_millis()), "A")
            .is_some_and(|a| a.rcode == "NOERROR")
    });
    std::thread::sleep(Duration::from_secs(1));
    let local = figures(&local.finish(), fault);
    let forwarded = figures(&forwarded.finish(), fault);
    let ready = watch.finish(fault);
    report("upstream_knotd_stopped_and_started (local name)", &local, &ready, "");
    report(
        "upstream_knotd_stopped_and_started (forwarded names)",
        &forwarded,
        &ready,
        &format!(
            "knotd killed, started again {restarted:?} later and answering {back:?} after the kill; a forwarded name \
             through kresd answered {answered_again:?} after that; the last failed forwarded query was sent {:?} \
             after knotd answered again; answer.servfail {servfail_before:?} → {servfail_during:?} once {servfail_seen} SERVFAIL had been received",
            forwarded.last_bad.unwrap_or_default().saturating_sub(back)
        ),
    );
    assert_eq!(local.lost + local.failed, 0, "local data does not depend on the upstream");
    assert!(forwarded.lost + forwarded.failed > 0, "the forwarded names failed while knotd was down");
    assert_eq!(ready.not_ready, 0, "the upstream is not part of the service's readiness");
    let counted = servfail_during.unwrap_or_default() - servfail_before.unwrap_or_default();
    assert!(
        counted >= servfail_seen as f64,
        "the metrics show the failures: {counted} SERVFAIL counted, {servfail_seen} received before the read"
    );
    drop(upstream);
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// The cache directory read-only, and its filesystem full

/// The cache on a tmpfs of its own (`size`), outside the rundir.
fn config_with_cache(cache: &Path) -> String {
    config("").replace("  storage: {rundir}/cache\n", &format!("  storage: {}\n", cache.display()))
}

#[test]
fn cache_dir_read_only() {
    if !mount_allowed() {
        println!("FAULT cache_dir_read_only: not doable here (mount is not allowed)");
        return;
    }
    let dir = TempDir::new("faults-cache-ro");
    let cache = dir.0.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=32m", "tmpfs"], &cache);
    let service = start(&config_with_cache(&cache));
    let before = service.processes();
    let load = UnderLoad::start(&service, 6);
    let fault = Instant::now();
    // Read-only for every process that opens it from now on (the running ones keep their open
    // files: a mount with writers cannot be remounted read-only, EBUSY).
    let read_only = Mount::new(&["--bind", cache.to_str().unwrap()], &cache);
    let status = Command::new("mount").args(["-o", "remount,bind,ro"]).arg(&cache).status().unwrap();
    assert!(status.success(), "remount read-only");
    std::thread::sleep(Duration::from_secs(1));
    let unaffected = service.processes() == before;
    // A rolling change needs a canary that opens the cache: refused, nothing touched.
    let change = api(&service, "PUT", "/v1/config/network/edns-buffer-size", r#"{"downstream": "1400B"}"#);
    // A worker that has to start again cannot open the cache.
    kill(before["kresd0"], Signal::SIGKILL);
    service
        .wait_log("kresd0: 5 restarts within 60 s: given up", 1, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let given_up = fault.elapsed();
    let during = api(&service, "GET", "/ready", "");
    drop(read_only);
    let forced = api(&service, "POST", "/reload/force", "");
    let recovered = fault.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (dns, ready) = load.finish(fault);
    report(
        "cache_dir_read_only",
        &dns,
        &ready,
        &format!(
            "running workers unaffected: {unaffected}; rolling change answered {}; kresd0 killed, given up after \
             {given_up:?}; /ready then {}; read-write again and POST /reload/force ({}) at {recovered:?}",
            change.status, during.status, forced.status
        ),
    );
    assert!(unaffected, "the running workers keep their open cache");
    assert_eq!(change.status, 422, "{change:?}");
    assert!(change.text.contains("Read-only file system"), "kresd's reason is in the answer: {change:?}");
    assert_eq!(during.status, 503, "{during:?}");
    assert!(during.text.contains("kresd0"), "{during:?}");
    assert_eq!(forced.status, 200, "{forced:?}\n{}", service.log());
    assert_eq!(service.processes()["kresd1"], before["kresd1"], "kresd1 served throughout");
    assert!(service.log().contains("Read-only file system"), "kresd's error is in the log");
    assert_whole(&service, Duration::from_secs(10));
}

#[test]
fn cache_filesystem_full() {
    if !mount_allowed() {
        println!("FAULT cache_filesystem_full: not doable here (mount is not allowed)");
        return;
    }
    let dir = TempDir::new("faults-cache-full");
    let cache = dir.0.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], &cache);
    let service = start(&config_with_cache(&cache));
    let before = service.processes();
    let load = UnderLoad::start(&service, 6);
    let fault = Instant::now();
    // Fill the filesystem up.
    let filler = cache.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 * 1024];
    let full = loop {
        if let Err(error) = file.write_all(&block).and_then(|()| file.sync_all()) {
            break error;
        }
    };
    drop(file);
    let free = nix::sys::statvfs::statvfs(&cache).map(|s| s.blocks_available() * s.fragment_size());
    std::thread::sleep(Duration::from_secs(1));
    // A restarted worker opens the cache it preallocated (kresd allocates size-max at once).
    kill(before["kresd0"], Signal::SIGKILL);
    wait_until("kresd0 replaced", Duration::from_secs(10), || {
        api_workers(&service)
            .get("kresd0")
            .is_some_and(|(pid, _, state)| *pid != u64::from(before["kresd0"]) && state == "running")
    });
    // A larger cache does not fit: the canary refuses it, nothing is touched.
    let workers = service.workers();
    let bigger = api(&service, "PUT", "/v1/config/cache/size-max", "\"14M\"");
    let untouched = service.workers() == workers;
    std::fs::remove_file(&filler).unwrap();
    let recovered = fault.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (dns, ready) = load.finish(fault);
    report(
        "cache_filesystem_full",
        &dns,
        &ready,
        &format!(
            "filled up ({full}; {free:?} bytes free); kresd0 killed and restarted on the full filesystem; a larger \
             size-max answered {}; space freed at {recovered:?}",
            bigger.status
        ),
    );
    assert_eq!(bigger.status, 422, "{bigger:?}");
    assert!(bigger.text.contains("No space left on device"), "kresd's reason is in the answer: {bigger:?}");
    assert!(untouched, "no worker touched by the refused change");
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// The TLS certificate

#[test]
fn tls_certificate_garbage_then_valid() {
    use kres_tests::kresd::{certificate, kdig};
    let certs = TempDir::new("faults-certs");
    let (cert_a, key_a) = certificate(&certs.0, "a.test");
    let (cert_b, key_b) = certificate(&certs.0, "b.test");
    // Readable by the workers' unprivileged user, which reloads them (openssl writes keys 0600;
    // see docs/reliability.md for what happens then).
    for file in [&cert_a, &key_a, &cert_b, &key_b] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (cert, key) = (certs.0.join("live.crt"), certs.0.join("live.key"));
    std::fs::copy(&cert_a, &cert).unwrap();
    std::fs::copy(&key_a, &key).unwrap();
    let tls_port = free_port();
    let yaml = config("").replace(
        "    - interface: 127.0.0.1@{port}\n",
        &format!(
            "    - interface: 127.0.0.1@{{port}}\n    - interface: 127.0.0.1@{tls_port}\n      kind: dot\n  tls:\n    \
             cert-file: {}\n    key-file: {}\n",
            cert.display(),
            key.display()
        ),
    );
    let service = start(&yaml);
    let before = service.processes();
    let dot = |ca: &str, name: &str| {
        let flags = ["+tls".to_owned(), format!("+tls-ca={ca}"), format!("+tls-hostname={name}")];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        kdig(tls_port, LOCAL, "A", &flags).contains("192.0.2.1")
    };
    let load = UnderLoad::start(&service, 4);
    let fault = Instant::now();
    let replace = |from: &str, to: &Path, text: Option<&str>| {
        let temporary = to.with_extension("new");
        match text {
            Some(text) => std::fs::write(&temporary, text).unwrap(),
            None => drop(std::fs::copy(from, &temporary).unwrap()),
        }
        std::fs::rename(&temporary, to).unwrap();
    };
    replace("", &cert, Some("garbage, not a certificate\n"));
    service
        .wait_log("kresd1 refused the new TLS certificate", 1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let refused_after = fault.elapsed();
    let old_served = (0..4).all(|_| dot(&cert_a, "a.test"));
    // A worker that has to start again meanwhile reads the garbage: its crash loop is given up
    // (about 1 s) and the valid pair comes after that. `/ready` is asked once `/processes` shows
    // it given up: before the manager's next look at the processes, its status may still say the
    // killed kresd1 runs (and `/ready` leaves a worker whose control socket is gone to it).
    kill(before["kresd1"], Signal::SIGKILL);
    wait_until("/processes shows kresd1 given up (it cannot start with the garbage)", Duration::from_secs(30), || {
        api_workers(&service).get("kresd1").is_some_and(|(_, _, state)| state.starts_with("failed"))
    });
    let kresd1_with_garbage = api_workers(&service).get("kresd1").cloned();
    let ready_with_garbage = api(&service, "GET", "/ready", "");
    let valid = Instant::now();
    replace(&cert_b, &cert, None);
    replace(&key_b, &key, None);
    service
        .wait_log("kresd0 reloaded the TLS certificate", 1, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let reloaded_after = valid.elapsed();
    // A worker given up while the certificate was garbage is started again by the watcher.
    wait_until("/ready 200", Duration::from_secs(10), || ready_status(&service) == 200);
    let healed_after = valid.elapsed();
    let new_served = (0..4).all(|_| dot(&cert_b, "b.test"));
    let (dns, ready) = load.finish(fault);
    report(
        "tls_certificate_garbage_then_valid",
        &dns,
        &ready,
        &format!(
            "garbage refused by the workers after {refused_after:?} (they keep the old one: {old_served}); kresd1 \
             killed meanwhile: {kresd1_with_garbage:?}, /ready {}; the valid pair reloaded {reloaded_after:?} after it \
             was written, every worker ready again {healed_after:?} after it; DoT with it: {new_served}",
            ready_with_garbage.status
        ),
    );
    assert!(old_served, "DoT keeps the old certificate while the file is garbage");
    assert_eq!(ready_with_garbage.status, 503, "the worker that cannot start is reported: {ready_with_garbage:?}");
    assert!(new_served, "DoT serves the new certificate");
    assert_eq!(service.processes()["kresd0"], before["kresd0"], "kresd0 never restarted");
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// The config file sabotaged while a reload runs

/// A rolling reload (POST /reload) is under way when `sabotage` damages the config file; a
/// second reload (POST /reload and SIGHUP) must be refused with the reason, the first one must
/// finish whole, and nothing restarts afterwards.
fn config_sabotaged_during_reload(scenario: &str, sabotage: impl FnOnce(&Path), reason: &[&str]) {
    let service = start(&config(""));
    let load = UnderLoad::start(&service, 4);
    service.write_config(&rolling(&config("")));
    let fault = Instant::now();
    let socket = service.api_socket();
    let first = std::thread::spawn(move || try_http(&socket, "POST", "/reload", ""));
    service
        .wait_log("canary READY with the new configuration", 1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    sabotage(&service.config_path());
    let second = api(&service, "POST", "/reload", "");
    let first_running = !first.is_finished();
    // The SIGHUP's reload: refused (the files do not load or are invalid) or failed (the
    // plan refuses it), the running configuration staying either way.
    let stays = |service: &Service| {
        log_count(service, "reload refused, the running configuration stays")
            + log_count(service, "reload failed, the running configuration stays")
    };
    let refusals = stays(&service);
    service.signal(Signal::SIGHUP);
    wait_until("the SIGHUP's reload refused", Duration::from_secs(20), || stays(&service) > refusals);
    let logged = service
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("the running configuration stays"))
        .map(|l| l.chars().take(200).collect::<String>())
        .unwrap_or_default();
    let first = first.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
    let workers = service.workers();
    std::thread::sleep(Duration::from_millis(500));
    let (dns, ready) = load.finish(fault);
    report(
        scenario,
        &dns,
        &ready,
        &format!(
            "the reload under way (still running when the second was refused: {first_running}) answered {}; the \
             second reload answered {}: {}; the SIGHUP's reload logged: {logged}",
            first.status,
            second.status,
            second.text.chars().take(200).collect::<String>()
        ),
    );
    assert_eq!(first.status, 200, "the reload under way finishes: {first:?}");
    assert_eq!(first.json()["generation"], 2);
    assert!((400..500).contains(&second.status), "{second:?}");
    assert!(reason.iter().any(|r| second.text.contains(r)), "the reason {reason:?} is in the answer: {second:?}");
    assert_eq!(dns.lost + dns.failed, 0, "no query lost");
    assert_eq!(service.workers(), workers, "nothing restarted after the refused reloads");
    assert_eq!(assert_whole(&service, Duration::from_secs(5)), 2, "the config applied by the first reload runs");
    for worker in ["kresd0", "kresd1"] {
        assert_eq!(control(&service, worker, "(net.bufsize())"), "1400", "{worker}");
    }
}

#[test]
fn config_deleted_during_reload() {
    config_sabotaged_during_reload(
        "config_deleted_during_reload",
        |path| std::fs::remove_file(path).unwrap(),
        &["No such file or directory"],
    );
}

#[test]
fn config_truncated_to_half_during_reload() {
    config_sabotaged_during_reload(
        "config_truncated_to_half_during_reload",
        |path| {
            let text = std::fs::read(path).unwrap();
            std::fs::write(path, &text[..text.len() / 2]).unwrap();
        },
        // Half of this file is a valid document without the `management` section: refused
        // because moving the API needs a service restart. (Half of a file may be a valid
        // config; see docs/reliability.md.)
        &["config.yaml:", "restart of the whole service"],
    );
}

#[test]
fn config_replaced_by_a_directory_during_reload() {
    config_sabotaged_during_reload(
        "config_replaced_by_a_directory_during_reload",
        |path| {
            std::fs::remove_file(path).unwrap();
            std::fs::create_dir(path).unwrap();
        },
        &["Is a directory"],
    );
}

// ------------------------------------------------------------------------------------------
// 100 SIGHUPs within one second

#[test]
fn hundred_sighups_within_one_second() {
    let mut service = start(&config(""));
    let before = service.processes();
    let load = UnderLoad::start(&service, 4);
    let outcomes = |service: &Service| {
        ["reload: generation", "reload: the config files are unchanged", "reload refused", "reload failed"]
            .iter()
            .map(|needle| log_count(service, needle))
            .sum::<usize>()
    };
    let forwarded_before = log_count(&service, "received SIGHUP: forwarded to the manager");
    let fault = Instant::now();
    // The file changes ten times during the burst (a hot change each time); the last change is
    // followed by nine more signals.
    let mut last = String::new();
    for i in 0..100u32 {
        if i % 10 == 0 {
            last = format!("192.0.2.{}", 10 + i / 10);
            service.write_config(&config("").replace("192.0.2.1\n", &format!("{last}\n")));
        }
        service.signal(Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    let burst = fault.elapsed();
    let settled = wait_until("the last change is served", Duration::from_secs(30), || {
        kres_tests::kresd::query(service.port, LOCAL, "A").is_some_and(|a| a.data() == [last.clone()])
    });
    // Quiet: no reload outcome for a second.
    let mut seen = outcomes(&service);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = outcomes(&service);
        if now == seen {
            break;
        }
        seen = now;
    }
    let (dns, ready) = load.finish(fault);
    let forwarded = log_count(&service, "received SIGHUP: forwarded to the manager") - forwarded_before;
    let applied = log_count(&service, "reload: generation");
    report(
        "hundred_sighups_within_one_second",
        &dns,
        &ready,
        &format!(
            "100 signals in {burst:?}; supervisord forwarded {forwarded}; the manager ran {seen} reloads ({applied} \
             applied a change, the rest found the files unchanged); the last change served {settled:?} after the \
             burst ended"
        ),
    );
    assert!(service.try_wait().is_none(), "supervisord survives");
    assert_eq!(service.processes(), before, "hot changes: no process restarted");
    assert!((1..=100).contains(&seen), "reloads coalesce or queue: {seen}");
    assert_eq!(get(&service, "/v1/config/local-data/addresses/a.example").json(), Value::String(last.clone()));
    for worker in ["kresd0", "kresd1"] {
        for _ in 0..4 {
            let answer = kres_tests::kresd::query(service.port, LOCAL, "A").map(|a| a.data()).unwrap_or_default();
            assert_eq!(answer, [last.clone()], "{worker}");
        }
    }
    assert_eq!(dns.lost + dns.failed, 0, "no query lost");
    assert_whole(&service, Duration::from_secs(5));
}

// ------------------------------------------------------------------------------------------
// The manager killed during a rolling restart

/// A UDP "server" that never answers, and a sender that keeps queries for it in progress on
/// every worker (so each worker's drain waits for them: the rolling restart is slow enough to
/// be interrupted at a known step).
struct BlackHole {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _socket: UdpSocket,
    pub port: u16,
    pub sent: Arc<AtomicU64>,
}

impl BlackHole {
    fn new() -> BlackHole {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        BlackHole { stop: Arc::new(AtomicBool::new(false)), thread: None, _socket: socket, port, sent: Arc::default() }
    }

    /// Queries `hole.example` names at the resolver on `port` from 16 sockets, every 100 ms.
    fn feed(&mut self, port: u16) {
        let (stop, sent) = (self.stop.clone(), self.sent.clone());
        self.thread = Some(std::thread::spawn(move || {
            let sockets: Vec<UdpSocket> = (0..16)
                .map(|_| {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket.connect(("127.0.0.1", port)).unwrap();
                    socket.set_nonblocking(true).unwrap();
                    socket
                })
                .collect();
            let mut n = 0u64;
            let mut buffer = [0u8; 1500];
            while !stop.load(Ordering::Relaxed) {
                for socket in &sockets {
                    n += 1;
                    let _ = socket.send(&kres_tests::service::dns_query(&format!("h{n}.hole.example")));
                    while socket.recv(&mut buffer).is_ok() {}
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many UDP queries each worker received (its `request.udp` statistic).
fn udp_counts(service: &Service) -> BTreeMap<String, u64> {
    service
        .workers()
        .keys()
        // kresd 5.6 names the counter flat; 6.x nests it (`stats.get` there knows only some).
        .map(|w| {
            (
                w.clone(),
                control(service, w, "stats.get('request.udp') or stats.list().request.udp").parse().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn manager_kill9_during_a_rolling_restart() {
    let mut hole = BlackHole::new();
    let extra = format!("forward:\n  - subtree: hole.example\n    servers: [127.0.0.1@{}]\n", hole.port);
    let old = config(&extra);
    let service = start(&old);
    hole.feed(service.port);
    let before = service.processes();
    let load = UnderLoad::start(&service, 6);
    // Each worker's drain waits for its queries to the black hole: it must have some.
    wait_until("every worker has queries to the black hole in progress", Duration::from_secs(10), || {
        ["kresd0", "kresd1"]
            .iter()
            .all(|w| control(&service, w, "worker.stats().concurrent").parse().is_ok_and(|n: u64| n > 0))
    });
    service.write_config(&rolling(&old));
    let fault = Instant::now();
    let socket = service.api_socket();
    let reload = std::thread::spawn(move || try_http(&socket, "POST", "/reload", ""));
    service
        .wait_log("canary READY with the new configuration", 1, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    // The kill lands while kresd0 is being drained (steered away, waiting for its queries to the
    // black hole; the canary runs until every worker is replaced): once kresd0 has the drain's
    // mark, which the drain sets first.
    let kresd0 = service.rundir().join("control").join("kresd0");
    wait_until("kresd0 is being drained", Duration::from_secs(20), || {
        kres_tests::kresd::control(&kresd0, "kres_manager_drained and 'drained' or ''").is_ok_and(|r| r == "'drained'")
    });
    let canary = service.processes().get("canary").copied();
    kill(before["manager"], Signal::SIGKILL);
    let killed_at = fault.elapsed();
    let interrupted = reload.join().unwrap();
    service.wait_log("ready: ", 2, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    wait_until("the API answers /ready 200 again", Duration::from_secs(20), || ready_status(&service) == 200);
    let recovered = fault.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let (dns, ready) = load.finish(fault);
    let generation = assert_whole(&service, Duration::from_secs(5));
    let bufsizes: Vec<String> = ["kresd0", "kresd1"].iter().map(|w| control(&service, w, "(net.bufsize())")).collect();
    // Every worker receives queries again (none is left steered away or without listeners):
    // 64 queries from 64 source ports spread over both.
    let counts = udp_counts(&service);
    for _ in 0..64 {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        socket.send_to(&kres_tests::service::dns_query(LOCAL), ("127.0.0.1", service.port)).unwrap();
        let _ = socket.recv(&mut [0u8; 512]);
    }
    let received: BTreeMap<String, u64> =
        udp_counts(&service).into_iter().map(|(w, n)| (w.clone(), n - counts.get(&w).copied().unwrap_or(0))).collect();
    let steps: Vec<String> = service
        .log()
        .lines()
        .filter(|l| l.contains("adopted ") || l.contains("restarted kresd") || l.contains("(left over)"))
        .map(|l| l.split_once("]: ").map_or(l, |(_, rest)| rest).to_owned())
        .collect();
    report(
        "manager_kill9_during_a_rolling_restart",
        &dns,
        &ready,
        &format!(
            "killed {killed_at:?} into the reload (canary pid {canary:?}; the reload's client got {}); back and ready \
             after {recovered:?}: generation {generation}, net.bufsize {bufsizes:?}, steps {steps:?}; 64 queries \
             from 64 ports reached {received:?}",
            interrupted.map_or_else(|e| e, |r| r.status.to_string())
        ),
    );
    assert!(canary.is_some(), "the manager was killed during the rolling restart");
    assert_eq!(generation, 1, "the new manager resumes the last saved config");
    assert!(bufsizes.iter().all(|b| b == "1232"), "every worker runs the old config: {bufsizes:?}");
    assert!(received.values().all(|n| *n > 0), "every worker receives queries: {received:?}\n{}", service.log());
    assert_eq!(dns.lost + dns.failed, 0, "no query lost");
    // The file still says the new config: a reload now applies it, whole.
    let reload = api(&service, "POST", "/reload", "");
    assert_eq!(reload.status, 200, "{reload:?}");
    assert_eq!(assert_whole(&service, Duration::from_secs(5)), 2);
    for worker in ["kresd0", "kresd1"] {
        assert_eq!(control(&service, worker, "(net.bufsize())"), "1400", "{worker}");
    }
}
