//! The router without a socket (`tower::ServiceExt::oneshot`), over a real reconcile task that
//! drives the in-memory [`FakeBackend`]. Each worker's control socket is played by a small fake
//! kresd that accepts every chunk and answers statistics, so hot changes, metrics and cache
//! clears run their real code paths.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::audit::Journal;
use super::guard::{Access, Guard, Limits, Peer, Token};
use super::{ApiState, router};
use crate::backend::fake::FakeBackend;
use crate::backend::{Backend, Program};
use crate::layout::{Binaries, Layout, Timeouts};
use crate::reconcile::apply::Reconciler;
use crate::reconcile::reload::Reloader;
use crate::reconcile::store::Revision;
use crate::reconcile::task::{self, Status};

/// The status page's routes and what the guard does for browsers.
mod ui;

/// A fake kresd control socket: every chunk succeeds; statistics come from the counters here.
struct FakeKresd {
    pid: AtomicU32,
    answers: AtomicU64,
    /// Never answer (a hung worker).
    silent: AtomicBool,
}

fn frame(text: &str) -> Vec<u8> {
    let payload = [b"\x01kres:ok\x02".as_slice(), text.as_bytes()].concat();
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

impl FakeKresd {
    fn start(socket: &Path, pid: u32) -> Arc<FakeKresd> {
        let fake = Arc::new(FakeKresd {
            pid: AtomicU32::new(pid),
            answers: AtomicU64::new(0),
            silent: AtomicBool::new(false),
        });
        let _ = std::fs::remove_file(socket);
        let listener = tokio::net::UnixListener::bind(socket).expect("bind a fake control socket");
        let shared = fake.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fake = shared.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    let mut line = String::new();
                    while matches!(stream.read_line(&mut line).await, Ok(n) if n > 0) {
                        if line.trim_end() != "__binary" {
                            if fake.silent.load(Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_secs(60)).await;
                            }
                            let reply = fake.reply(&line);
                            if stream.get_mut().write_all(&frame(&reply)).await.is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        fake
    }

    fn reply(&self, line: &str) -> String {
        if line.contains("stats.list") {
            let answers = self.answers.load(Ordering::Relaxed);
            json!({
                "pid": self.pid.load(Ordering::Relaxed),
                "list": {"answer.total": answers, "answer.1ms": answers, "answer.slow": 0, "request.udp": answers},
                "worker": {"rss": 1000, "queries": answers, "concurrent": 0, "udp": 0, "tcp": 0, "tls": 0, "ipv4": 0,
                    "ipv6": 0, "timeout": 0, "dropped": 0, "err_udp": 0, "err_tcp": 0, "err_tls": 0, "err_http": 0,
                    "usertime": 0.5, "systime": 0.25, "pagefaults": 0, "swaps": 0, "csw": 1},
            })
            .to_string()
        } else if line.contains("worker.stats().concurrent") {
            "0".into()
        } else if line.contains("cache.clear") {
            r#"{"count":3}"#.into()
        } else {
            String::new()
        }
    }
}

pub(crate) struct Fixture {
    pub app: Router,
    pub state: ApiState,
    pub dir: PathBuf,
    pub stop: mpsc::Receiver<()>,
    kresd: Vec<Arc<FakeKresd>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CONFIG: &str = "rundir: {dir}/run
workers: 2
cache:
  storage: {dir}/cache
network:
  listen:
    - interface: 127.0.0.1@53535
local-data:
  addresses:
    a.example: 192.0.2.1
";

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kres-api-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("cache")).expect("temp dir");
    dir
}

/// The API over a reconcile task of two fake workers running [`CONFIG`]; the canary refuses
/// every config when `refuse_canary`.
async fn fixture_with(refuse_canary: bool) -> Fixture {
    fixture_guarded(refuse_canary, |_| Guard::default()).await
}

/// [`fixture_with`] whose requests `guard` (made in the fixture's directory) lets in.
async fn fixture_guarded(refuse_canary: bool, guard: impl FnOnce(&Path) -> Guard) -> Fixture {
    let dir = temp_dir();
    let guard = guard(&dir);
    let file = dir.join("config.yaml");
    std::fs::write(&file, CONFIG.replace("{dir}", &dir.display().to_string())).expect("config file");
    let layout = Layout::new(&dir.join("run"), None);
    layout.create().expect("layout");
    let kresd = crate::kresd::kresd_path();
    let target = crate::kresd::Target::find(&kresd).expect("the installed kresd");
    let validate = crate::reconcile::reload::validator(&target);
    let text = std::fs::read_to_string(&file).unwrap();
    let document = schema_core::yaml::parse(&text, Some("config.yaml")).expect("parses").to_json();
    let (config, _) = validate(&document).expect("valid");
    let binaries = Binaries::new(kresd.clone(), None);
    let timeouts =
        Timeouts { drain: Duration::from_millis(20), control: Duration::from_millis(500), ..Timeouts::default() };
    let mut backend = FakeBackend::new();
    backend.prepare(&layout.setup(&config, &binaries, &timeouts, None)).await.expect("prepare");
    if refuse_canary {
        backend.refuse_config(Program::Canary, &["error: this test refuses every new config"]);
    }
    let mut reconciler = Reconciler::new(backend, layout.clone(), binaries, target.dialect, timeouts, None);
    reconciler.start(config.clone()).await.expect("start");
    // Control sockets for workers added by a test too.
    let kresd_fakes = (0..4).map(|n| FakeKresd::start(&layout.control(Program::Worker(n)), 500 + n)).collect();
    let revision = Revision::new(1, document.clone(), config);
    let (handle, _task) =
        task::spawn(reconciler, revision, Vec::new(), Some(document), validate, layout.state_file()).await;
    let (stop_sender, stop) = mpsc::channel(1);
    let daemon = Reloader { handle, files: vec![file], target };
    let state = ApiState::with_guard(daemon, layout, stop_sender, Duration::from_millis(300), guard);
    Fixture { app: router(state.clone()), state, dir, stop, kresd: kresd_fakes }
}

async fn fixture() -> Fixture {
    fixture_with(false).await
}

/// A response: status, headers, body (JSON when it parses, else a string).
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn etag(&self) -> String {
        self.headers.get("etag").expect("an ETag header").to_str().unwrap().to_owned()
    }

    /// The `(pointer, message)` entries of an error body.
    fn errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("not an error body: {}", self.text))
            .iter()
            .map(|e| (e["pointer"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
            .collect()
    }
}

async fn send(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    send_from(app, None, method, uri, headers, body).await
}

/// [`send`] over a connection from `peer` (what the listener gives as `ConnectInfo`).
async fn send_from(
    app: &Router,
    peer: Option<Peer>,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(peer) = peer {
        request = request.extension(axum::extract::ConnectInfo(peer));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    Answer { status, headers, body, text }
}

async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Method::GET, uri, &[], "").await
}

const JSON: (&str, &str) = ("content-type", "application/json");

async fn put(app: &Router, uri: &str, body: &str) -> Answer {
    send(app, Method::PUT, uri, &[JSON], body).await
}

async fn patch(app: &Router, uri: &str, body: &str) -> Answer {
    send(app, Method::PATCH, uri, &[JSON], body).await
}

/// A status for metrics tests that need one.
pub(crate) fn status_for_metrics() -> Status {
    let document = json!({"workers": 2});
    let value = schema_core::Value::from_json(&document);
    let config =
        crate::config::validate(&value, &schema_core::FakeSystem::default(), Default::default()).expect("valid").config;
    Status {
        revision: Revision::new(1, document, Arc::new(config)),
        api_changes: Arc::new(Vec::new()),
        ready: Ok(()),
        processes: Vec::new(),
        last_apply: None,
        applies: 0,
    }
}

#[tokio::test]
async fn root_health_ready_schema_and_openapi() {
    let f = fixture().await;
    let root = get(&f.app, "/").await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.body["version"], crate::VERSION);
    assert_eq!(root.body["generation"], 1);
    assert_eq!(root.body["ready"], true);
    assert!(root.body["etag"].as_str().unwrap().starts_with('"'));
    assert_eq!(get(&f.app, "/health").await.body, json!({"status": "ok"}));
    let ready = get(&f.app, "/ready").await;
    assert_eq!((ready.status, ready.body["ready"].clone()), (StatusCode::OK, json!(true)));
    assert_eq!(get(&f.app, "/schema").await.body, crate::config::json_schema());
    assert_eq!(get(&f.app, "/openapi.json").await.body, super::openapi::document());
    let redirect = get(&f.app, "/metrics").await;
    assert!(redirect.status.is_redirection(), "{redirect:?}");
    assert_eq!(redirect.headers["location"], "/metrics/json");
}

#[tokio::test]
async fn a_hung_worker_makes_the_service_not_ready() {
    let f = fixture().await;
    assert_eq!(get(&f.app, "/ready").await.status, StatusCode::OK);
    // kresd1 hangs (SIGSTOP, a stuck loop): supervisord still says RUNNING.
    f.kresd[1].silent.store(true, Ordering::Relaxed);
    let began = std::time::Instant::now();
    let ready = get(&f.app, "/ready").await;
    assert!(began.elapsed() < Duration::from_secs(2), "answered within the timeout: {:?}", began.elapsed());
    assert_eq!((ready.status, ready.body["ready"].clone()), (StatusCode::SERVICE_UNAVAILABLE, json!(false)));
    let reason = ready.body["reason"].as_str().unwrap();
    assert!(reason.starts_with("kresd1 hangs: "), "{reason}");
    f.kresd[1].silent.store(false, Ordering::Relaxed);
    assert_eq!(get(&f.app, "/ready").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let f = fixture().await;
    for (method, path) in super::ROUTES {
        if *path == "/stop" {
            continue;
        }
        let uri = path
            .replace("{pointer}", "workers")
            .replace("{type}", "all")
            .replace("{version}", super::ui::assets::version())
            .replace("{name}", "app.js");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let answer = send(&f.app, method.clone(), &format!("{uri}?dry-run=true"), &[JSON], "").await;
        assert_ne!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}: {answer:?}");
        assert!(!answer.text.contains("no route"), "{method} {uri}: {answer:?}");
    }
    let none = get(&f.app, "/nope").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(none.errors(), [(String::new(), "no route /nope".to_owned())]);
    let wrong = send(&f.app, Method::POST, "/health", &[], "").await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.errors().len(), 1);
}

#[tokio::test]
async fn get_answers_the_value_at_the_pointer_with_the_etag_and_head_works() {
    let f = fixture().await;
    let whole = get(&f.app, "/v1/config").await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(whole.body["workers"], 2);
    let etag = whole.etag();
    assert_eq!(get(&f.app, "/v1/config/").await.body, whole.body);
    let workers = get(&f.app, "/v1/config/workers").await;
    assert_eq!((workers.status, workers.body.clone(), workers.etag()), (StatusCode::OK, json!(2), etag.clone()));
    let item = get(&f.app, "/v1/config/network/listen/0/interface").await;
    assert_eq!(item.body, "127.0.0.1@53535");
    let head = send(&f.app, Method::HEAD, "/v1/config/workers", &[], "").await;
    assert_eq!((head.status, head.text.as_str(), head.etag()), (StatusCode::OK, "", etag.clone()));
    let head = send(&f.app, Method::HEAD, "/v1/config/nothing", &[], "").await;
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    let head = send(&f.app, Method::HEAD, "/metrics/json", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test]
async fn missing_pointers_are_404_with_the_pointer() {
    let f = fixture().await;
    let missing = get(&f.app, "/v1/config/cache/size-max").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.errors()[0].0, "/cache/size-max");
    assert!(missing.headers.contains_key("etag"));
    let delete = send(&f.app, Method::DELETE, "/v1/config/local-data/addresses/b.example", &[], "").await;
    assert_eq!(delete.status, StatusCode::NOT_FOUND, "{delete:?}");
    assert_eq!(delete.errors()[0].0, "/local-data/addresses/b.example");
    let patched =
        patch(&f.app, "/v1/config/local-data", r#"[{"op": "replace", "path": "/records", "value": "x"}]"#).await;
    assert_eq!(patched.status, StatusCode::NOT_FOUND, "{patched:?}");
    assert_eq!(patched.errors()[0].0, "/local-data/records");
    assert_eq!(get(&f.app, "/processes/bogus").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_bodies_are_400_with_line_and_column() {
    let f = fixture().await;
    let json = put(&f.app, "/v1/config/workers", "{\"a\": [1,\n  }").await;
    assert_eq!(json.status, StatusCode::BAD_REQUEST, "{json:?}");
    let (_, message) = &json.errors()[0];
    assert!(message.contains("(at body:2:"), "{message}");
    let yaml = send(
        &f.app,
        Method::PUT,
        "/v1/config/logging",
        &[("content-type", "application/yaml")],
        "level: [debug\ngroups: x\n",
    )
    .await;
    assert_eq!(yaml.status, StatusCode::BAD_REQUEST, "{yaml:?}");
    assert!(yaml.errors()[0].1.contains("(at body:"), "{yaml:?}");
    let patch_shape = patch(&f.app, "/v1/config", r#"{"op": "add"}"#).await;
    assert_eq!(patch_shape.status, StatusCode::BAD_REQUEST);
    let unknown_op = patch(&f.app, "/v1/config", r#"[{"op": "frob", "path": "/workers"}]"#).await;
    assert_eq!(unknown_op.status, StatusCode::BAD_REQUEST, "{unknown_op:?}");
    let media = send(&f.app, Method::PUT, "/v1/config/workers", &[("content-type", "image/png")], "3").await;
    assert_eq!(media.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let empty = put(&f.app, "/v1/config/local-data", "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST, "an empty body is not a null");
    let flag = put(&f.app, "/v1/config/workers?dryrun=true", "3").await;
    assert_eq!(flag.status, StatusCode::BAD_REQUEST);
    assert_eq!(get(&f.app, "/v1/config/workers").await.body, 2, "nothing was applied");
}

#[tokio::test]
async fn preconditions_give_304_and_412() {
    let f = fixture().await;
    let etag = get(&f.app, "/v1/config").await.etag();
    let cached = send(&f.app, Method::GET, "/v1/config/workers", &[("if-none-match", &etag)], "").await;
    assert_eq!((cached.status, cached.text.as_str(), cached.etag()), (StatusCode::NOT_MODIFIED, "", etag.clone()));
    let stale = send(&f.app, Method::GET, "/v1/config", &[("if-match", "\"0000\"")], "").await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    let refused = send(&f.app, Method::PUT, "/v1/config/workers", &[JSON, ("if-match", "\"0000\"")], "3").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{refused:?}");
    let refused = send(&f.app, Method::PUT, "/v1/config/workers", &[JSON, ("if-none-match", "*")], "3").await;
    assert_eq!(refused.status, StatusCode::PRECONDITION_FAILED, "{refused:?}");
    assert_eq!(get(&f.app, "/v1/config/workers").await.body, 2);
    let applied = send(&f.app, Method::PUT, "/v1/config/workers", &[JSON, ("if-match", &etag)], "3").await;
    assert_eq!(applied.status, StatusCode::OK, "{applied:?}");
    let stale = send(&f.app, Method::PUT, "/v1/config/workers", &[JSON, ("if-match", &etag)], "2").await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "the old ETag no longer matches");
}

#[tokio::test]
async fn a_change_needing_a_service_restart_is_409_and_changes_nothing() {
    let f = fixture().await;
    let other = f.dir.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap();
    let answer = put(&f.app, "/v1/config/rundir", &json!(other).to_string()).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    assert_eq!(answer.errors()[0].0, "/rundir");
    assert_eq!(
        answer.errors()[0].1,
        "changing this needs a restart of the whole service: the rundir holds the supervisor's and the workers' \
         sockets and cannot move while they run",
        "said once, with the reason"
    );
    let root = get(&f.app, "/").await;
    assert_eq!(root.body["generation"], 1);
    let answer = put(&f.app, "/v1/config/management", r#"{"interface": "127.0.0.1@5001"}"#).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{answer:?}");
    // A dry run shows the plan instead.
    let plan = put(&f.app, "/v1/config/rundir?dry-run=true", &json!(other).to_string()).await;
    assert_eq!(plan.status, StatusCode::OK);
    assert_eq!(plan.body["plan"]["changes"][0]["impact"], "restart-required");
}

#[tokio::test]
async fn an_invalid_config_is_422_with_every_pointer() {
    let f = fixture().await;
    let answer = patch(
        &f.app,
        "/v1/config",
        r#"[{"op": "replace", "path": "/workers", "value": "lots"}, {"op": "add", "path": "/logging", "value": {"level": "loud"}}]"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    let pointers: Vec<String> = answer.errors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/workers", "/logging/level"], "{answer:?}");
    let answer = put(&f.app, "/v1/config/cache", r#"{"size-mux": "1G"}"#).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.errors()[0].1.contains("did you mean `size-max`"), "{answer:?}");
    let answer = patch(&f.app, "/v1/config", r#"[{"op": "test", "path": "/workers", "value": 3}]"#).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    assert_eq!(get(&f.app, "/").await.body["generation"], 1);
}

#[tokio::test]
async fn a_config_the_canary_rejects_is_422_with_kresds_output() {
    let f = fixture_with(true).await;
    let answer = put(&f.app, "/v1/config/network/listen/-", r#"{"interface": "127.0.0.1@53536"}"#).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    let (_, message) = &answer.errors()[0];
    assert!(message.contains("kresd refused the new configuration"), "{message}");
    assert!(message.contains("this test refuses every new config"), "{message}");
    assert_eq!(get(&f.app, "/v1/config/network/listen").await.body.as_array().unwrap().len(), 1);
    assert_eq!(get(&f.app, "/").await.body["generation"], 1);
}

#[tokio::test]
async fn put_appends_and_answers_when_applied_with_the_new_etag() {
    let f = fixture().await;
    let before = get(&f.app, "/v1/config").await.etag();
    let answer = put(&f.app, "/v1/config/network/listen/-", r#"{"interface": "127.0.0.1@53536"}"#).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["applied"], true);
    assert_eq!(answer.body["generation"], 2);
    assert_eq!(answer.body["plan"]["changes"][0]["pointer"], "/network/listen");
    assert_eq!(answer.body["plan"]["changes"][0]["impact"], "rolling");
    assert!(!answer.body["steps"].as_array().unwrap().is_empty());
    let etag = answer.etag();
    assert_ne!(etag, before);
    assert_eq!(answer.body["etag"], etag.as_str());
    let listen = get(&f.app, "/v1/config/network/listen").await;
    assert_eq!(listen.etag(), etag);
    assert_eq!(listen.body[1]["interface"], "127.0.0.1@53536");
    // Missing parents are created (a YAML body this time).
    let yaml =
        send(&f.app, Method::PUT, "/v1/config/logging/level", &[("content-type", "application/yaml")], "debug\n").await;
    assert_eq!(yaml.status, StatusCode::OK, "{yaml:?}");
    assert_eq!(yaml.body["plan"]["changes"][0]["impact"], "hot");
    assert_eq!(get(&f.app, "/v1/config/logging").await.body, json!({"level": "debug"}));
    // The same value again: nothing to apply.
    let again = put(&f.app, "/v1/config/logging/level", "\"debug\"").await;
    assert_eq!((again.status, again.body["applied"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(again.body["generation"], 3);
}

#[tokio::test]
async fn patch_runs_all_six_operations_and_keeps_value_types() {
    let f = fixture().await;
    let answer = patch(
        &f.app,
        "/v1/config",
        r#"[
            {"op": "test", "path": "/workers", "value": 2},
            {"op": "replace", "path": "/workers", "value": 3},
            {"op": "add", "path": "/local-data/addresses/b.example", "value": "192.0.2.2"},
            {"op": "copy", "from": "/local-data/addresses/a.example", "path": "/local-data/addresses/c.example"},
            {"op": "move", "from": "/local-data/addresses/c.example", "path": "/local-data/addresses/d.example"},
            {"op": "remove", "path": "/local-data/addresses/b.example"}
        ]"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["plan"]["workers"], json!([2, 3]));
    let workers = get(&f.app, "/v1/config/workers").await;
    assert_eq!(workers.text, "3", "a number stays a number");
    assert_eq!(
        get(&f.app, "/v1/config/local-data/addresses").await.body,
        json!({"a.example": "192.0.2.1", "d.example": "192.0.2.1"})
    );
    // Paths relative to the pointer.
    let relative = patch(
        &f.app,
        "/v1/config/local-data/addresses",
        r#"[{"op": "replace", "path": "/d.example", "value": "192.0.2.4"}]"#,
    )
    .await;
    assert_eq!(relative.status, StatusCode::OK, "{relative:?}");
    assert_eq!(get(&f.app, "/v1/config/local-data/addresses/d.example").await.body, "192.0.2.4");
    // Recorded: how the document now differs from the files (not the 7 operations sent), so the
    // record stays as small as the document however many changes are made.
    let recorded = json!([
        {"op": "replace", "path": "/workers", "value": 3},
        {"op": "add", "path": "/local-data/addresses/d.example", "value": "192.0.2.4"}
    ]);
    assert_eq!(json!(f.state.handle().status().api_changes.as_ref()), recorded);
    for n in 0..50 {
        let answer = put(&f.app, "/v1/config/local-data/addresses/d.example", &format!("\"192.0.2.{n}\"")).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    }
    assert_eq!(f.state.handle().status().api_changes.len(), 2, "50 more changes of one value: still 2");
    let back = put(&f.app, "/v1/config/workers", "2").await;
    assert_eq!(back.status, StatusCode::OK, "{back:?}");
    assert_eq!(
        json!(f.state.handle().status().api_changes.as_ref()),
        json!([{"op": "add", "path": "/local-data/addresses/d.example", "value": "192.0.2.49"}]),
        "a value set back to the file's is no change"
    );
}

#[tokio::test]
async fn delete_removes_the_value() {
    let f = fixture().await;
    let answer = send(&f.app, Method::DELETE, "/v1/config/network/listen/0", &[], "").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(get(&f.app, "/v1/config/network/listen").await.body, json!([]));
    let answer = send(&f.app, Method::DELETE, "/v1/config/local-data", &[], "").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(get(&f.app, "/v1/config/local-data").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_dry_run_returns_the_plan_and_changes_nothing() {
    let f = fixture().await;
    let before = get(&f.app, "/v1/config").await;
    let answer = put(&f.app, "/v1/config/workers?dry-run=true", "4").await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(answer.body["applied"], false);
    assert_eq!(answer.body["plan"]["workers"], json!([2, 4]));
    assert_eq!(answer.body["generation"], 1);
    assert_eq!(answer.etag(), before.etag());
    let after = get(&f.app, "/v1/config").await;
    assert_eq!((&after.body, after.etag()), (&before.body, before.etag()));
    assert!(f.state.handle().status().api_changes.is_empty());
    let reload = send(&f.app, Method::POST, "/reload/force?dry-run=true", &[], "").await;
    assert_eq!((reload.status, reload.body["applied"].clone()), (StatusCode::OK, json!(false)));
}

#[tokio::test]
async fn a_view_tag_no_rule_uses_is_noted_in_the_answer() {
    let f = fixture().await;
    // The notes about views (the fixture's config has others: defer, which kresd 5.6 lacks).
    let about_views = |answer: &Answer| -> Vec<Value> {
        let notes = answer.body["notes"].as_array().unwrap_or_else(|| panic!("notes: {answer:?}"));
        notes.iter().filter(|n| n["pointer"].as_str().is_some_and(|p| p.starts_with("/views"))).cloned().collect()
    };
    let plain = put(&f.app, "/v1/config/workers", "3").await;
    assert_eq!((plain.status, about_views(&plain)), (StatusCode::OK, vec![]), "{plain:?}");
    let views = r#"[{"subnets": ["10.0.0.0/8"], "tags": ["lan"]}, {"subnets": ["192.0.2.0/24"], "answer": "refused"}]"#;
    let dry = put(&f.app, "/v1/config/views?dry-run=true", views).await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    let notes = about_views(&dry);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["pointer"], "/views/0/tags/0");
    assert!(notes[0]["message"].as_str().unwrap().starts_with("tag `lan` is given to clients but no local-data rule"));
    let applied = put(&f.app, "/v1/config/views", views).await;
    assert_eq!((applied.status, about_views(&applied)), (StatusCode::OK, notes), "{applied:?}");
    // A rule that uses it: no note.
    let rule = r#"{"name": ["a.example"], "subtree": "empty", "tags": ["lan"]}"#;
    let used = put(&f.app, "/v1/config/local-data/rules", &format!("[{rule}]")).await;
    assert_eq!((used.status, about_views(&used)), (StatusCode::OK, vec![]), "{used:?}");
}

#[tokio::test]
async fn api_changes_survive_a_reload_unless_discarded() {
    let f = fixture().await;
    assert_eq!(put(&f.app, "/v1/config/workers", "3").await.status, StatusCode::OK);
    let unchanged = send(&f.app, Method::POST, "/reload", &[], "").await;
    assert_eq!(unchanged.status, StatusCode::OK, "{unchanged:?}");
    assert_eq!(unchanged.body["applied"], false);
    let config = f.dir.join("config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("192.0.2.1", "192.0.2.9")).unwrap();
    let reloaded = send(&f.app, Method::POST, "/renew", &[], "").await;
    assert_eq!(reloaded.status, StatusCode::OK, "{reloaded:?}");
    assert_eq!(reloaded.body["applied"], true);
    assert_eq!(get(&f.app, "/v1/config/workers").await.body, 3, "the API change is kept");
    assert_eq!(get(&f.app, "/v1/config/local-data/addresses/a.example").await.body, "192.0.2.9");
    let forced = send(&f.app, Method::POST, "/reload/force", &[], "").await;
    assert_eq!((forced.status, forced.body["applied"].clone()), (StatusCode::OK, json!(true)));
    let discarded = send(&f.app, Method::POST, "/reload?discard-api-changes=true", &[], "").await;
    assert_eq!(discarded.status, StatusCode::OK, "{discarded:?}");
    assert_eq!(get(&f.app, "/v1/config/workers").await.body, 2);
    // Invalid files: 422 with each problem's pointer and position; nothing changes.
    std::fs::write(&config, text.replace("workers: 2", "workers: many")).unwrap();
    let invalid = send(&f.app, Method::POST, "/reload", &[], "").await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY, "{invalid:?}");
    let (pointer, message) = &invalid.errors()[0];
    assert_eq!(pointer, "/workers");
    assert!(message.contains("config.yaml:2:10"), "{message}");
}

#[tokio::test]
async fn processes_list_every_process_with_its_generation() {
    let f = fixture().await;
    let all = get(&f.app, "/processes").await;
    let names: Vec<&str> = all.body.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"kresd0") && names.contains(&"kresd1") && names.contains(&"canary"), "{names:?}");
    let kresd = get(&f.app, "/processes/kresd").await;
    let workers = kresd.body.as_array().unwrap();
    assert_eq!(workers.len(), 2);
    let first = &workers[0];
    assert_eq!(first["type"], "kresd");
    assert_eq!(first["state"], "running");
    assert_eq!(first["generation"], 1);
    assert!(
        first["pid"].is_u64() && first["started"].is_u64() && first["restarts"] == 0 && first["failed"] == false,
        "{first}"
    );
    assert_eq!(get(&f.app, "/processes/all").await.body, all.body);
    let gc = get(&f.app, "/processes/gc").await;
    assert!(gc.body.as_array().unwrap().iter().all(|p| p["type"] == "gc"));
}

#[tokio::test]
async fn metrics_come_from_every_worker_and_never_go_backwards() {
    let f = fixture().await;
    f.kresd[0].answers.store(10, Ordering::Relaxed);
    f.kresd[1].answers.store(4, Ordering::Relaxed);
    let json = get(&f.app, "/metrics/json").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.body["workers"]["kresd0"]["list"]["answer.total"], 10);
    assert_eq!(json.body["workers"]["kresd1"]["worker"]["queries"], 4);
    assert_eq!(json.body["total"]["list"]["answer.total"], 14);
    assert_eq!(json.body["errors"], json!({}));
    // kresd0 restarts: a new pid, counters from zero.
    f.kresd[0].pid.store(900, Ordering::Relaxed);
    f.kresd[0].answers.store(3, Ordering::Relaxed);
    let json = get(&f.app, "/metrics/json").await;
    assert_eq!(json.body["workers"]["kresd0"]["list"]["answer.total"], 13);
    assert_eq!(json.body["total"]["list"]["answer.total"], 17);
    // kresd1 hangs: reported within the timeout, its last figures stay in the totals.
    f.kresd[1].silent.store(true, Ordering::Relaxed);
    let began = std::time::Instant::now();
    let prometheus = get(&f.app, "/metrics/prometheus").await;
    assert!(began.elapsed() < Duration::from_secs(2), "{:?}", began.elapsed());
    assert_eq!(prometheus.status, StatusCode::OK);
    assert_eq!(prometheus.headers["content-type"], super::metrics::PROMETHEUS_CONTENT_TYPE);
    let text = &prometheus.text;
    assert!(text.contains("kresd_up{instance=\"kresd0\"} 1\n"), "{text}");
    assert!(text.contains("kresd_up{instance=\"kresd1\"} 0\n"), "{text}");
    assert!(text.contains("kresd_answer_total_total{instance=\"kresd0\"} 13\n"), "{text}");
    assert!(text.contains("kresd_answer_latency_seconds_bucket{instance=\"kresd0\",le=\"+Inf\"} 13\n"), "{text}");
    assert!(text.contains("kres_manager_config_generation 1\n"), "{text}");
    assert!(text.contains("kres_manager_workers_ready 2\n"), "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    assert!(scrape.samples.iter().any(|s| s.metric == "kresd_up" && s.labels.get("instance") == Some("kresd1")));
    let json = get(&f.app, "/metrics/json").await;
    assert!(json.body["errors"]["kresd1"].as_str().unwrap().contains("did not answer"), "{}", json.text);
    assert_eq!(json.body["total"]["list"]["answer.total"], 17);
}

#[tokio::test]
async fn apply_durations_are_recorded_by_phase() {
    let f = fixture().await;
    super::metrics::spawn_recorder(&f.state);
    assert_eq!(put(&f.app, "/v1/config/workers", "3").await.status, StatusCode::OK);
    let text = get(&f.app, "/metrics/prometheus").await.text;
    assert!(text.contains("kres_manager_apply_duration_seconds_count{phase=\"total\"} 1\n"), "{text}");
    assert!(text.contains("kres_manager_apply_duration_seconds_count{phase=\"scale\"} 1\n"), "{text}");
    assert!(text.contains("kres_manager_last_apply_success 1\n"), "{text}");
    assert!(text.contains("kres_manager_config_generation 2\n"), "{text}");
}

#[tokio::test]
async fn cache_clear_runs_on_a_worker_and_validates_its_body() {
    let f = fixture().await;
    let cleared =
        send(&f.app, Method::POST, "/cache/clear", &[JSON], r#"{"name": "example.com", "chunk-size": 10}"#).await;
    assert_eq!((cleared.status, cleared.body.clone()), (StatusCode::OK, json!({"count": 3})));
    let everything = send(&f.app, Method::POST, "/cache/clear", &[], "").await;
    assert_eq!(everything.status, StatusCode::OK);
    let invalid =
        send(&f.app, Method::POST, "/cache/clear", &[JSON], r#"{"name": "a..b", "rr-type": "NOPE", "chunk-size": 0}"#)
            .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<String> = invalid.errors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/name", "/rr-type", "/chunk-size"]);
    // Knot Resolver 6's kresctl always sends its default chunk.
    let body = r#"{"exact-name": true, "name": "example.com.", "rr-type": "AAAA", "chunk-size": 100}"#;
    let kr6 = send(&f.app, Method::POST, "/cache/clear", &[JSON], body).await;
    assert_eq!(kr6.status, StatusCode::OK, "{:?}", kr6.body);
    let body = r#"{"exact-name": true, "name": "example.com.", "rr-type": "AAAA", "chunk-size": 10}"#;
    let pointless = send(&f.app, Method::POST, "/cache/clear", &[JSON], body).await;
    assert_eq!(pointless.status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<String> = pointless.errors().into_iter().map(|(p, _)| p).collect();
    assert_eq!(pointers, ["/chunk-size"]);
    let malformed = send(&f.app, Method::POST, "/cache/clear", &[JSON], "{").await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn stop_answers_then_asks_the_main_loop() {
    let mut f = fixture().await;
    let answer = send(&f.app, Method::POST, "/stop", &[], "").await;
    assert_eq!((answer.status, answer.body.clone()), (StatusCode::OK, json!({"stopping": true})));
    let asked = tokio::time::timeout(Duration::from_secs(2), f.stop.recv()).await.expect("asked in time");
    assert_eq!(asked, Some(()));
}

#[tokio::test]
async fn a_stopped_task_answers_503() {
    let f = fixture().await;
    f.state.handle().shutdown().await;
    let answer = put(&f.app, "/v1/config/workers", "3").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
}

// --- API protection: tokens, scopes, rate limiting, secrets, audit ---

const FULL_TOKEN: &str = "full-token-0123456789abcdef";
const READ_TOKEN: &str = "read-token-0123456789abcdef";
const SECRET: &str = "sticket-secret-0123456789abcdef-0123456789";

fn token_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The API over TCP with a full token `ops` and a read-only token `prometheus`; the journal's
/// lines are returned.
async fn fixture_with_tokens(limits: Limits) -> (Fixture, Arc<std::sync::Mutex<Vec<String>>>) {
    use crate::config::management::{ApiToken, TokenScope};
    let (journal, lines) = Journal::in_memory();
    let f = fixture_guarded(false, |dir| {
        let token = |name: &str, value: &str, scope| ApiToken {
            name: name.to_owned(),
            file: schema_core::FilePath(token_file(dir, name, value)),
            scope,
        };
        let tokens = Token::load_all(&[
            token("ops", FULL_TOKEN, TokenScope::Full),
            token("prometheus", READ_TOKEN, TokenScope::ReadOnly),
        ])
        .expect("tokens");
        Guard::new(Access::Tokens(tokens), limits, journal)
    })
    .await;
    (f, lines)
}

fn tcp(address: &str) -> Option<Peer> {
    Some(Peer::Tcp(address.parse().unwrap()))
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// A request over TCP from `peer` with `token` (none when empty).
async fn with_token(app: &Router, peer: &str, token: &str, method: Method, uri: &str, body: &str) -> Answer {
    let auth = bearer(token);
    let mut headers = vec![JSON];
    if !token.is_empty() {
        headers.push((auth.0, auth.1.as_str()));
    }
    send_from(app, tcp(peer), method, uri, &headers, body).await
}

/// `workers` in the running document (read without the API, which wants a token).
fn workers(f: &Fixture) -> Value {
    f.state.handle().status().revision.document["workers"].clone()
}

fn lines_of(lines: &Arc<std::sync::Mutex<Vec<String>>>) -> Vec<String> {
    lines.lock().unwrap().clone()
}

#[tokio::test]
async fn over_tcp_a_missing_or_wrong_token_is_401_and_logged_without_the_token() {
    let (f, lines) = fixture_with_tokens(Limits::default()).await;
    let client = "192.0.2.7:40000";
    let missing = with_token(&f.app, client, "", Method::GET, "/v1/config", "").await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED, "{missing:?}");
    assert_eq!(missing.headers["www-authenticate"], r#"Bearer realm="kres-manager""#);
    assert!(missing.errors()[0].1.contains("--token-file"), "{missing:?}");
    let wrong_token = "wrong-token-0123456789abcdef";
    let wrong = with_token(&f.app, client, wrong_token, Method::PUT, "/v1/config/workers", "3").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.headers["www-authenticate"], r#"Bearer realm="kres-manager", error="invalid_token""#);
    assert!(!wrong.text.contains(wrong_token));
    let basic = send_from(&f.app, tcp(client), Method::GET, "/", &[("authorization", "Basic b3BzOm9wcw==")], "").await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // Unknown routes and methods are 401 too: nothing is told before the token.
    assert_eq!(with_token(&f.app, client, "", Method::GET, "/nope", "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(with_token(&f.app, client, "", Method::POST, "/health", "").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(workers(&f), 2, "nothing was applied");
    // The right token: in.
    let ok = with_token(&f.app, client, FULL_TOKEN, Method::GET, "/v1/config/workers", "").await;
    assert_eq!((ok.status, ok.body.clone()), (StatusCode::OK, json!(2)));
    let lines = lines_of(&lines);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert_eq!(lines[0], "API: refused GET /v1/config from 192.0.2.7:40000: no token");
    assert_eq!(lines[1], "API: refused PUT /v1/config/workers from 192.0.2.7:40000: a wrong token");
    // Basic credentials are read too (the status page's login): their password is a wrong token.
    assert!(lines[2].ends_with("a wrong token"), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains(wrong_token) && !l.contains("b3BzOm9wcw")), "{lines:#?}");
}

#[tokio::test]
async fn a_read_only_token_reads_and_scrapes_metrics_but_may_not_change_anything() {
    let (f, lines) = fixture_with_tokens(Limits::default()).await;
    let client = "[2001:db8::7]:40000";
    for uri in ["/", "/v1/config", "/v1/config/workers", "/metrics/json", "/metrics/prometheus", "/processes"] {
        let answer = with_token(&f.app, client, READ_TOKEN, Method::GET, uri, "").await;
        assert_eq!(answer.status, StatusCode::OK, "GET {uri}: {answer:?}");
    }
    let head = send_from(
        &f.app,
        tcp(client),
        Method::HEAD,
        "/v1/config",
        &[(bearer(READ_TOKEN).0, &bearer(READ_TOKEN).1)],
        "",
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    for (method, uri, body) in [
        (Method::PUT, "/v1/config/workers", "3"),
        (Method::PATCH, "/v1/config", r#"[{"op": "replace", "path": "/workers", "value": 3}]"#),
        (Method::DELETE, "/v1/config/local-data", ""),
        (Method::POST, "/reload", ""),
        (Method::POST, "/cache/clear", ""),
        (Method::POST, "/stop", ""),
    ] {
        let answer = with_token(&f.app, client, READ_TOKEN, method.clone(), uri, body).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {uri}: {answer:?}");
        assert!(answer.errors()[0].1.contains("read-only"), "{answer:?}");
    }
    assert_eq!(workers(&f), 2, "nothing was applied");
    let lines = lines_of(&lines);
    assert_eq!(lines.len(), 6, "one audit line per refused change: {lines:#?}");
    assert_eq!(
        lines[0],
        "audit: token `prometheus` (read-only) from [2001:db8::7]:40000: PUT /v1/config/workers; result 403 \
         Forbidden: the token `prometheus` is read-only: it may only read (GET)"
    );
    // The full token may.
    let put = with_token(&f.app, client, FULL_TOKEN, Method::PUT, "/v1/config/workers", "3").await;
    assert_eq!(put.status, StatusCode::OK, "{put:?}");
}

#[tokio::test]
async fn refusals_from_one_address_are_rate_limited() {
    let limits = Limits { failures: 3, window: Duration::from_secs(60) };
    let (f, lines) = fixture_with_tokens(limits).await;
    let attacker = "198.51.100.1:1000";
    for n in 0..3 {
        let answer = with_token(&f.app, attacker, &format!("guess-{n}-0123456789abcdef"), Method::GET, "/", "").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Locked out: 429 with Retry-After, even with the right token, from any port of that address.
    for token in ["guess-4-0123456789abcdef", FULL_TOKEN] {
        let answer = with_token(&f.app, "198.51.100.1:2000", token, Method::GET, "/", "").await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
        let retry: u64 = answer.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
    // Another address is not affected.
    let other = with_token(&f.app, "198.51.100.2:1000", FULL_TOKEN, Method::GET, "/", "").await;
    assert_eq!(other.status, StatusCode::OK);
    let lines = lines_of(&lines);
    assert_eq!(lines.len(), 3, "the lockout is logged once, not each request: {lines:#?}");
    assert!(
        lines[2].ends_with(
            "a wrong token; that is 3 refusals within 60 s: requests from 198.51.100.1 are answered 429 for 60 s \
             (and not logged)"
        ),
        "{lines:#?}"
    );
}

#[tokio::test]
async fn the_session_ticket_secret_is_never_answered_and_a_round_trip_keeps_it() {
    let (f, lines) = fixture_with_tokens(Limits::default()).await;
    let client = "127.0.0.1:40000";
    let set = with_token(
        &f.app,
        client,
        FULL_TOKEN,
        Method::PUT,
        "/v1/config/network/tls/sticket-secret",
        &json!(SECRET).to_string(),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert!(!set.text.contains(SECRET), "{set:?}");
    let stored = |f: &Fixture| f.state.handle().status().revision.document["network"]["tls"]["sticket-secret"].clone();
    assert_eq!(stored(&f), SECRET);
    // Reading: every way shows the marker, for either token.
    for token in [FULL_TOKEN, READ_TOKEN] {
        for uri in ["/v1/config", "/v1/config/network", "/v1/config/network/tls"] {
            let answer = with_token(&f.app, client, token, Method::GET, uri, "").await;
            assert!(!answer.text.contains(SECRET), "{uri}: {answer:?}");
            assert!(answer.text.contains(r#""sticket-secret":"<redacted>""#), "{uri}: {answer:?}");
        }
        let one = with_token(&f.app, client, token, Method::GET, "/v1/config/network/tls/sticket-secret", "").await;
        assert_eq!(one.body, "<redacted>");
    }
    // A round trip of the whole document keeps the secret.
    let mut whole = with_token(&f.app, client, FULL_TOKEN, Method::GET, "/v1/config", "").await.body;
    whole["workers"] = json!(3);
    let back = with_token(&f.app, client, FULL_TOKEN, Method::PUT, "/v1/config", &whole.to_string()).await;
    assert_eq!(back.status, StatusCode::OK, "{back:?}");
    assert_eq!(stored(&f), SECRET, "the marker kept the secret");
    assert_eq!(workers(&f), 3);
    let tls = json!([{"op": "test", "path": "/sticket-secret", "value": "<redacted>"}, {"op": "add", "path": "/padding", "value": false}]);
    let patched =
        with_token(&f.app, client, FULL_TOKEN, Method::PATCH, "/v1/config/network/tls", &tls.to_string()).await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(stored(&f), SECRET);
    // Refusals never quote it.
    let wrong_test = json!([{"op": "test", "path": "/network/tls", "value": {}}]);
    let refused = with_token(&f.app, client, FULL_TOKEN, Method::PATCH, "/v1/config", &wrong_test.to_string()).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    assert!(!refused.text.contains(SECRET) && refused.text.contains("not shown"), "{refused:?}");
    let copy = json!([{"op": "copy", "from": "/network/tls/sticket-secret", "path": "/nsid"}]);
    let refused = with_token(&f.app, client, FULL_TOKEN, Method::PATCH, "/v1/config", &copy.to_string()).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
    let short = "short-secret-value";
    let refused = with_token(
        &f.app,
        client,
        FULL_TOKEN,
        Method::PUT,
        "/v1/config/network/tls/sticket-secret",
        &json!(short).to_string(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{refused:?}");
    assert_eq!(
        refused.errors(),
        [("/network/tls/sticket-secret".to_owned(), "\"<redacted>\" is shorter than 32 characters".to_owned())]
    );
    assert_eq!(stored(&f), SECRET);
    // Nor do the metrics, the audit or the refusals.
    let metrics = with_token(&f.app, client, READ_TOKEN, Method::GET, "/metrics/prometheus", "").await;
    assert!(!metrics.text.contains(SECRET));
    let json_metrics = with_token(&f.app, client, READ_TOKEN, Method::GET, "/metrics/json", "").await;
    assert!(!json_metrics.text.contains(SECRET));
    let lines = lines_of(&lines);
    assert!(lines.iter().any(|l| l.contains("add /network/tls/sticket-secret")), "{lines:#?}");
    assert!(lines.iter().all(|l| !l.contains(SECRET) && !l.contains(short)), "{lines:#?}");
}

#[tokio::test]
async fn every_change_is_audited_with_who_what_and_the_result() {
    let (journal, lines) = Journal::in_memory();
    let f = fixture_guarded(false, |_| Guard::new(Access::Socket, Limits::default(), journal)).await;
    let admin = Some(Peer::Unix { uid: Some(1000), pid: Some(4242) });
    let send = |method: Method, uri: &'static str, body: &'static str| {
        let (app, peer) = (f.app.clone(), admin.clone());
        async move { send_from(&app, peer, method, uri, &[JSON], body).await }
    };
    assert_eq!(send(Method::GET, "/v1/config", "").await.status, StatusCode::OK);
    assert_eq!(send(Method::PUT, "/v1/config/logging/level", "\"debug\"").await.status, StatusCode::OK);
    assert_eq!(send(Method::PUT, "/v1/config/workers?dry-run=true", "4").await.status, StatusCode::OK);
    assert_eq!(send(Method::PUT, "/v1/config/workers", "\"many\"").await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let patch =
        r#"[{"op": "move", "from": "/local-data/addresses/a.example", "path": "/local-data/addresses/b.example"}]"#;
    assert_eq!(send(Method::PATCH, "/v1/config", patch).await.status, StatusCode::OK);
    assert_eq!(send(Method::POST, "/reload", "").await.status, StatusCode::OK);
    assert_eq!(send(Method::POST, "/cache/clear", "").await.status, StatusCode::OK);
    let lines = lines_of(&lines);
    let who = "audit: uid 1000 (pid 4242) on the unix socket";
    assert_eq!(
        lines,
        [
            format!(
                "{who}: PUT /v1/config/logging/level: operations [add /logging]; plan [/logging/level hot]; result \
                 200 OK: applied, generation 2"
            ),
            format!(
                "{who}: PUT /v1/config/workers?dry-run=true: operations [add /workers]; plan [/workers hot]; result \
                 200 OK: dry run, nothing applied"
            ),
            format!(
                "{who}: PUT /v1/config/workers: operations [add /workers]; result 422 Unprocessable Entity: \
                 /workers: expected \"auto\" or an integer, found a string \"many\""
            ),
            format!(
                "{who}: PATCH /v1/config: operations [move /local-data/addresses/a.example → \
                 /local-data/addresses/b.example]; plan [/local-data/addresses/a.example hot, \
                 /local-data/addresses/b.example hot]; result 200 OK: applied, generation 3"
            ),
            format!("{who}: POST /reload; result 200 OK: nothing to apply, generation 3"),
            format!("{who}: POST /cache/clear; result 200 OK"),
        ]
    );
}

#[tokio::test]
async fn a_change_is_carried_out_and_audited_when_its_client_goes_away() {
    let (journal, lines) = Journal::in_memory();
    let f = fixture_guarded(false, |_| Guard::new(Access::Socket, Limits::default(), journal)).await;
    let request = Request::builder()
        .method(Method::PUT)
        .uri("/v1/config/workers")
        .header("content-type", "application/json")
        .body(Body::from("3"))
        .unwrap();
    // The client gives up at once: the future of its request is polled once, then dropped.
    {
        let mut request = std::pin::pin!(f.app.clone().oneshot(request));
        tokio::select! {
            biased;
            _ = &mut request => panic!("answered at the first poll?"),
            () = std::future::ready(()) => {}
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lines_of(&lines).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no audit line");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(lines_of(&lines)[0].contains("PUT /v1/config/workers"), "{:?}", lines_of(&lines));
    assert_eq!(get(&f.app, "/v1/config/workers").await.body, 3);
}

#[tokio::test]
async fn an_answer_lists_at_most_a_hundred_problems_and_says_how_many_more() {
    let f = fixture().await;
    let keys: Vec<String> = (0..1000).map(|i| format!("\"unknown-{i}\": {i}")).collect();
    let answer = put(&f.app, "/v1/config/options", &format!("{{{}}}", keys.join(", "))).await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{answer:?}");
    let errors = answer.errors();
    assert_eq!(errors.len(), super::error::MAX_ENTRIES + 1);
    assert!(errors[0].0.starts_with("/options/unknown-"), "{:?}", errors[0]);
    assert_eq!(
        errors[100],
        (String::new(), "and 900 more problems not listed here (`kresctl validate FILE` lists every one)".into())
    );
    assert!(answer.text.len() < 40_000, "{} bytes", answer.text.len());
}
