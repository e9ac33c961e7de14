//! Long-lived TCP and DoT connections across rolling restarts (issue 14), measured on the real
//! service: `kres-manager -c` with 4 kresd 5.6 workers listening for plain DNS (UDP, TCP) and
//! DoT on loopback.
//!
//! Per run: 16 long-lived TCP connections and 16 DoT connections (`kres_tests::stream`: one
//! query at a time, about every 4 ms, a query left unanswered sent once more on a new
//! connection, as RFC 7766 describes), plus a dnsperf UDP load at 2,000 queries/s, through 10
//! rolling restarts of the 4 workers. Two runs: clients that send no edns-tcp-keepalive option
//! (the server has to close their connections), and clients that send it (RFC 7828: told a
//! timeout of 0, they leave by themselves).
//!
//! Printed per run and transport: queries sent, unanswered on the first try (sent again),
//! failed after that retry; UDP queries sent and lost; the drain time per worker (from the
//! manager's log: how long each worker took from the start of its drain until it could be
//! stopped).
//!
//! Run: `cargo bench -p kres-manager --bench drain` (release build). Without `--bench` (as
//! `cargo test --all-targets` runs it) a short run checks that it works. `KRES_BENCH_MANAGER=PATH`
//! measures another build of kres-manager (e.g. an older one, for comparison).

use std::process::Command;
use std::time::{Duration, Instant};

use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::{Service, service_certificate, with_dot};
use kres_tests::stream::{Options, StreamLoad, Tally, Transport};
use nix::sys::signal::Signal;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");

/// The bench's config with `downstream` as the EDNS buffer size towards clients (changing it
/// needs a rolling restart).
fn config(dot_port: u16, tls: (&str, &str), downstream: u32) -> String {
    let yaml = with_dot(&kres_tests::service::config(4, ""), dot_port, tls);
    yaml.replace("network:\n", &format!("network:\n  edns-buffer-size:\n    downstream: {downstream}B\n"))
}

fn count(service: &Service, needle: &str) -> usize {
    service.log().matches(needle).count()
}

/// The drain times (ms) the manager logged for replaced workers.
fn drain_times(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|line| line.contains("restarted with the new configuration"))
        .filter_map(|line| line.split("drained in ").nth(1))
        .filter_map(|rest| rest.split(" ms").next())
        .filter_map(|ms| ms.parse().ok())
        .collect()
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn share(part: u64, whole: u64) -> String {
    format!("{:.3} %", if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 })
}

fn line(label: &str, tally: &Tally) -> String {
    format!(
        "{label}: {} sent, {} unanswered on the first try ({}), {} failed after the retry; {} connections opened, {} \
         found closed by the server, {} answers with keepalive timeout 0",
        tally.sent,
        tally.retried,
        share(tally.retried, tally.sent),
        tally.failed,
        tally.connections,
        tally.closed_by_server,
        tally.told_to_go
    )
}

struct Run {
    tcp: Tally,
    dot: Tally,
    udp_sent: u64,
    udp_lost: u64,
    drains: Vec<f64>,
}

fn run(keepalive: bool, clients: usize, restarts: usize) -> Run {
    let certs = TempDir::new("drain-bench-certs");
    let (certificate, key) = service_certificate(&certs.0, "resolver.test");
    let tls = (certificate.as_str(), key.as_str());
    let dot_port = free_port();
    let exe = std::env::var_os("KRES_BENCH_MANAGER").map_or_else(|| EXE.into(), std::path::PathBuf::from);
    let service = Service::start(&exe, &config(dot_port, tls, 1232));
    let udp = dnsperf(&service, restarts);
    let options = |port, transport| Options { keepalive, ..Options::new(port, transport, clients, "a.example") };
    let tcp = StreamLoad::start(&options(service.port, Transport::Tcp));
    let dot = StreamLoad::start(&options(
        dot_port,
        Transport::Tls { certificate: certificate.clone().into(), name: "resolver.test".into() },
    ));
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..restarts {
        service.write_config(&config(dot_port, tls, 1232 + 8 * (round as u32 + 1)));
        let applied = count(&service, "reload: generation");
        service.signal(Signal::SIGHUP);
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(&service, "reload: generation") == applied {
            assert!(Instant::now() < deadline, "the change was not applied:\n{}", service.log());
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let (tcp, dot) = (tcp.finish(), dot.finish());
    assert_eq!(count(&service, "canary READY"), restarts, "every change was a rolling one:\n{}", service.log());
    let output = udp.wait_with_output().expect("dnsperf finishes");
    let (udp_sent, udp_lost) = dnsperf_counts(&String::from_utf8_lossy(&output.stdout));
    Run { tcp, dot, udp_sent, udp_lost, drains: drain_times(&service.log()) }
}

/// dnsperf over UDP for the length of the run, 2,000 queries/s.
fn dnsperf(service: &Service, restarts: usize) -> std::process::Child {
    let data = service.dir.0.join("queries.txt");
    std::fs::write(&data, "a.example A\n").expect("write dnsperf input");
    let seconds = (restarts as u64 * 6 / 10 + 3).to_string();
    Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &service.port.to_string(), "-d"])
        .arg(&data)
        .args(["-l", &seconds, "-Q", "2000", "-c", "4", "-t", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsperf runs (installed by scripts/setup-system.sh)")
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

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (clients, restarts) = if full { (16, 10) } else { (4, 2) };
    let modes: &[bool] = if full { &[false, true] } else { &[false] };
    for &keepalive in modes {
        let run = run(keepalive, clients, restarts);
        let who = if keepalive { "clients sending edns-tcp-keepalive" } else { "clients without keepalive" };
        println!("{restarts} rolling restarts of 4 workers, {clients} TCP + {clients} DoT connections, {who}:");
        println!("  {}", line("TCP", &run.tcp));
        println!("  {}", line("DoT", &run.dot));
        println!("  UDP (dnsperf): {} sent, {} lost", run.udp_sent, run.udp_lost);
        let max = run.drains.iter().copied().fold(0.0, f64::max);
        println!(
            "  drain time per worker: median {:.0} ms, max {max:.0} ms (n={})",
            median(&run.drains),
            run.drains.len()
        );
        for tally in [&run.tcp, &run.dot] {
            for reason in &tally.reasons {
                println!("    unanswered: {reason}");
            }
            // Another build is measured, not judged.
            let ours = std::env::var_os("KRES_BENCH_MANAGER").is_none();
            assert!(!ours || tally.failed == 0, "a query failed after its retry: {tally:?}");
        }
    }
}
