//! API protection end to end, with the real service (`kres-manager -c FILE`, supervisord, kresd
//! 5.6 workers): the API over TCP with token files (401 without or with a wrong token, a
//! read-only token limited to reading, the audit lines), over TCP without tokens (loopback only,
//! said at start-up), on a unix socket with the mode and group of the config (the audit names the
//! peer's uid), and the session-ticket secret kept out of answers and the log.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kres_tests::http::Reply;
use kres_tests::kresd::{TempDir, free_port};
use kres_tests::service::Service;
use serde_json::json;

const EXE: &str = env!("CARGO_BIN_EXE_kres-manager");
const KRESCTL: &str = env!("CARGO_BIN_EXE_kresctl");

/// Runs kresctl with `args` (and `KRES_API_TOKEN_FILE` when given): exit code, stdout, stderr.
fn kresctl(args: &[&str], token_file_env: Option<&Path>) -> (i32, String, String) {
    let mut command = std::process::Command::new(KRESCTL);
    command.args(args).env_remove("KRES_API_TOKEN_FILE");
    if let Some(file) = token_file_env {
        command.env("KRES_API_TOKEN_FILE", file);
    }
    let output = command.output().expect("run kresctl");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

const FULL_TOKEN: &str = "e2e-full-token-6f1c0a7d2b9e4c3a8d5f";
const READ_TOKEN: &str = "e2e-read-token-1b2c3d4e5f60718293a4";
const SECRET: &str = "e2e-sticket-secret-0123456789abcdef-XYZ";

/// One worker on the test's port, offline, answering from local data; `management` as given.
fn config(management: &str) -> String {
    kres_tests::service::config(1, &format!("{management}\n"))
}

/// A request to 127.0.0.1:`port` with `token` as a bearer token (none when empty).
fn tcp(port: u16, token: &str, method: &str, path: &str, body: &str) -> Reply {
    let authorization = format!("Bearer {token}");
    let mut headers = vec![("Content-Type", "application/json")];
    if !token.is_empty() {
        headers.push(("Authorization", &authorization));
    }
    kres_tests::http::tcp(port, method, path, &headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn unix(socket: &Path, method: &str, path: &str, body: &str) -> Reply {
    let headers = [("Content-Type", "application/json")];
    kres_tests::http::unix(socket, method, path, &headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// A token file (mode 0640, the service's group).
fn token_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(format!("{name}.token"));
    kres_tests::service::write_secret(&path, &format!("{token}\n"));
    path
}

#[test]
fn over_tcp_every_request_needs_a_token_and_every_change_is_audited() {
    let tokens = TempDir::new("api-auth-tokens");
    let api_port = free_port();
    let (full, read) = (token_file(&tokens.0, "ops", FULL_TOKEN), token_file(&tokens.0, "prom", READ_TOKEN));
    let management = format!(
        "management:\n  interface: 127.0.0.1@{api_port}\n  tokens:\n    - name: ops\n      file: {}\n    - name: \
         prometheus\n      file: {}\n      scope: read-only",
        full.display(),
        read.display()
    );
    let service = Service::start(Path::new(EXE), &config(&management));
    let log = service.log();
    assert!(log.contains("requires a token: `ops` (full), `prometheus` (read-only)"), "{log}");

    // Without a token, with a wrong one, with a malformed header: 401, nothing told.
    let missing = tcp(api_port, "", "GET", "/v1/config", "");
    assert_eq!(missing.status, 401, "{missing:?}");
    assert_eq!(missing.headers["www-authenticate"], r#"Bearer realm="kres-manager""#);
    let wrong_token = "not-the-token-0123456789abcdef";
    let wrong = tcp(api_port, wrong_token, "PUT", "/v1/config/workers", "2");
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert_eq!(tcp(api_port, "", "GET", "/no/such/route", "").status, 401);

    // The full token reads and changes; the read-only one reads and scrapes, and nothing more.
    let root = tcp(api_port, FULL_TOKEN, "GET", "/", "");
    assert_eq!((root.status, root.json()["generation"].clone()), (200, json!(1)), "{root:?}");
    let metrics = tcp(api_port, READ_TOKEN, "GET", "/metrics/prometheus", "");
    assert_eq!(metrics.status, 200, "{metrics:?}");
    assert!(metrics.text.contains("kres_manager_config_generation 1"), "{}", metrics.text);
    let denied = tcp(api_port, READ_TOKEN, "PUT", "/v1/config/local-data/addresses/b.example", "\"192.0.2.2\"");
    assert_eq!(denied.status, 403, "{denied:?}");
    let changed = tcp(api_port, FULL_TOKEN, "PUT", "/v1/config/local-data/addresses/b.example", "\"192.0.2.2\"");
    assert_eq!((changed.status, changed.json()["generation"].clone()), (200, json!(2)), "{changed:?}");

    // kresctl sends the token of --token-file or $KRES_API_TOKEN_FILE.
    let url = format!("http://127.0.0.1:{api_port}");
    let (code, _, stderr) = kresctl(&["--socket", &url, "status"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("401") && stderr.contains("--token-file"), "{stderr}");
    let full_path = full.display().to_string();
    let (code, stdout, stderr) =
        kresctl(&["--socket", &url, "--token-file", &full_path, "config", "get", "-p", "/workers"], None);
    assert_eq!((code, stdout.trim()), (0, "1"), "{stderr}");
    let (code, stdout, stderr) = kresctl(&["--socket", &url, "metrics", "--prometheus"], Some(&read));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("kres_manager_config_generation"), "{stdout}");
    let (code, _, stderr) = kresctl(&["--socket", &url, "config", "set", "-p", "/workers", "2"], Some(&read));
    assert_eq!(code, 1);
    assert!(stderr.contains("403") && stderr.contains("read-only"), "{stderr}");
    assert!(!stderr.contains(READ_TOKEN), "{stderr}");

    // The session-ticket secret: set, never answered, kept by a round trip, never in the log.
    let set = tcp(api_port, FULL_TOKEN, "PUT", "/v1/config/network/tls/sticket-secret", &json!(SECRET).to_string());
    assert_eq!(set.status, 200, "{set:?}\n--- log:\n{}", service.log());
    let whole = tcp(api_port, READ_TOKEN, "GET", "/v1/config", "");
    assert_eq!(whole.json()["network"]["tls"]["sticket-secret"], "<redacted>", "{whole:?}");
    assert!(!whole.text.contains(SECRET));
    let etag = whole.headers["etag"].clone();
    let mut document = whole.json();
    document["local-data"]["addresses"]["c.example"] = json!("192.0.2.3");
    let authorization = format!("Bearer {FULL_TOKEN}");
    let headers = [("Content-Type", "application/json"), ("Authorization", &authorization), ("If-Match", &etag)];
    let back = kres_tests::http::tcp(api_port, "PUT", "/v1/config", &headers, &document.to_string())
        .unwrap_or_else(|e| panic!("PUT /v1/config: {e}"));
    assert_eq!(back.status, 200, "{back:?}");
    let lua = std::fs::read_dir(service.rundir().join("lua"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .collect::<String>();
    assert!(lua.contains(SECRET), "the workers still get the secret");
    let short = "too-short-secret";
    let refused = tcp(api_port, FULL_TOKEN, "PUT", "/v1/config/network/tls/sticket-secret", &json!(short).to_string());
    assert_eq!(refused.status, 422, "{refused:?}");
    assert!(!refused.text.contains(short), "{refused:?}");

    // The log reaches the file through supervisord, a moment later.
    if let Err(error) = service.wait_log("audit: ", 6, Duration::from_secs(10)) {
        panic!("{error}\n--- log:\n{}", service.log());
    }
    let log = service.log();
    for (needle, what) in
        [(FULL_TOKEN, "the full token"), (READ_TOKEN, "the read-only token"), (wrong_token, "a wrong token")]
    {
        assert!(!log.contains(needle), "{what} is in the log:\n{log}");
    }
    assert!(!log.contains(SECRET) && !log.contains(short), "a secret is in the log:\n{log}");
    assert!(log.contains("API: refused GET /v1/config from 127.0.0.1:"), "{log}");
    assert!(log.contains(": no token"), "{log}");
    assert!(log.contains(": a wrong token"), "{log}");
    let audit: Vec<&str> = log.lines().filter(|l| l.contains("audit: ")).collect();
    assert_eq!(audit.len(), 6, "{audit:#?}");
    assert!(
        audit[0].contains("audit: token `prometheus` (read-only) from 127.0.0.1:")
            && audit[0].contains("PUT /v1/config/local-data/addresses/b.example; result 403 Forbidden"),
        "{audit:#?}"
    );
    assert!(
        audit[1].contains("audit: token `ops` (full) from 127.0.0.1:")
            && audit[1].contains(
                "PUT /v1/config/local-data/addresses/b.example: operations [add /local-data/addresses/b.example]; \
                 plan [/local-data/addresses/b.example hot]; result 200 OK: applied, generation 2"
            ),
        "{audit:#?}"
    );
    assert!(audit[2].contains("token `prometheus` (read-only)") && audit[2].contains("result 403"), "{audit:#?}");
    assert!(audit[3].contains("operations [add /network/tls]; plan [/network/tls/sticket-secret rolling]; result 200 OK: applied, generation 3"), "{audit:#?}");
    assert!(
        audit[4].contains(
            "PUT /v1/config: operations [replace (the whole document)]; plan [/local-data/addresses/c.example hot]; \
             result 200 OK: applied, generation 4"
        ),
        "{audit:#?}"
    );
    assert!(
        audit[5].contains("result 422 Unprocessable Entity: /network/tls/sticket-secret: \"<redacted>\" is shorter"),
        "{audit:#?}"
    );
}

#[test]
fn over_tcp_without_tokens_the_api_is_on_loopback_and_says_so() {
    let api_port = free_port();
    let management = format!("management:\n  interface: 0.0.0.0@{api_port}");
    let service = Service::start(Path::new(EXE), &config(&management));
    let log = service.log();
    assert!(
        log.contains(&format!(
            "the management API on http://127.0.0.1:{api_port} has no tokens: it listens on loopback only"
        )),
        "{log}"
    );
    let root = tcp(api_port, "", "GET", "/", "");
    assert_eq!(root.status, 200, "{root:?}");
    // Bound to loopback, not to every address.
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let loopback = format!("0100007F:{api_port:04X} 00000000:0000 0A");
    let any = format!("00000000:{api_port:04X} 00000000:0000 0A");
    assert!(listening.contains(&loopback) && !listening.contains(&any), "{listening}");
    let changed = tcp(api_port, "", "PUT", "/v1/config/local-data/addresses/b.example", "\"192.0.2.2\"");
    assert_eq!(changed.status, 200, "{changed:?}");
    service.wait_log("audit: ", 1, Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}\n{}", service.log()));
    let log = service.log();
    assert!(log.contains("audit: 127.0.0.1:") && log.contains("(no tokens configured): PUT"), "{log}");
}

/// A group of this system other than root's, for the socket.
fn some_group() -> (String, u32) {
    for name in ["knot-resolver", "nogroup", "daemon"] {
        if let Ok(Some(group)) = nix::unistd::Group::from_name(name) {
            return (name.to_owned(), group.gid.as_raw());
        }
    }
    panic!("none of the groups knot-resolver, nogroup, daemon exists");
}

#[test]
fn the_unix_socket_has_the_mode_and_group_of_the_config_and_the_audit_names_the_peer() {
    let (group, gid) = some_group();
    let management = format!(
        "management:\n  unix-socket: {{rundir}}/api.sock\n  unix-socket-mode: \"0660\"\n  unix-socket-group: {group}"
    );
    let service = Service::start(Path::new(EXE), &config(&management));
    let socket = service.rundir().join("api.sock");
    let metadata = std::fs::metadata(&socket).unwrap();
    assert_eq!((metadata.mode() & 0o777, metadata.gid()), (0o660, gid), "{}", service.log());
    // No token is needed on the socket; the audit names our uid and pid.
    let changed = unix(&socket, "PUT", "/v1/config/local-data/addresses/b.example", "\"192.0.2.2\"");
    assert_eq!(changed.status, 200, "{changed:?}");
    let uid = nix::unistd::getuid().as_raw();
    let needle = format!("audit: uid {uid} (pid {}) on the unix socket: PUT", std::process::id());
    // The log reaches the file through supervisord, a moment later.
    if let Err(error) = service.wait_log(&needle, 1, Duration::from_secs(10)) {
        panic!("{error}\n--- log:\n{}", service.log());
    }
}

/// The issue asks that nothing in the rundir be writable by every user. supervisord's sd_notify
/// socket is mode 0666, so it lives in `<rundir>/notify`, a directory of mode 0700 that only the
/// service's user may enter.
#[test]
fn nothing_in_the_rundir_is_writable_by_every_user() {
    let service = Service::start(Path::new(EXE), &config(""));
    let mut writable = Vec::new();
    // (path, reachable by every user: every directory on the way has o+x)
    let rundir = service.rundir();
    let reachable = std::fs::metadata(&rundir).unwrap().mode() & 0o001 != 0;
    let mut pending = vec![(rundir, reachable)];
    while let Some((dir, reachable)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let metadata = entry.path().symlink_metadata().unwrap();
            if metadata.file_type().is_symlink() {
                continue;
            }
            if reachable && metadata.mode() & 0o002 != 0 {
                writable.push(format!("{} {:o}", entry.path().display(), metadata.mode() & 0o7777));
            }
            if metadata.is_dir() {
                pending.push((entry.path(), reachable && metadata.mode() & 0o001 != 0));
            }
        }
    }
    assert!(writable.is_empty(), "writable by every user: {writable:#?}");
}
