//! The real `kresctl` against the real service (`kres-manager -c` with supervisord and kresd 5.6):
//! the commands an operator types, their output and exit status.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use kres_tests::service::Service;

const MANAGER: &str = env!("CARGO_BIN_EXE_kres-manager");
const KRESCTL: &str = env!("CARGO_BIN_EXE_kresctl");

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
