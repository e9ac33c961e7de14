//! The status page in a real browser: the real service (`kres-manager -c FILE`, supervisord from
//! the virtualenv, two kresd 5.6 workers and the cache GC) with its API on a TCP listener that
//! needs a token (`ops`, full; `viewer`, read-only), and the cases of
//! `manager/tests/ui/page.test.mjs` run by Node's test runner, driving Debian's chromium through
//! playwright-core. The cases act on the service themselves (dnsperf load, API changes, a
//! `kill -9` of a worker), as an operator next to the page would.
//!
//! Nothing is skipped: without chromium, node, dnsperf or playwright-core the test fails and
//! says how to install them (`bash scripts/setup-browser.sh`, which `scripts/setup-system.sh`
//! runs).
//!
//! With `KRES_UI_SCREENSHOT=FILE` (an absolute path) it also writes a screenshot of the page
//! under load to FILE, and with `KRES_UI_SCREENSHOT_PHONE=FILE` one on a phone-sized screen in
//! the dark theme (`scripts/screenshot-ui.sh` regenerates `docs/status-page.png` so).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::Service;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");
const FULL_TOKEN: &str = "ui-full-token-4d2a9c71e0b85f36";
const READ_TOKEN: &str = "ui-read-token-8b1e6f03a7c95d24";
/// The whole browser run may take this long (it takes well under a minute).
const RUN_LIMIT: Duration = Duration::from_secs(300);

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// Fails, with what to do, when something the browser tests need is missing.
fn check_prerequisites() {
    let setup = "install it with `bash scripts/setup-browser.sh` (scripts/setup-system.sh runs it)";
    assert!(Path::new("/usr/bin/chromium").exists(), "/usr/bin/chromium is missing: {setup}");
    let node = Command::new("node").arg("--version").output();
    assert!(node.as_ref().is_ok_and(|o| o.status.success()), "node does not run ({node:?}): {setup}");
    let playwright = ui_dir().join("node_modules/playwright-core/package.json");
    assert!(
        playwright.exists(),
        "{} is missing: run `npm ci` in {} or {setup}",
        playwright.display(),
        ui_dir().display()
    );
    let dnsperf = Command::new("dnsperf").arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(dnsperf.is_ok(), "dnsperf is missing: install it with `bash scripts/setup-system.sh`");
}

/// Runs `node ARGS` in the tests' directory with the service's coordinates; panics with its
/// output when it fails or outlives [`RUN_LIMIT`].
fn node(args: &[&str], env: &[(&str, String)]) -> String {
    let dir = TempDir::new("ui-browser-output");
    let (stdout, stderr) = (dir.0.join("stdout"), dir.0.join("stderr"));
    let mut child = Command::new("node")
        .args(args)
        .current_dir(ui_dir())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        std::fs::read_to_string(&stdout).unwrap_or_default(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    match status {
        Some(status) if status.success() => output,
        Some(status) => panic!("node {args:?} failed ({status}):\n{output}"),
        None => panic!("node {args:?} ran longer than {RUN_LIMIT:?}:\n{output}"),
    }
}

#[test]
fn the_status_page_in_a_real_browser() {
    check_prerequisites();
    let tokens = TempDir::new("ui-browser-tokens");
    let api_port = free_port();
    let token_file = |name: &str, token: &str| {
        let path = tokens.0.join(format!("{name}.token"));
        kres_tests::service::write_secret(&path, &format!("{token}\n"));
        path
    };
    let (full, read) = (token_file("ops", FULL_TOKEN), token_file("viewer", READ_TOKEN));
    let management = format!(
        "management:\n  interface: 127.0.0.1@{api_port}\n  tokens:\n    - name: ops\n      file: {}\n    - name: \
         viewer\n      file: {}\n      scope: read-only\n",
        full.display(),
        read.display()
    );
    let service = Service::start(Path::new(EXE), &kres_tests::service::config(2, &management));
    let env = [
        ("KRES_UI_URL", format!("http://127.0.0.1:{api_port}")),
        ("KRES_UI_TOKEN_FULL", FULL_TOKEN.to_owned()),
        ("KRES_UI_TOKEN_READ", READ_TOKEN.to_owned()),
        ("KRES_UI_DNS_PORT", service.port.to_string()),
    ];
    let report = node(&["--test", "--test-reporter=spec", "page.test.mjs"], &env);
    println!("{report}");
    // Every case ran and passed (a case that is not reached is no pass).
    let script = std::fs::read_to_string(ui_dir().join("page.test.mjs")).expect("read page.test.mjs");
    let cases = script.lines().filter(|l| l.starts_with("test(")).count();
    let passed = report.lines().find_map(|l| l.trim().strip_prefix("ℹ pass ")).and_then(|n| n.parse::<usize>().ok());
    assert!(cases >= 10, "{cases} cases in page.test.mjs");
    assert_eq!(passed, Some(cases), "every case of page.test.mjs passed:\n{report}");

    if let Some(file) = std::env::var_os("KRES_UI_SCREENSHOT") {
        let mut args = vec!["screenshot.mjs".to_owned()];
        args.extend(
            [Some(file), std::env::var_os("KRES_UI_SCREENSHOT_PHONE")]
                .into_iter()
                .flatten()
                .map(|f| f.into_string().expect("a UTF-8 path")),
        );
        assert!(args[1..].iter().all(|f| Path::new(f).is_absolute()), "screenshot paths must be absolute: {args:?}");
        println!("{}", node(&args.iter().map(String::as_str).collect::<Vec<_>>(), &env));
    }
    let log = service.log();
    assert!(!log.contains("panicked"), "{log}");
}
