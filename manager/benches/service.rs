//! The service's figures (issues 4 and 5), measured on the real thing: `kres-manager -c` with
//! real supervisord and kresd 5.6 on loopback.
//!
//! - start: from `kres-manager -c` (which execs supervisord) to 4 workers READY (sd_notify, as
//!   logged by supervisord) and to the manager's `ready` (every worker answering);
//! - repair: `kill -9` of a worker until its replacement is READY;
//! - hot apply: SIGHUP with a new log level until the manager logged it applied (no restart);
//! - the manager's RSS when idle with 4 workers;
//! - 10 rolling restarts of 4 workers under one continuous dnsperf load (5,000 queries/s):
//!   duration of each, and the queries lost as dnsperf counts them.
//!
//! Run: `cargo bench -p kres-manager --bench service` (release build; 10 rounds). Without
//! `--bench` (as `cargo test --all-targets` runs it) one round checks that it works.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kres_tests::service::{Service, kill};
use nix::sys::signal::Signal;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

fn config(level: &str) -> String {
    kres_tests::service::config(4, &format!("logging:\n  level: {level}\n"))
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn range(samples: &[f64]) -> String {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(0.0, f64::max);
    format!("median {:.1} ms (min {min:.1}, max {max:.1}, n={})", median(samples.to_vec()), samples.len())
}

/// Milliseconds until `condition` holds (polling every 2 ms, which keeps the bench itself off the
/// two cores), at most 30 s.
fn until(mut condition: impl FnMut() -> bool) -> f64 {
    let began = Instant::now();
    while !condition() {
        assert!(began.elapsed() < Duration::from_secs(30), "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
    began.elapsed().as_secs_f64() * 1e3
}

fn count(service: &Service, needle: &str) -> usize {
    service.log().matches(needle).count()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds = if full { 10 } else { 1 };
    let exe = Path::new(EXE);
    let (mut start_ready, mut start_manager, mut repair, mut hot, mut rolling) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let restarts = if full { 10 } else { 2 };
    let mut rss = Vec::new();
    for _ in 0..rounds {
        let began = Instant::now();
        let service = Service::spawn(exe, &config("notice"));
        until(|| workers_ready_in_log(&service) >= 4);
        start_ready.push(began.elapsed().as_secs_f64() * 1e3);
        until(|| service.log().contains("ready: "));
        start_manager.push(began.elapsed().as_secs_f64() * 1e3);

        let old = service.workers()["kresd2"];
        let killed = Instant::now();
        kill(old, Signal::SIGKILL);
        until(|| {
            service.supervisor_states().iter().any(|p| {
                p.program == kres_manager::backend::Program::Worker(2)
                    && matches!(p.state, kres_manager::backend::ProcessState::Running { pid } if pid != old)
            })
        });
        repair.push(killed.elapsed().as_secs_f64() * 1e3);

        let level = "info";
        service.write_config(&config(level));
        let applied = count(&service, "reload: generation");
        let sent = Instant::now();
        service.signal(Signal::SIGHUP);
        until(|| count(&service, "reload: generation") > applied);
        hot.push(sent.elapsed().as_secs_f64() * 1e3);

        let manager = service.processes()["manager"];
        rss.push(rss_kib(manager) as f64 / 1024.0);
        drop(service);
    }
    // Rolling restarts (a network change: the EDNS buffer size) under one continuous dnsperf load.
    let service = Service::start(exe, &config("notice"));
    let data = service.dir.0.join("queries.txt");
    std::fs::write(&data, "a.example A\n").expect("write dnsperf input");
    let seconds = (restarts as u64 * 6 / 10 + 3).to_string();
    let dnsperf = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &service.port.to_string(), "-d"])
        .arg(&data)
        .args(["-l", &seconds, "-Q", "5000", "-c", "8", "-t", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsperf runs (installed by scripts/setup-system.sh)");
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..restarts {
        let size = 1232 + 8 * (round as u32 + 1);
        service.write_config(&config("notice").replace(
            "    - interface: 127.0.0.1@{port}\n",
            &format!("    - interface: 127.0.0.1@{{port}}\n  edns-buffer-size:\n    downstream: {size}B\n"),
        ));
        let applied = count(&service, "reload: generation");
        let sent = Instant::now();
        service.signal(Signal::SIGHUP);
        until(|| count(&service, "reload: generation") > applied);
        rolling.push(sent.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(count(&service, "canary READY"), restarts, "every change was a rolling one:\n{}", service.log());
    let output = dnsperf.wait_with_output().expect("dnsperf finishes");
    let text = String::from_utf8_lossy(&output.stdout);
    let (sent, lost) = dnsperf_counts(&text);
    let qps = text.lines().find_map(|l| l.trim().strip_prefix("Queries per second:")).unwrap_or("?").trim().to_owned();
    drop(service);

    println!("service start, exec to 4 workers READY (sd_notify): {}", range(&start_ready));
    println!("service start, exec to the manager's ready (every worker answering): {}", range(&start_manager));
    println!("kill -9 of a worker until its replacement is READY: {}", range(&repair));
    println!("hot change (log level) from SIGHUP to applied on 4 workers: {}", range(&hot));
    println!(
        "manager RSS, idle with 4 workers: {:.1} MiB (max of {} starts)",
        rss.iter().copied().fold(0.0, f64::max),
        rss.len()
    );
    println!("rolling restart of 4 workers from SIGHUP to applied: {}", range(&rolling));
    println!(
        "dnsperf through {restarts} rolling restarts (one run, -Q 5000, {seconds} s, {qps} qps): {sent} sent, {lost} lost"
    );
}

/// Resident set size of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// How many workers supervisord logged READY (`kresdN entered RUNNING state, READY=1`).
fn workers_ready_in_log(service: &Service) -> usize {
    service.log().lines().filter(|l| l.contains(": kresd") && l.contains("entered RUNNING state, READY=1")).count()
}

/// (queries sent, queries lost) from dnsperf's summary.
fn dnsperf_counts(text: &str) -> (u64, u64) {
    let number = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in dnsperf's output:\n{text}"))
    };
    (number("Queries sent:"), number("Queries lost:"))
}
