//! [`ApiError`]: every way a request can fail, and the response each one is.
//!
//! The body is always `{"errors": [{"pointer": "...", "message": "..."}]}`: one entry per
//! problem, `pointer` an RFC 6901 pointer into the config document (or the request body, for
//! body syntax errors and `/cache/clear` fields), `""` when the problem is about nothing in
//! particular. Client mistakes are 4xx with every problem; our own faults are logged and
//! answered 500 with an opaque message. Messages about a secret's place never show its value
//! ([`super::secrets::sanitize`]).

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use schema_core::Report;
use serde_json::json;

use crate::config::patch::PatchError;
use crate::kresd::control::ControlError;
use crate::reconcile::apply::ApplyError;
use crate::reconcile::task::RequestError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not well-formed JSON or YAML (each problem with its `line:column`).
    #[error("the request body is malformed:\n{0}")]
    Syntax(Report),
    /// Something else about the request is malformed (a query parameter, a pointer, the shape
    /// of a JSON Patch).
    #[error("{message}")]
    BadRequest { pointer: String, message: String },
    #[error("the body's Content-Type {0:?} is neither JSON nor YAML")]
    UnsupportedMediaType(String),
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The pointer names nothing in the configuration.
    #[error("{pointer}: {message}")]
    NotFound { pointer: String, message: String },
    #[error("no route {path}")]
    NoRoute { path: String },
    #[error("{path} does not take this method")]
    MethodNotAllowed { path: String },
    /// The request is understood but its content is invalid (every problem, with pointers).
    #[error("{}", entries_text(.0))]
    Unprocessable(Vec<(String, String)>),
    /// The config files are invalid (a reload); every problem with its `file:line:column`.
    #[error("the config files are invalid:\n{0}")]
    InvalidFiles(Report),
    /// The reconcile task refused or failed the request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A worker's control socket failed (a `/cache/clear`).
    #[error(transparent)]
    Worker(#[from] ControlError),
    /// Nothing can serve the request right now (no running worker, the service stopping).
    #[error("{0}")]
    Unavailable(String),
    /// Our own fault; the text goes to the log only.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request has no valid token (the API over TCP); the text says what was wrong, never
    /// what was sent.
    #[error("{message}")]
    Unauthorized { message: String, invalid_token: bool },
    /// The token is valid but its scope does not allow the request.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests with a wrong token from this address: answered without looking at the
    /// token until `retry_after` seconds have passed.
    #[error("too many requests with a wrong or missing token from this address; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
}

/// At most this many problems are listed in an answer (then one entry says how many more): a
/// body with 100,000 problems would otherwise be answered with some 80 MB.
pub const MAX_ENTRIES: usize = 100;

/// A short account of an error answer, left in the response's extensions for the audit log.
#[derive(Clone, Debug)]
pub struct ErrorSummary(pub String);

fn entries_text(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|(p, m)| if p.is_empty() { m.clone() } else { format!("{p}: {m}") })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `{"pointer", "message"}` entry.
fn entry(pointer: &str, message: impl Into<String>) -> serde_json::Value {
    json!({"pointer": pointer, "message": message.into()})
}

/// Every error of a report, with its position (when known) in the message.
fn report_entries(report: &Report) -> Vec<serde_json::Value> {
    report
        .errors()
        .map(|problem| {
            let message = match &problem.span {
                Some(span) => format!("{} (at {span})", problem.message),
                None => problem.message.clone(),
            };
            entry(&problem.pointer.to_string(), message)
        })
        .collect()
}

fn patch_error(error: &PatchError) -> (StatusCode, serde_json::Value) {
    match error {
        PatchError::BadPointer { pointer } => {
            (StatusCode::BAD_REQUEST, entry(pointer, "not a JSON pointer (it must be empty or start with `/`)"))
        }
        PatchError::Missing { pointer } => {
            (StatusCode::NOT_FOUND, entry(pointer, "no such value in the configuration"))
        }
        PatchError::Invalid { pointer, message } => (StatusCode::UNPROCESSABLE_ENTITY, entry(pointer, message.clone())),
        PatchError::TestFailed { pointer, .. } if super::secrets::holds_secret(pointer) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            entry(pointer, "test failed: the value differs (not shown: it is or holds a secret)"),
        ),
        PatchError::TestFailed { pointer, actual, expected } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            entry(pointer, format!("test failed: the value is {actual}, not {expected}")),
        ),
        PatchError::BadOperation { index, message } => {
            (StatusCode::BAD_REQUEST, entry(&format!("/{index}"), format!("JSON Patch operation {index}: {message}")))
        }
    }
}

impl ApiError {
    /// The status and the entries of the response.
    pub fn parts(&self) -> (StatusCode, Vec<serde_json::Value>) {
        let (status, mut entries) = self.raw_parts();
        if entries.len() > MAX_ENTRIES {
            let more = entries.len() - MAX_ENTRIES;
            entries.truncate(MAX_ENTRIES);
            entries.push(entry(
                "",
                format!("and {more} more problems not listed here (`kresctl validate FILE` lists every one)"),
            ));
        }
        for entry in &mut entries {
            if let (Some(pointer), Some(message)) = (entry["pointer"].as_str(), entry["message"].as_str()) {
                let clean = super::secrets::sanitize(pointer, message);
                entry["message"] = serde_json::Value::String(clean);
            }
        }
        (status, entries)
    }

    fn raw_parts(&self) -> (StatusCode, Vec<serde_json::Value>) {
        let one = |status, pointer: &str, message: String| (status, vec![entry(pointer, message)]);
        match self {
            ApiError::Syntax(report) => (StatusCode::BAD_REQUEST, report_entries(report)),
            ApiError::BadRequest { pointer, message } => one(StatusCode::BAD_REQUEST, pointer, message.clone()),
            ApiError::UnsupportedMediaType(_) => one(StatusCode::UNSUPPORTED_MEDIA_TYPE, "", self.to_string()),
            ApiError::TooLarge { .. } => one(StatusCode::PAYLOAD_TOO_LARGE, "", self.to_string()),
            ApiError::NotFound { pointer, message } => one(StatusCode::NOT_FOUND, pointer, message.clone()),
            ApiError::NoRoute { .. } => one(StatusCode::NOT_FOUND, "", self.to_string()),
            ApiError::MethodNotAllowed { .. } => one(StatusCode::METHOD_NOT_ALLOWED, "", self.to_string()),
            ApiError::Unprocessable(entries) => {
                (StatusCode::UNPROCESSABLE_ENTITY, entries.iter().map(|(p, m)| entry(p, m.clone())).collect())
            }
            ApiError::InvalidFiles(report) => (StatusCode::UNPROCESSABLE_ENTITY, report_entries(report)),
            ApiError::Request(error) => request_parts(error),
            ApiError::Worker(ControlError::Lua { message, .. }) => {
                one(StatusCode::UNPROCESSABLE_ENTITY, "", format!("kresd refused the request: {message}"))
            }
            ApiError::Worker(error) => one(StatusCode::SERVICE_UNAVAILABLE, "", error.to_string()),
            ApiError::Unavailable(message) => one(StatusCode::SERVICE_UNAVAILABLE, "", message.clone()),
            ApiError::Internal(_) => internal(),
            ApiError::Unauthorized { message, .. } => one(StatusCode::UNAUTHORIZED, "", message.clone()),
            ApiError::Forbidden(message) => one(StatusCode::FORBIDDEN, "", message.clone()),
            ApiError::TooManyRequests { .. } => one(StatusCode::TOO_MANY_REQUESTS, "", self.to_string()),
        }
    }
}

fn internal() -> (StatusCode, Vec<serde_json::Value>) {
    (StatusCode::INTERNAL_SERVER_ERROR, vec![entry("", "internal error of the manager; its log has the details")])
}

fn request_parts(error: &RequestError) -> (StatusCode, Vec<serde_json::Value>) {
    match error {
        RequestError::PreconditionFailed { .. } => {
            (StatusCode::PRECONDITION_FAILED, vec![entry("", error.to_string())])
        }
        RequestError::Patch(patch) => {
            let (status, entry) = patch_error(patch);
            (status, vec![entry])
        }
        RequestError::StaleApiChange(patch) => {
            let pointer = match patch {
                PatchError::BadPointer { pointer }
                | PatchError::Missing { pointer }
                | PatchError::Invalid { pointer, .. }
                | PatchError::TestFailed { pointer, .. } => pointer.clone(),
                PatchError::BadOperation { .. } => String::new(),
            };
            (StatusCode::UNPROCESSABLE_ENTITY, vec![entry(&pointer, error.to_string())])
        }
        RequestError::Invalid(report) => (StatusCode::UNPROCESSABLE_ENTITY, report_entries(report)),
        RequestError::Apply(ApplyError::RestartRequired { changes }) => (
            StatusCode::CONFLICT,
            changes
                .iter()
                .map(|change| {
                    // The plan's action already says "needs a service restart: <why>".
                    let why = change.action.strip_prefix("needs a service restart: ").unwrap_or(&change.action);
                    entry(&change.pointer, format!("changing this needs a restart of the whole service: {why}"))
                })
                .collect(),
        ),
        RequestError::Apply(rejected @ ApplyError::Rejected { .. }) => {
            (StatusCode::UNPROCESSABLE_ENTITY, vec![entry("", rejected.to_string())])
        }
        // The resolver failed half-way (and was rolled back): the operator needs the message.
        RequestError::Apply(failed @ ApplyError::Failed { .. }) => {
            (StatusCode::INTERNAL_SERVER_ERROR, vec![entry("", failed.to_string())])
        }
        RequestError::Apply(ApplyError::Render(_) | ApplyError::Write { .. } | ApplyError::Backend(_)) => internal(),
        RequestError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, vec![entry("", error.to_string())]),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errors) = self.parts();
        // The entries, not `self`: they are free of secrets.
        let text = errors
            .iter()
            .map(|e| {
                let (pointer, message) = (e["pointer"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""));
                if pointer.is_empty() { message.to_owned() } else { format!("{pointer}: {message}") }
            })
            .collect::<Vec<_>>();
        if status.is_server_error() {
            // Our faults, with the details the answer leaves out (they hold no config values).
            tracing::error!("API: {self}");
        } else {
            // A client's mistakes, as answered: free of secrets (`{self}` may quote one).
            tracing::debug!("API: {status}: {}", text.join("\n"));
        }
        let summary = match text.len() {
            0 | 1 => text.first().cloned().unwrap_or_default(),
            n => format!("{} (and {} more)", text[0], n - 1),
        };
        let mut response = (status, Json(json!({ "errors": errors }))).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized { invalid_token, .. } => {
                let challenge = if *invalid_token {
                    r#"Bearer realm="kres-manager", error="invalid_token""#
                } else {
                    r#"Bearer realm="kres-manager""#
                };
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            }
            ApiError::TooManyRequests { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorSummary(summary.chars().take(300).collect()));
        response
    }
}
