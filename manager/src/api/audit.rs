//! The audit log: one line for every request that may change something (every method but `GET`
//! and `HEAD`), written once the request is carried out: who (the socket peer's uid, or the
//! token's name and the client's address), what (method, path, the JSON Patch operations by
//! path, the plan by pointer; never a value) and the result (the status, and what was applied or
//! why not).
//!
//! ```text
//! audit: uid 0 (pid 4242) on the unix socket: PUT /v1/config/workers: operations [add /workers]; plan [/workers hot]; result 200 OK: applied, generation 2
//! audit: token `ops` (full) from 192.0.2.7:51234: POST /stop: result 200 OK
//! ```
//!
//! Lines go to the log (target `kres_manager::audit`, level info) through a [`Journal`], which
//! also carries the refusals of [`super::guard`] (level warn); tests read both from memory. The
//! journal also keeps the last entries, structured, for `GET /audit` and the status page
//! ([`super::ui::changes::Recent`]): written in the one place the audit lines are, so the page
//! shows exactly what the log says.

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::error::ErrorSummary;
use super::guard::Who;
use super::ui::changes::Recent;
use crate::reconcile::task::Outcome;

/// Where audit lines and refusals go: the log, the recent entries of `GET /audit`, and a list
/// in memory for tests.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    memory: Option<Arc<Mutex<Vec<String>>>>,
    recent: Recent,
}

impl Journal {
    /// A journal that also keeps every line in the returned list.
    pub fn in_memory() -> (Journal, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (Journal { memory: Some(lines.clone()), recent: Recent::default() }, lines)
    }

    /// The last audited requests, newest first (`GET /audit`).
    pub fn recent(&self) -> &Recent {
        &self.recent
    }

    fn keep(&self, line: &str) {
        if let Some(memory) = &self.memory {
            memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line.to_owned());
        }
    }

    /// An audit line (it starts with `audit: `).
    fn audit(&self, line: String) {
        tracing::info!(target: "kres_manager::audit", "{line}");
        self.keep(&line);
    }

    /// A request by `who` that was carried out, with its `response`: the audit line and the
    /// recent entry.
    pub fn change(&self, who: &Who, method: &Method, uri: &Uri, response: &Response) {
        self.audit(line(who, method, uri, response));
        self.recent.record(who, method, uri, response);
    }

    /// A request by `who` (a valid token) that the guard refused with `status`, for `message`
    /// (a read-only token, a change from a page of another origin).
    pub fn refused_change(&self, who: &Who, method: &Method, uri: &Uri, status: StatusCode, message: &str) {
        self.audit(format!("audit: {who}: {method} {uri}; result {status}: {message}"));
        self.recent.refused(who, method, uri, status.as_u16(), message);
    }

    /// A refused request (a missing or wrong token, an address locked out).
    pub fn refusal(&self, line: String) {
        tracing::warn!("{line}");
        self.keep(&line);
    }
}

/// What a change did, left in the response's extensions by the handler for the audit line.
#[derive(Clone, Debug, Default)]
pub struct ChangeDetail {
    /// The JSON Patch operations, as `op path` (`move from → path`), without values.
    pub operations: Vec<String>,
    /// The changed pointers with their impact (`/workers hot`).
    pub plan: Vec<String>,
    /// `applied, generation 3`, `dry run`, `unchanged`.
    pub outcome: Option<String>,
}

impl ChangeDetail {
    /// The operations of a JSON Patch (absolute paths), without their values.
    pub fn operations_of(patch: &Value) -> Vec<String> {
        patch
            .as_array()
            .into_iter()
            .flatten()
            .map(|operation| {
                let field = |name| match operation.get(name).and_then(Value::as_str) {
                    Some("") => "(the whole document)",
                    Some(text) => text,
                    None => "?",
                };
                match operation.get("from") {
                    Some(_) => format!("{} {} → {}", field("op"), field("from"), field("path")),
                    None => format!("{} {}", field("op"), field("path")),
                }
            })
            .collect()
    }

    /// The plan and result of an apply.
    pub fn with_outcome(mut self, outcome: &Outcome, dry_run: bool) -> ChangeDetail {
        self.plan = outcome
            .plan
            .changes
            .iter()
            .map(|change| {
                let impact = serde_json::to_value(change.impact).ok();
                format!("{} {}", change.pointer, impact.as_ref().and_then(Value::as_str).unwrap_or("?"))
            })
            .collect();
        self.outcome = Some(if dry_run {
            "dry run, nothing applied".to_owned()
        } else if outcome.unchanged {
            format!("nothing to apply, generation {}", outcome.generation)
        } else {
            format!("applied, generation {}", outcome.generation)
        });
        self
    }
}

/// The audit line of a request by `who` and its `response`.
pub fn line(who: &dyn std::fmt::Display, method: &Method, uri: &Uri, response: &Response) -> String {
    let target = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut line = format!("audit: {who}: {method} {target}");
    let detail = response.extensions().get::<ChangeDetail>();
    if let Some(detail) = detail {
        if !detail.operations.is_empty() {
            line.push_str(&format!(": operations [{}]", detail.operations.join(", ")));
        }
        if !detail.plan.is_empty() {
            line.push_str(&format!("; plan [{}]", detail.plan.join(", ")));
        }
    }
    let status = response.status();
    line.push_str(&format!("; result {status}"));
    if let Some(outcome) = detail.and_then(|d| d.outcome.as_ref()).filter(|_| status.is_success()) {
        line.push_str(&format!(": {outcome}"));
    }
    if let Some(ErrorSummary(summary)) = response.extensions().get::<ErrorSummary>()
        && !summary.is_empty()
    {
        line.push_str(&format!(": {}", summary.replace('\n', " ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use serde_json::json;

    use super::*;

    #[test]
    fn operations_are_listed_without_values() {
        let patch = json!([
            {"op": "replace", "path": "/workers", "value": 3},
            {"op": "move", "from": "/a", "path": "/b"},
            {"op": "add", "path": "/network/tls/sticket-secret", "value": "a secret value of 32 characters!"},
            {"op": "replace", "path": "", "value": {}},
        ]);
        let operations = ChangeDetail::operations_of(&patch);
        assert_eq!(
            operations,
            ["replace /workers", "move /a → /b", "add /network/tls/sticket-secret", "replace (the whole document)"]
        );
    }

    #[test]
    fn a_line_names_who_what_and_the_result() {
        let mut response = axum::http::StatusCode::UNPROCESSABLE_ENTITY.into_response();
        response
            .extensions_mut()
            .insert(ChangeDetail { operations: vec!["add /workers".into()], ..Default::default() });
        response.extensions_mut().insert(ErrorSummary("/workers: expected an integer".into()));
        let uri: Uri = "/v1/config/workers?dry-run=false".parse().unwrap();
        assert_eq!(
            line(&"uid 0 on the unix socket", &Method::PUT, &uri, &response),
            "audit: uid 0 on the unix socket: PUT /v1/config/workers?dry-run=false: operations [add /workers]; \
             result 422 Unprocessable Entity: /workers: expected an integer"
        );
    }
}
