//! The management HTTP API (Knot Resolver 6's routes, with its defects fixed), served on a unix
//! socket or a TCP address (`management` in the config).
//!
//! # Theory of operation
//!
//! [`router`] is the whole route table. Handlers are thin: they read the request (bodies as
//! JSON or YAML by `Content-Type`, with schema-core's parser and its `line:column` report), turn
//! it into a [`Request`](crate::reconcile::task::Request) for the reconcile task or a query of
//! its [`Status`](crate::reconcile::task::Status), and turn the answer into a response. Every
//! failure is an [`ApiError`], answered as JSON `{"errors": [{"pointer", "message"}]}` with the
//! status that says whose fault it is: 4xx with every problem for the client's mistakes, an
//! opaque 500 (the details in the log) for ours.
//!
//! Config edits (`PUT`/`PATCH`/`DELETE /v1/config{pointer}`) become JSON Patch operations on
//! the document, applied by the task; `If-Match` / `If-None-Match` travel with them and are
//! checked by the task right before the apply, so check and apply are one atomic step.
//! Responses to config requests carry the `ETag` of the whole config.
//!
//! # Protection
//!
//! Every request passes [`guard::guard`] first: on the unix socket its mode and group decide who
//! may connect; over TCP a bearer token from `management.tokens` is needed (full or read-only),
//! refusals are rate-limited per address, and without tokens the listener is on loopback only.
//! Every request that may change something gets an audit line ([`audit`]). Secrets of the
//! configuration never appear in answers, error messages or logs ([`secrets`]). The rules are
//! written down in `docs/reliability.md`, "API protection".
//!
//! # Cancellation
//!
//! A request that may change something (any method but `GET` and `HEAD`) runs in a task of its
//! own once the guard let it in, so it is carried out to the end, and audited, even if its
//! client disconnects; a request whose body did not arrive whole changes nothing. Metrics and
//! cache requests talk to the workers' control sockets with timeouts and never wait for the
//! task.
//!
//! # Modules
//!
//! [`config`] the config, reload and renew routes; [`metrics`] statistics from the workers
//! (JSON and Prometheus, counters kept monotonic across worker restarts) and the manager's own;
//! [`cache`] `POST /cache/clear`; [`listen`] the socket; [`guard`] who may do what, [`audit`]
//! the audit log, [`secrets`] redaction; [`ui`] the status page for browsers (`/ui`, and the
//! `/status` and `/audit` it reads); [`openapi`] the OpenAPI document of all of it; [`error`]
//! [`ApiError`]; [`body`] reading bodies and query flags.

pub mod audit;
pub mod body;
pub mod cache;
pub mod config;
pub mod error;
pub mod guard;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod secrets;
pub mod ui;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::sync::mpsc;

pub use error::ApiError;
pub use listen::{Api, Endpoint, ListenError};

use crate::config::management::ManagementResolved;
use crate::layout::Layout;
use crate::reconcile::reload::Reloader;
use crate::reconcile::task::Handle;

/// How long a worker may take to answer a statistics request before it is reported as down.
pub const STATS_TIMEOUT: Duration = Duration::from_secs(1);

/// How long `cache.clear` may take on the worker that runs it.
pub const CACHE_CLEAR_TIMEOUT: Duration = Duration::from_secs(10);

/// What every handler shares (cheap to clone).
#[derive(Clone, Debug)]
pub struct ApiState(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    daemon: Reloader,
    layout: Layout,
    /// `POST /stop` asks the supervised manager's main loop through this.
    stop: mpsc::Sender<()>,
    metrics: metrics::Metrics,
    stats_timeout: Duration,
    guard: guard::Guard,
}

impl ApiState {
    /// The state for the API of `daemon`, whose workers' control sockets are in `layout`; a
    /// `POST /stop` sends on `stop`.
    pub fn new(daemon: Reloader, layout: Layout, stop: mpsc::Sender<()>) -> ApiState {
        ApiState::with_stats_timeout(daemon, layout, stop, STATS_TIMEOUT)
    }

    /// [`ApiState::new`] with another limit for a worker's statistics.
    pub fn with_stats_timeout(
        daemon: Reloader,
        layout: Layout,
        stop: mpsc::Sender<()>,
        stats_timeout: Duration,
    ) -> ApiState {
        ApiState::with_guard(daemon, layout, stop, stats_timeout, guard::Guard::default())
    }

    /// The state of an API whose requests `guard` lets in (the default lets everyone in, as on
    /// the unix socket).
    pub fn with_guard(
        daemon: Reloader,
        layout: Layout,
        stop: mpsc::Sender<()>,
        stats_timeout: Duration,
        guard: guard::Guard,
    ) -> ApiState {
        ApiState(Arc::new(Shared { daemon, layout, stop, metrics: metrics::Metrics::default(), stats_timeout, guard }))
    }

    pub fn guard(&self) -> &guard::Guard {
        &self.0.guard
    }

    pub fn handle(&self) -> &Handle {
        &self.0.daemon.handle
    }

    pub fn daemon(&self) -> &Reloader {
        &self.0.daemon
    }

    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    pub fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    pub fn stats_timeout(&self) -> Duration {
        self.0.stats_timeout
    }
}

/// Every route, as `(method, path)`; the OpenAPI document and the router are checked against
/// it. `{pointer}` stands for an RFC 6901 pointer (slashes included), `{type}` for a process
/// type.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/openapi.json"),
    ("GET", "/schema"),
    ("GET", "/v1/config"),
    ("PUT", "/v1/config"),
    ("PATCH", "/v1/config"),
    ("DELETE", "/v1/config"),
    ("GET", "/v1/config/{pointer}"),
    ("PUT", "/v1/config/{pointer}"),
    ("PATCH", "/v1/config/{pointer}"),
    ("DELETE", "/v1/config/{pointer}"),
    ("POST", "/reload"),
    ("POST", "/reload/force"),
    ("POST", "/renew"),
    ("POST", "/renew/force"),
    ("POST", "/stop"),
    ("GET", "/metrics"),
    ("GET", "/metrics/json"),
    ("GET", "/metrics/prometheus"),
    ("POST", "/cache/clear"),
    ("GET", "/processes"),
    ("GET", "/processes/{type}"),
    ("GET", "/status"),
    ("GET", "/audit"),
    ("GET", "/ui"),
    ("GET", "/ui/assets/{version}/{name}"),
];

/// The whole API. `GET` routes answer `HEAD` too. Every route (and every unknown one) is behind
/// [`guard::guard`].
pub fn router(state: ApiState) -> Router {
    use config::{delete_config, get_config, patch_config, put_config, reload};
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/openapi.json", get(openapi_document))
        .route("/schema", get(schema))
        .route("/v1/config", get(get_config).put(put_config).patch(patch_config).delete(delete_config))
        .route("/v1/config/", get(get_config).put(put_config).patch(patch_config).delete(delete_config))
        .route("/v1/config/{*pointer}", get(get_config).put(put_config).patch(patch_config).delete(delete_config))
        .route("/reload", post(reload))
        .route("/reload/force", post(reload))
        .route("/renew", post(reload))
        .route("/renew/force", post(reload))
        .route("/stop", post(stop))
        .route("/metrics", get(|| async { Redirect::permanent("/metrics/json") }))
        .route("/metrics/json", get(metrics::json))
        .route("/metrics/prometheus", get(metrics::prometheus))
        .route("/cache/clear", post(cache::clear))
        .route("/processes", get(processes))
        .route("/processes/{type}", get(processes_of))
        .route("/status", get(ui::overview::status))
        .route("/audit", get(ui::changes::audit))
        .route(ui::PAGE, get(ui::page))
        .route("/ui/assets/{version}/{name}", get(ui::asset))
        .fallback(|uri: Uri| async move { ApiError::NoRoute { path: uri.path().to_owned() } })
        .method_not_allowed_fallback(
            |uri: Uri| async move { ApiError::MethodNotAllowed { path: uri.path().to_owned() } },
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// `GET /`: what runs; a browser (asking for HTML) is sent to the status page instead.
async fn root(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if ui::wants_html(&headers) {
        return ui::to_the_page();
    }
    let status = state.handle().status();
    Json(json!({
        "version": crate::VERSION,
        "generation": status.revision.generation,
        "etag": status.revision.etag,
        "ready": status.ready.is_ok(),
    }))
    .into_response()
}

/// `GET /health`: the manager answers.
async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: every desired worker is READY and answering.
///
/// The task's view (every desired worker running) is not enough: a worker that hangs (stopped,
/// stuck) stays RUNNING for supervisord while the queries SO_REUSEPORT hashes to it are lost. So
/// every running worker must also answer on its control socket within the statistics timeout.
async fn ready(State(state): State<ApiState>) -> Response {
    let status = state.handle().status();
    let ready = match status.ready {
        Ok(()) => responsive(&state, &status).await,
        not_ready => not_ready,
    };
    match ready {
        Ok(()) => Json(json!({
            "ready": true,
            "generation": status.revision.generation,
            "workers": status.revision.config.workers,
        }))
        .into_response(),
        Err(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false, "reason": reason}))).into_response()
        }
    }
}

/// `Ok` unless a running worker of `status` accepts a connection on its control socket but does
/// not answer a trivial chunk within the statistics timeout (asked concurrently): it hangs. A
/// worker whose socket cannot be reached is left to the task's view (it is being restarted, by
/// a change or after a crash, and the canary or the others serve meanwhile).
async fn responsive(state: &ApiState, status: &crate::reconcile::task::Status) -> Result<(), String> {
    let timeout = state.stats_timeout();
    let mut asked = tokio::task::JoinSet::new();
    for process in status.processes.iter().filter(|p| p.kind == "kresd" && p.state == "running") {
        let Some(program) = crate::backend::Program::from_name(&process.name) else { continue };
        let (name, socket) = (process.name.clone(), state.layout().control(program));
        asked.spawn(async move { (name, crate::kresd::control::eval(&socket, "1", timeout).await) });
    }
    let mut silent = Vec::new();
    while let Some(joined) = asked.join_next().await {
        if let Ok((name, Err(error @ crate::kresd::control::ControlError::Timeout { .. }))) = joined {
            silent.push(format!("{name} hangs: {error}"));
        }
    }
    silent.sort();
    if silent.is_empty() { Ok(()) } else { Err(silent.join(", ")) }
}

async fn openapi_document() -> Json<serde_json::Value> {
    Json(openapi::document())
}

/// `GET /schema`: the JSON Schema of the configuration.
async fn schema() -> Json<serde_json::Value> {
    Json(crate::config::json_schema())
}

/// How long `POST /stop` leaves for its own answer to go out before the service stops.
const STOP_DELAY: Duration = Duration::from_millis(100);

/// `POST /stop`: answers, then the supervised manager stops every process and the supervisor.
async fn stop(State(state): State<ApiState>) -> Result<Json<serde_json::Value>, ApiError> {
    tracing::info!("stop requested through the API");
    let sender = state.0.stop.clone();
    if sender.is_closed() {
        return Err(ApiError::Unavailable("the service cannot be stopped from here; it is already stopping".into()));
    }
    tokio::spawn(async move {
        tokio::time::sleep(STOP_DELAY).await;
        let _ = sender.send(()).await;
    });
    Ok(Json(json!({"stopping": true})))
}

/// `GET /processes`: every process with the config generation it runs.
async fn processes(State(state): State<ApiState>) -> Json<serde_json::Value> {
    Json(process_list(&state, |_| true))
}

/// `GET /processes/{type}`: `all`, `kresd` (the workers) or `gc`.
async fn processes_of(
    State(state): State<ApiState>,
    Path(kind): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match kind.as_str() {
        "all" => Ok(Json(process_list(&state, |_| true))),
        "kresd" | "gc" | "canary" => Ok(Json(process_list(&state, |k| k == kind))),
        _ => Err(ApiError::NotFound {
            pointer: String::new(),
            message: format!("no process type `{kind}`; the types are all, kresd, gc and canary"),
        }),
    }
}

fn process_list(state: &ApiState, keep: impl Fn(&str) -> bool) -> serde_json::Value {
    let status = state.handle().status();
    let generation = status.revision.generation;
    status
        .processes
        .iter()
        .filter(|p| keep(p.kind))
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.kind,
                "pid": p.pid,
                "state": p.state,
                "restarts": p.restarts,
                "failed": p.failed,
                "started": p.started,
                "generation": generation,
            })
        })
        .collect()
}

/// Starts the API on the endpoint `management` names, serving `daemon` (a spawned task; the
/// returned [`Api`] removes the socket file when dropped). `stop` receives `POST /stop`.
///
/// Over TCP, the tokens are read now (an unusable token file is an error: the API does not
/// start); without tokens, an address that is not loopback is refused and the start-up log
/// says that every local user may use the API.
pub async fn start(
    daemon: Reloader,
    layout: Layout,
    management: &ManagementResolved,
    stop: mpsc::Sender<()>,
) -> Result<Api, ListenError> {
    let endpoint = Endpoint::from_management(management)?;
    let permissions = listen::SocketPermissions::from_management(management)?;
    let access = match &endpoint {
        Endpoint::Unix(_) => guard::Access::Socket,
        Endpoint::Tcp(address) if management.tokens.is_empty() => {
            if !address.ip().is_loopback() {
                return Err(ListenError::NotLoopback { address: *address });
            }
            tracing::warn!(
                "the management API on http://{address} has no tokens: it listens on loopback only, and every \
                 local user may use it; add `management.tokens` to require a token"
            );
            guard::Access::Loopback
        }
        Endpoint::Tcp(address) => {
            let tokens = guard::Token::load_all(&management.tokens)?;
            let names: Vec<String> = tokens.iter().map(|t| format!("`{}` ({})", t.name, t.scope)).collect();
            tracing::info!("the management API on http://{address} requires a token: {}", names.join(", "));
            guard::Access::Tokens(tokens)
        }
    };
    let mut guard = guard::Guard::new(access, guard::Limits::default(), audit::Journal::default());
    if let Endpoint::Tcp(address) = &endpoint {
        guard = guard.on(*address);
    }
    let state = ApiState::with_guard(daemon, layout, stop, STATS_TIMEOUT, guard);
    metrics::spawn_recorder(&state);
    listen::serve_with(endpoint, &permissions, router(state)).await
}
