//! The real `kresctl` binary against a fake management API (a hyper server on a unix socket or
//! on loopback TCP, run by the test): what kresctl sends (method, path, query, headers, body),
//! what it prints for the contract's answers, and its exit status for every error status.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A request as the fake API received it.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: Option<String>,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }
}

/// A canned answer.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    content_type: &'static str,
    body: String,
    etag: Option<&'static str>,
    delay: Duration,
}

fn answer(status: u16, body: Value) -> Answer {
    Answer { status, content_type: "application/json", body: body.to_string(), etag: None, delay: Duration::ZERO }
}

fn ok(body: Value) -> Answer {
    answer(200, body)
}

fn error(status: u16, pointer: &str, message: &str) -> Answer {
    answer(status, json!({"errors": [{"pointer": pointer, "message": message}]}))
}

type Handler = Arc<dyn Fn(&Received) -> Answer + Send + Sync>;

/// The fake API: every request is recorded and answered by the handler.
struct FakeApi {
    /// What to give `--socket`.
    address: String,
    received: Arc<Mutex<Vec<Received>>>,
    _dir: TempDir,
}

impl FakeApi {
    fn unix(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> FakeApi {
        let dir = TempDir::new();
        let path = dir.path().join("api.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let received = Arc::new(Mutex::new(Vec::new()));
        serve(Listener::Unix(listener), Arc::new(handler), received.clone());
        FakeApi { address: path.display().to_string(), received, _dir: dir }
    }

    fn tcp(handler: impl Fn(&Received) -> Answer + Send + Sync + 'static) -> FakeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        serve(Listener::Tcp(listener), Arc::new(handler), received.clone());
        FakeApi { address, received, _dir: TempDir::new() }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().expect("lock").clone()
    }

    /// The only request received.
    fn one(&self) -> Received {
        let received = self.received();
        assert_eq!(received.len(), 1, "{received:#?}");
        received.into_iter().next().expect("one")
    }

    /// Runs kresctl with `--socket` at this API.
    fn kresctl(&self, args: &[&str]) -> Run {
        let mut all = vec!["--socket", self.address.as_str()];
        all.extend_from_slice(args);
        kresctl(&all, None)
    }
}

enum Listener {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

/// Serves on a thread of its own until the test process ends.
fn serve(listener: Listener, handler: Handler, received: Arc<Mutex<Vec<Received>>>) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async move {
            match listener {
                Listener::Unix(listener) => {
                    let listener = tokio::net::UnixListener::from_std(listener).expect("tokio listener");
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(connection(stream, handler.clone(), received.clone()));
                    }
                }
                Listener::Tcp(listener) => {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    while let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(connection(stream, handler.clone(), received.clone()));
                    }
                }
            }
        });
    });
}

async fn connection<S>(stream: S, handler: Handler, received: Arc<Mutex<Vec<Received>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        let received = received.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let request = Received {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                headers: parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    .collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            received.lock().expect("lock").push(request.clone());
            let answer = handler(&request);
            tokio::time::sleep(answer.delay).await;
            let mut response =
                hyper::Response::builder().status(answer.status).header("content-type", answer.content_type);
            if let Some(etag) = answer.etag {
                response = response.header("etag", etag);
            }
            response.body(Full::new(Bytes::from(answer.body)))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kresctl-api-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A finished kresctl.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn success(&self) -> &Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    #[track_caller]
    fn failure(&self) -> &Run {
        assert_eq!(self.code, 1, "{self:#?}");
        self
    }
}

fn kresctl(args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kresctl"));
    command.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // The machine's own config must not decide where the API is.
    command.env_remove("KRES_KRESD");
    let mut child = command.spawn().expect("kresctl runs");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("write stdin");
    drop(input);
    let output = child.wait_with_output().expect("kresctl ends");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A contract answer to a change.
fn change_answer(applied: bool) -> Value {
    json!({
        "generation": 8, "etag": "\"8-ab\"", "applied": applied,
        "plan": {
            "changes": [{"pointer": "/logging/level", "impact": "hot", "action": "log_level('debug') in every worker"}],
            "hot_lua": ["log_level('debug')"], "workers": [2, 2], "cache_gc": false
        },
        "steps": if applied { json!(["log level set in kresd0, kresd1"]) } else { json!([]) }
    })
}

#[test]
fn config_get_sends_the_pointer_and_prints_json_or_yaml() {
    let api = FakeApi::unix(|_| {
        let mut answer = ok(json!({"level": "debug", "groups": ["io"]}));
        answer.etag = Some("\"8-ab\"");
        answer
    });
    let run = api.kresctl(&["config", "get", "-p", "/logging"]);
    run.success();
    assert_eq!(run.stdout, "{\n  \"level\": \"debug\",\n  \"groups\": [\n    \"io\"\n  ]\n}\n");
    let request = api.one();
    assert_eq!(
        (request.method.as_str(), request.path.as_str(), request.query.as_deref()),
        ("GET", "/v1/config/logging", None)
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.header("host"), Some("localhost"));
    assert_eq!(request.body, "");

    let run = api.kresctl(&["config", "get", "-p", "logging", "--yaml"]);
    assert_eq!(run.success().stdout, "level: debug\ngroups:\n  - io\n");
    let run = api.kresctl(&["config", "get", "-p", "/logging", "--json"]);
    assert_eq!(run.success().stdout, "{\"level\":\"debug\",\"groups\":[\"io\"]}\n");
    // The whole config, with options after the command.
    let run = kresctl(&["config", "get", "--socket", &api.address], None);
    run.success();
    assert_eq!(api.received().last().expect("a request").path, "/v1/config");
}

#[test]
fn config_set_puts_the_value_as_json_with_etag_and_dry_run() {
    let api = FakeApi::unix(|request| ok(change_answer(request.query.is_none())));
    let run = api.kresctl(&["config", "set", "-p", "/logging/level", "debug", "--if-match", "8-aa", "--dry-run"]);
    run.success();
    let request = api.one();
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/v1/config/logging/level");
    assert_eq!(request.query.as_deref(), Some("dry-run=true"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("if-match"), Some("\"8-aa\""));
    assert_eq!(request.json(), json!("debug"));
    assert!(
        run.stdout.starts_with("Dry run, nothing applied (the running config is generation 8, ETag \"8-ab\")."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  /logging/level  hot (no restart)  log_level('debug') in every worker\n"),
        "{}",
        run.stdout
    );

    // Applied, appending to a list with a YAML value; numbers stay numbers.
    let api = FakeApi::unix(|request| ok(change_answer(request.query.is_none())));
    let run = api.kresctl(&["config", "set", "-p", "/network/listen/-", "{interface: 127.0.0.1@5353, kind: dns}"]);
    assert!(
        run.success().stdout.starts_with("Applied: the config is now generation 8, ETag \"8-ab\"."),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("Steps:\n  - log level set in kresd0, kresd1\n"), "{}", run.stdout);
    let request = api.one();
    assert_eq!((request.path.as_str(), request.query.as_deref()), ("/v1/config/network/listen/-", None));
    assert_eq!(request.header("if-match"), None);
    assert_eq!(request.json(), json!({"interface": "127.0.0.1@5353", "kind": "dns"}));
    api.kresctl(&["config", "set", "-p", "/workers", "4"]).success();
    assert_eq!(api.received()[1].json(), json!(4));
    api.kresctl(&["config", "set", "-p", "/nsid", "\"53\""]).success();
    assert_eq!(api.received()[2].json(), json!("53"));
    // --json prints the answer as it is.
    let run = api.kresctl(&["config", "set", "-p", "/workers", "4", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&run.success().stdout).expect("JSON"), change_answer(true));
}

#[test]
fn config_set_reads_files_and_standard_input() {
    let api = FakeApi::unix(|_| ok(change_answer(true)));
    let dir = TempDir::new();
    let file = dir.file("forward.yaml", "- subtree: example.\n  servers: [192.0.2.1]\n");
    api.kresctl(&["config", "set", "-p", "/forward", "--file", &file]).success();
    assert_eq!(api.one().json(), json!([{"subtree": "example.", "servers": ["192.0.2.1"]}]));
    let run = kresctl(&["--socket", &api.address, "config", "set", "-p", "/workers", "--file", "-"], Some("3\n"));
    run.success();
    assert_eq!(api.received()[1].json(), json!(3));
    // A syntax error is shown with its position and nothing is sent.
    let bad = dir.file("bad.yaml", "servers: [192.0.2.1\n");
    let run = api.kresctl(&["config", "set", "-p", "/forward", "--file", &bad]);
    assert!(run.failure().stderr.contains("bad.yaml:"), "{run:#?}");
    assert_eq!(api.received().len(), 2);
}

#[test]
fn config_delete_and_patch() {
    let api = FakeApi::unix(|_| ok(change_answer(true)));
    api.kresctl(&["config", "delete", "-p", "/network/listen/1", "--if-match", "\"8-ab\""]).success();
    let request = api.one();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("DELETE", "/v1/config/network/listen/1"));
    assert_eq!(request.header("if-match"), Some("\"8-ab\""));
    assert_eq!(request.body, "");

    let patch = r#"[{"op": "replace", "path": "/level", "value": "info"}]"#;
    let run =
        kresctl(&["config", "patch", "-p", "/logging", "--file", "-", "--dry-run", "-s", &api.address], Some(patch));
    run.success();
    let request = &api.received()[1];
    assert_eq!(request.method, "PATCH");
    assert_eq!((request.path.as_str(), request.query.as_deref()), ("/v1/config/logging", Some("dry-run=true")));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), serde_json::from_str::<Value>(patch).expect("JSON"));
    // A patch that is not a list is refused here.
    let run = kresctl(&["config", "patch", "--file", "-", "-s", &api.address], Some("{op: remove}"));
    assert!(run.failure().stderr.contains("a JSON Patch is a list of operations"), "{run:#?}");
    assert_eq!(api.received().len(), 2);
}

#[test]
fn every_error_status_exits_1_with_its_problems() {
    let cases: [(u16, &str); 6] = [
        (400, "kres-manager could not read the request"),
        (404, "nothing there"),
        (409, "this change needs a restart of the whole service"),
        (412, "the config changed since that ETag was read"),
        (422, "the config was refused; nothing was changed"),
        (500, "kres-manager failed internally"),
    ];
    for (status, headline) in cases {
        let api = FakeApi::unix(move |_| error(status, "/workers", "a problem here"));
        let run = api.kresctl(&["config", "set", "-p", "/workers", "300"]);
        run.failure();
        assert!(run.stderr.starts_with(&format!("error: {headline}")), "{run:#?}");
        assert!(run.stderr.contains(&format!(" ({status} ")), "{run:#?}");
        assert!(run.stderr.contains("  /workers: a problem here\n"), "{run:#?}");
        assert_eq!(run.stdout, "");
        // With --json the server's answer is on standard output too.
        let run = api.kresctl(&["config", "set", "-p", "/workers", "300", "--json"]);
        run.failure();
        assert_eq!(
            serde_json::from_str::<Value>(&run.stdout).expect("JSON"),
            json!({"errors": [{"pointer": "/workers", "message": "a problem here"}]})
        );
    }
    // Reads fail the same way.
    let api = FakeApi::unix(|_| error(404, "/nope", "no such key"));
    let run = api.kresctl(&["config", "get", "-p", "/nope"]);
    assert!(
        run.failure().stderr.contains("  /nope: no such key\nhint: `kresctl config get` shows the config"),
        "{run:#?}"
    );
    // An answer that is not JSON is an error, not a crash.
    let api = FakeApi::unix(|_| Answer { content_type: "text/plain", body: "hello".into(), ..ok(json!(null)) });
    let run = api.kresctl(&["config", "get"]);
    assert!(run.failure().stderr.contains("answered something that is not JSON"), "{run:#?}");
}

#[test]
fn plan_validates_files_here_then_sends_the_whole_document_as_a_dry_run() {
    let api = FakeApi::unix(|_| ok(change_answer(false)));
    let dir = TempDir::new();
    let base = dir.file("base.yaml", "workers: 2\nlogging:\n  level: debug\n");
    let extra = dir.file("extra.json", "{\"cache\": {\"size-max\": \"200M\"}}");
    let run = api.kresctl(&["plan", &base, &extra]);
    assert!(run.success().stdout.starts_with("Dry run, nothing applied"), "{run:#?}");
    let request = api.one();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("PUT", "/v1/config"));
    assert_eq!(request.query.as_deref(), Some("dry-run=true"));
    assert_eq!(request.json(), json!({"workers": 2, "logging": {"level": "debug"}, "cache": {"size-max": "200M"}}));

    // Invalid files: every problem with file:line:column, nothing sent.
    let bad = dir.file("bad.yaml", "workers: lots\nbogus: 1\n");
    let run = api.kresctl(&["plan", &bad]);
    run.failure();
    for expected in
        ["error: /workers:", "bad.yaml:1:10", "error: /bogus: unknown key", "2 problems found; nothing was sent"]
    {
        assert!(run.stderr.contains(expected), "missing {expected:?} in {run:#?}");
    }
    assert_eq!(api.received().len(), 1);

    // One change.
    api.kresctl(&["plan", "-p", "/workers", "4", "--if-match", "8-ab"]).success();
    let request = &api.received()[1];
    assert_eq!((request.path.as_str(), request.query.as_deref()), ("/v1/config/workers", Some("dry-run=true")));
    assert_eq!(request.header("if-match"), Some("\"8-ab\""));
    assert_eq!(request.json(), json!(4));
    // Neither files nor a change.
    assert!(api.kresctl(&["plan"]).failure().stderr.contains("name the config files to plan"));
    assert!(api.kresctl(&["plan", "-p", "/workers"]).failure().stderr.contains("with --pointer give one VALUE"));
}

#[test]
fn reload_variants_and_a_failed_reload() {
    let api = FakeApi::unix(|request| match request.path.as_str() {
        "/reload" => ok(change_answer(true)),
        _ => error(422, "", "kresd refused the config: error in /etc/knot-resolver/config.yaml"),
    });
    let run = api.kresctl(&["reload"]);
    assert!(run.success().stdout.starts_with("Applied:"), "{run:#?}");
    let request = api.one();
    assert_eq!((request.method.as_str(), request.path.as_str(), request.query.as_deref()), ("POST", "/reload", None));
    let run = api.kresctl(&["reload", "--force", "--discard-api-changes"]);
    run.failure();
    assert!(run.stderr.contains("kresd refused the config"), "{run:#?}");
    let request = &api.received()[1];
    assert_eq!((request.path.as_str(), request.query.as_deref()), ("/reload/force", Some("discard-api-changes=true")));
}

#[test]
fn stop_posts_and_says_so() {
    let api = FakeApi::unix(|_| ok(json!({"stopping": true})));
    assert_eq!(api.kresctl(&["stop"]).success().stdout, "kres-manager is stopping the service.\n");
    let request = api.one();
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/stop"));
    assert_eq!(api.kresctl(&["stop", "--json"]).success().stdout, "{\"stopping\":true}\n");
}

fn processes() -> Value {
    json!([
        {"name": "kresd0", "type": "kresd", "pid": 4242, "state": "running", "restarts": 0, "failed": false, "started": 1, "generation": 8},
        {"name": "kresd1", "type": "kresd", "pid": 4243, "state": "running", "restarts": 1, "failed": false, "started": 1, "generation": 8},
        {"name": "cache-gc", "type": "gc", "pid": null, "state": "fatal", "restarts": 5, "failed": true, "started": null, "generation": 8}
    ])
}

#[test]
fn status_shows_the_manager_readiness_and_processes() {
    let ready = std::sync::atomic::AtomicBool::new(true);
    let ready = Arc::new(ready);
    let flag = ready.clone();
    let api = FakeApi::unix(move |request| {
        let is_ready = flag.load(std::sync::atomic::Ordering::SeqCst);
        match request.path.as_str() {
            "/" => ok(json!({"version": "0.1.0", "generation": 8, "etag": "\"8-ab\"", "ready": is_ready})),
            "/processes" => ok(processes()),
            "/ready" => answer(503, json!({"ready": false, "reason": "kresd1 is starting"})),
            _ => error(404, "", "no route"),
        }
    });
    let run = api.kresctl(&["status"]);
    run.success();
    assert!(run.stdout.starts_with(&format!("kres-manager 0.1.0 at {}\n", api.address)), "{run:#?}");
    assert!(run.stdout.contains("config:  generation 8, ETag \"8-ab\"\nready:   yes\n"), "{run:#?}");
    assert!(run.stdout.contains("  NAME      TYPE   PID   STATE    RESTARTS  FAILED  UP"), "{run:#?}");
    assert!(run.stdout.contains("  cache-gc  gc     -     fatal    5         FAILED  -"), "{run:#?}");
    let paths: Vec<String> = api.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/", "/processes"]);

    ready.store(false, std::sync::atomic::Ordering::SeqCst);
    let run = api.kresctl(&["status"]);
    run.failure();
    assert!(run.stdout.contains("ready:   no: kresd1 is starting\n"), "{run:#?}");
    assert_eq!(api.received().last().expect("a request").path, "/ready");
    let run = api.kresctl(&["status", "--json"]);
    run.failure();
    let all: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(all["ready"], json!({"ready": false, "reason": "kresd1 is starting"}));
    assert_eq!(all["processes"], processes());
    assert_eq!(all["manager"]["generation"], json!(8));
}

#[test]
fn pids_one_per_line() {
    let api = FakeApi::unix(|_| ok(processes()));
    assert_eq!(api.kresctl(&["pids"]).success().stdout, "4242\n4243\n");
    assert_eq!(api.received()[0].path, "/processes/all");
    api.kresctl(&["pids", "gc"]).success();
    assert_eq!(api.received()[1].path, "/processes/gc");
    api.kresctl(&["pids", "kresd"]).success();
    assert_eq!(api.received()[2].path, "/processes/kresd");
}

#[test]
fn metrics_schema_and_cache_clear() {
    let api = FakeApi::unix(|request| match request.path.as_str() {
        "/metrics/json" => ok(json!({"kresd0": {"answer.total": 3}})),
        "/metrics/prometheus" => Answer {
            content_type: "text/plain; version=0.0.4",
            body: "# TYPE resolver_answer_total counter\nresolver_answer_total{instance_id=\"kresd0\"} 3\n".into(),
            ..ok(json!(null))
        },
        "/schema" => ok(json!({"type": "object"})),
        "/cache/clear" => ok(json!({"count": 12})),
        _ => error(404, "", "no route"),
    });
    let run = api.kresctl(&["metrics"]);
    assert_eq!(run.success().stdout, "{\n  \"kresd0\": {\n    \"answer.total\": 3\n  }\n}\n");
    let run = api.kresctl(&["metrics", "--prometheus"]);
    assert!(run.success().stdout.contains("resolver_answer_total{instance_id=\"kresd0\"} 3\n"), "{run:#?}");
    let run = api.kresctl(&["schema", "--live"]);
    assert_eq!(run.success().stdout, "{\n  \"type\": \"object\"\n}\n");
    let paths: Vec<String> = api.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/metrics/json", "/metrics/prometheus", "/schema"]);

    let run = api.kresctl(&["cache", "clear", "example.com.", "--exact-name", "--rr-type", "aaaa"]);
    assert_eq!(run.success().stdout, "{\n  \"count\": 12\n}\n");
    let request = &api.received()[3];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/cache/clear"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.json(), json!({"name": "example.com.", "exact-name": true, "rr-type": "AAAA"}));
    api.kresctl(&["cache", "clear"]).success();
    assert_eq!(api.received()[4].json(), json!({}));
    api.kresctl(&["cache", "clear", "example.com.", "--chunk-size", "10"]).success();
    assert_eq!(api.received()[5].json(), json!({"name": "example.com.", "chunk-size": 10}));
}

#[test]
fn unreachable_api_says_what_to_do() {
    let dir = TempDir::new();
    let missing = dir.path().join("missing.sock").display().to_string();
    let run = kresctl(&["status", "--socket", &missing], None);
    run.failure();
    assert_eq!(
        run.stderr,
        format!(
            "error: cannot connect to {missing} (given with --socket): no such file; is kres-manager running? (start it \
             with `kres-manager -c FILE`, or point kresctl at it with --socket)\n"
        )
    );
    // A socket file nobody listens on.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    let run = kresctl(&["status", "--socket", stale.to_str().expect("utf-8")], None);
    assert!(run.failure().stderr.contains("connection refused; is kres-manager running?"), "{run:#?}");
}

#[test]
fn a_slow_answer_times_out() {
    let api = FakeApi::unix(|_| Answer { delay: Duration::from_secs(5), ..ok(change_answer(true)) });
    let started = std::time::Instant::now();
    let run = api.kresctl(&["config", "set", "-p", "/workers", "2", "--timeout", "0.5"]);
    run.failure();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert!(run.stderr.contains("no answer within 0.5 s; the change may still be applied"), "{run:#?}");
}

#[test]
fn the_api_is_found_through_the_config_file() {
    let api = FakeApi::unix(|_| ok(processes()));
    let dir = TempDir::new();
    let config = dir.file("config.yaml", &format!("workers: 2\nmanagement:\n  unix-socket: {}\n", api.address));
    kresctl(&["pids", "-c", &config], None).success();
    assert_eq!(api.received().len(), 1);

    // TCP, written as the config writes it.
    let api = FakeApi::tcp(|_| ok(processes()));
    let port = api.address.rsplit(':').next().expect("port");
    let config = dir.file("tcp.yaml", &format!("management:\n  interface: 127.0.0.1@{port}\n"));
    assert_eq!(kresctl(&["pids", "--config", &config], None).success().stdout, "4242\n4243\n");
    assert_eq!(api.one().header("host"), Some(format!("127.0.0.1:{port}").as_str()));
    // --socket beats --config.
    let other = FakeApi::unix(|_| ok(processes()));
    kresctl(&["pids", "--config", &config, "--socket", &other.address], None).success();
    assert_eq!((api.received().len(), other.received().len()), (1, 1));

    // A broken config given with --config is an error naming the place.
    let bad = dir.file("bad.yaml", "management:\n  interface: 127.0.0.1\n");
    let run = kresctl(&["pids", "-c", &bad], None);
    assert!(run.failure().stderr.contains("/interface: 127.0.0.1 has no port"), "{run:#?}");
}

#[test]
fn completion_scripts() {
    for shell in ["bash", "zsh", "fish"] {
        let run = kresctl(&["completion", shell], None);
        assert!(run.success().stdout.contains("kresctl"), "{shell}");
        assert!(run.stdout.contains("reload"), "{shell}");
    }
}

/// A directory holding an executable `gdb` that only prints its arguments: for the argument
/// handling of `kresctl debug`, without stopping anything.
fn fake_gdb_dir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let gdb = dir.path().join("gdb");
    std::fs::write(&gdb, "#!/bin/sh\necho \"gdb $*\"\n").expect("write");
    std::fs::set_permissions(&gdb, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[test]
fn debug_attaches_gdb_to_the_processes_the_api_lists() {
    let api = FakeApi::unix(|request| match request.path.as_str() {
        "/processes/kresd" => ok(json!([
            {"name": "kresd0", "type": "kresd", "pid": 4100, "state": "running"},
            {"name": "kresd1", "type": "kresd", "pid": 4101, "state": "running"}
        ])),
        "/processes/all" => ok(json!([
            {"name": "kresd0", "type": "kresd", "pid": 4100, "state": "running"},
            {"name": "kresd1", "type": "kresd", "pid": 4101, "state": "running"},
            {"name": "cache-gc", "type": "gc", "pid": null, "state": "stopped"}
        ])),
        _ => error(404, "", "no route"),
    });
    let dir = fake_gdb_dir();
    let gdb = dir.path().join("gdb").display().to_string();
    let run = api.kresctl(&["debug", "--gdb", &gdb, "--print-only"]);
    assert_eq!(
        run.success().stdout,
        format!(
            "{gdb} -q -ex 'set schedule-multiple on' -ex 'attach 4100' -ex add-inferior -ex 'inferior 2' -ex 'attach \
             4101' -ex 'inferior 1' -ex 'echo \\nAttached to 2 processes; `inferior N` switches between them: 1 = \
             kresd0 (pid 4100), 2 = kresd1 (pid 4101).\\n'\n"
        )
    );
    // One worker by name; gdb's own arguments after `--`; gdb really run (it replaces kresctl).
    let run = api.kresctl(&["debug", "kresd1", "--gdb", &gdb, "--", "-batch", "-ex", "bt"]);
    assert_eq!(run.success().stdout, "gdb -q -ex attach 4101 -batch -ex bt\n");
    let paths: Vec<String> = api.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/processes/kresd", "/processes/all"]);
    // Names that are not running, or not there.
    let run = api.kresctl(&["debug", "cache-gc", "--gdb", &gdb]);
    assert_eq!(run.failure().stderr, "error: nothing to attach to: cache-gc is stopped\n");
    let run = api.kresctl(&["debug", "kresd7", "--gdb", &gdb]);
    assert!(
        run.failure().stderr.contains(
            "no process named `kresd7`: give kresd (every worker), gc, all, or one of: kresd0, kresd1, cache-gc"
        ),
        "{run:#?}"
    );
}

#[test]
fn debug_without_gdb_says_so_before_asking_the_api() {
    let empty = TempDir::new();
    let output = Command::new(env!("CARGO_BIN_EXE_kresctl"))
        .args(["--socket", "/nonexistent/api.sock", "debug"])
        .env("PATH", empty.path())
        .output()
        .expect("kresctl runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: gdb is not installed (`gdb` is not found on PATH): install it (on Debian: `apt install gdb`), or name \
         a debugger with --gdb PATH\n"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_kresctl"))
        .args(["--socket", "/nonexistent/api.sock", "debug", "--gdb", "/nonexistent/gdb"])
        .output()
        .expect("kresctl runs");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: cannot use --gdb /nonexistent/gdb: /nonexistent/gdb is not an executable file\n"
    );
}
