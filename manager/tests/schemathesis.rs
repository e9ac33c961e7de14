//! API robustness with schemathesis: the real service (`kres-manager -c FILE`, supervisord, a
//! kresd 5.6 worker) with its API on a TCP listener that needs a bearer token, and
//! `schemathesis run` against the service's own `/openapi.json`, with the full-scope token.
//!
//! The checks: no server error (no 5xx at all, documented or not), every status code
//! documented for its operation, every response body valid against its documented schema,
//! every Content-Type and documented header as documented. Every operation but `POST /stop` is
//! run (see [`EXCLUDED`]), the changes included: schemathesis sends config edits, reloads and
//! cache clears, which the service must refuse with a 4xx (invalid, or needing a restart of the
//! whole service: 409) or apply. The run is bounded (`--max-examples`) and reproducible
//! (`--seed`, no example database); it takes well under two minutes.
//! `KRES_SCHEMATHESIS_SEED` and `KRES_SCHEMATHESIS_MAX_EXAMPLES` override both for a longer
//! hunt by hand (e.g. `KRES_SCHEMATHESIS_SEED=7 KRES_SCHEMATHESIS_MAX_EXAMPLES=500`).
//!
//! schemathesis comes from the test virtualenv that `scripts/setup-system.sh` installs
//! (`$KRES_TEST_VENV`, default `/opt/kres-manager/test-venv`); without it the test fails and
//! says so. The reports (JUnit, NDJSON with every request and response, the JSON summary) and
//! the service's log are kept in `target/tmp/schemathesis/` for a look after a failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::Service;
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");
const TOKEN: &str = "schemathesis-full-token-3e8a91c4d7b2f605";

/// The schemathesis series `scripts/setup-system.sh` installs (its CLI options and check names
/// are those of this series).
const SERIES: &str = "4.32.";

/// The checks: no 5xx, status codes, bodies, Content-Types and headers as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,\
                      content_type_conformance,response_headers_conformance";

/// Operations left out, and why. `POST /stop` stops the whole service: every request after it
/// would fail to connect (a failure of the run, not of the API), and the rest of the API would
/// go untested. `/stop` has its own end-to-end tests (`kresctl_service`).
const EXCLUDED: &[&str] = &["/stop"];

/// Test cases per operation and phase; with 34 operations this is about 3,000 requests.
const MAX_EXAMPLES: &str = "100";
const SEED: &str = "1";

/// Fewer requests than this means schemathesis tested (next to) nothing.
const MIN_REQUESTS: usize = 1500;

/// The whole run may take this long before it is killed (it takes about a minute).
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// The schemathesis of the test virtualenv (the test fails when it is missing or of another
/// series).
fn schemathesis() -> PathBuf {
    let venv =
        std::env::var_os("KRES_TEST_VENV").map_or_else(|| PathBuf::from("/opt/kres-manager/test-venv"), PathBuf::from);
    let exe = venv.join("bin/schemathesis");
    let setup = "run `bash scripts/setup-system.sh` (as root) to install it, or set KRES_TEST_VENV to a \
                 virtualenv with schemathesis 4.32.x";
    assert!(exe.is_file(), "{} is missing: {setup}", exe.display());
    let version =
        Command::new(&exe).arg("--version").output().unwrap_or_else(|e| panic!("{}: {e}: {setup}", exe.display()));
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert!(version.contains(&format!("version {SERIES}")), "{} is `{version}`, not {SERIES}x: {setup}", exe.display());
    exe
}

/// The environment's `name`, else `default`.
fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A token file (mode 0640, the service's group).
fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("schemathesis.token");
    kres_tests::service::write_secret(&path, &format!("{TOKEN}\n"));
    path
}

/// The report file of `kind` (`json`, `ndjson`, ...) in `dir`.
fn report(dir: &Path, kind: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&format!("{kind}-"))))
        .unwrap_or_else(|| panic!("schemathesis wrote no {kind} report in {}", dir.display()))
}

/// Every request schemathesis sent, from its NDJSON events: (operation, status code; 0 when
/// no response came).
fn requests(ndjson: &Path) -> Vec<(String, u16)> {
    let text = std::fs::read_to_string(ndjson).unwrap_or_else(|e| panic!("{}: {e}", ndjson.display()));
    let mut sent = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}: {line}", ndjson.display()));
        let Some(interactions) = event["ScenarioFinished"]["recorder"]["interactions"].as_object() else { continue };
        for interaction in interactions.values() {
            let request = &interaction["request"];
            let operation = format!(
                "{} {}",
                request["method"].as_str().unwrap_or("?"),
                request["uri"].as_str().unwrap_or("?").split('?').next().unwrap_or("?")
            );
            let status = interaction["response"]["status_code"].as_u64().unwrap_or(0);
            sent.push((operation, u16::try_from(status).unwrap_or(0)));
        }
    }
    sent
}

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    let exe = schemathesis();
    let tokens = TempDir::new("schemathesis-tokens");
    let api_port = free_port();
    let management = format!(
        "management:\n  interface: 127.0.0.1@{api_port}\n  tokens:\n    - name: schemathesis\n      file: {}\n",
        token_file(&tokens.0).display()
    );
    let mut service = Service::start(Path::new(EXE), &kres_tests::service::config(1, &management));
    let manager = service.processes()["manager"];

    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let mut command = Command::new(&exe);
    command
        .arg("run")
        .arg(format!("http://127.0.0.1:{api_port}/openapi.json"))
        .args(["--header", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", CHECKS])
        .args(EXCLUDED.iter().flat_map(|path| ["--exclude-path", path]))
        .args(["--max-examples", &setting("KRES_SCHEMATHESIS_MAX_EXAMPLES", MAX_EXAMPLES)])
        .args(["--seed", &setting("KRES_SCHEMATHESIS_SEED", SEED), "--generation-database", "none"])
        .args(["--workers", "1", "--request-timeout", "60", "--no-color"])
        .args(["--report", "junit,ndjson,json", "--report-dir"])
        .arg(&out)
        .env("NO_COLOR", "1")
        // It keeps a cache of the failures it found (for `st replay`) in `.schemathesis/` of its
        // working directory: in `out`, emptied each run, not in the work tree.
        .current_dir(&out)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(out.join("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(out.join("stderr.txt")).unwrap());
    let shown: Vec<String> = std::iter::once(exe.display().to_string())
        .chain(command.get_args().map(|a| a.to_string_lossy().replace(TOKEN, "$TOKEN")))
        .collect();
    println!("running: {}", shown.join(" "));
    let started = Instant::now();
    let mut child = command.spawn().expect("start schemathesis");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran longer than {RUN_LIMIT:?}; its output is in {}", out.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let elapsed = started.elapsed();
    std::fs::write(out.join("service.log"), service.log()).unwrap();
    let stdout = std::fs::read_to_string(out.join("stdout.txt")).unwrap_or_default();
    let stderr = std::fs::read_to_string(out.join("stderr.txt")).unwrap_or_default();
    // The summary (and any failure, with a curl line to reproduce it) goes to the test output.
    println!("{stdout}{stderr}");

    let summary: Value = serde_json::from_str(&std::fs::read_to_string(report(&out, "json")).unwrap())
        .unwrap_or_else(|e| panic!("the JSON report: {e}"));
    let sent = requests(&report(&out, "ndjson"));
    let mut by_status = BTreeMap::new();
    for (_, status) in &sent {
        *by_status.entry(*status).or_insert(0usize) += 1;
    }
    println!(
        "schemathesis {}: {} requests ({} test cases) to {} operations in {:.1} s; by status: {by_status:?}",
        summary["schemathesis_version"].as_str().unwrap_or("?"),
        sent.len(),
        summary["test_cases"]["generated"],
        summary["operations"]["tested"],
        elapsed.as_secs_f64(),
    );

    assert!(
        status.success() && summary["failures"].as_array().is_some_and(Vec::is_empty),
        "schemathesis found failures ({status}); reports and the service log in {}",
        out.display()
    );
    assert!(summary["errors"].as_array().is_some_and(Vec::is_empty), "schemathesis had errors: {}", summary["errors"]);
    // Our own count, independent of schemathesis's checks: not one 5xx, every request answered.
    let bad: Vec<&(String, u16)> = sent.iter().filter(|(_, status)| *status >= 500 || *status == 0).collect();
    assert!(bad.is_empty(), "server errors or no answer: {bad:?}");
    // It tested something, everything selected, and some changes were accepted.
    assert!(sent.len() >= MIN_REQUESTS, "only {} requests: schemathesis tested (next to) nothing", sent.len());
    let operations = &summary["operations"];
    assert_eq!(operations["tested"], operations["selected"], "not every selected operation was tested: {operations}");
    assert!(operations["tested"].as_u64() >= Some(30), "too few operations: {operations}");
    assert!(
        sent.iter().any(|(operation, status)| operation.starts_with("PUT ") && *status == 200),
        "no PUT was accepted: the run did not reach the apply path"
    );

    // The service went through it: the same manager, ready, nothing panicked.
    assert!(service.try_wait().is_none(), "the service exited:\n{}", service.log());
    assert_eq!(service.processes()["manager"], manager, "the manager was restarted:\n{}", service.log());
    let authorization = format!("Bearer {TOKEN}");
    let ready = kres_tests::http::tcp(api_port, "GET", "/ready", &[("Authorization", &authorization)], "")
        .unwrap_or_else(|e| panic!("GET /ready: {e}"));
    assert_eq!(ready.status, 200, "{ready:?}\n--- log:\n{}", service.log());
    // Changes were applied for real (from the document's examples), not only refused or planned.
    let root = kres_tests::http::tcp(api_port, "GET", "/", &[("Authorization", &authorization)], "")
        .unwrap_or_else(|e| panic!("GET /: {e}"));
    assert!(root.json()["generation"].as_u64() > Some(1), "no change was applied: {root:?}");
    let log = service.log();
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
}
