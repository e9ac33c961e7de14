//! The recent entries of the audit log, kept in memory for `GET /audit` (the status page's
//! "recent changes"): every request that may change something, as the audit line tells it
//! ([`super::super::audit`]), but structured: when, who, what (operations and the plan by
//! pointer, never a value), and the outcome.
//!
//! The log has every line; this keeps the last [`KEPT`] (from this manager's start: a manager
//! that was restarted begins empty, and the page says so by showing no older entries).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{Method, Uri};
use axum::response::{Json, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::super::ApiState;
use super::super::audit::ChangeDetail;
use super::super::error::ErrorSummary;
use super::super::guard::Who;

/// How many entries are kept.
pub const KEPT: usize = 100;

/// One audited request.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    /// Unix time in seconds (milliseconds in the fraction).
    pub at: f64,
    /// As the audit line names the client.
    pub who: String,
    /// The token's name, for a request made with one.
    pub token: Option<String>,
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The JSON Patch operations (`replace /workers`), without values.
    pub operations: Vec<String>,
    /// The changed pointers and their impact.
    pub plan: Vec<Planned>,
    pub status: u16,
    /// `applied, generation 3`, `dry run, nothing applied`, or what went wrong.
    pub outcome: String,
}

impl Entry {
    /// An entry for a request answered now.
    fn now(
        who: &Who,
        method: &Method,
        uri: &Uri,
        operations: Vec<String>,
        plan: Vec<Planned>,
        status: u16,
        outcome: String,
    ) -> Entry {
        Entry {
            at: now(),
            who: who.to_string(),
            token: token_of(who),
            method: method.to_string(),
            target: target_of(uri),
            operations,
            plan,
            status,
            outcome,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Planned {
    pub pointer: String,
    /// `hot`, `rolling` or `restart-required`.
    pub impact: String,
}

/// The last [`KEPT`] entries (cheap to clone: shared).
#[derive(Clone, Debug, Default)]
pub struct Recent(Arc<Mutex<VecDeque<Entry>>>);

fn now() -> f64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_millis() as f64) / 1000.0
}

fn token_of(who: &Who) -> Option<String> {
    match who {
        Who::Token { name, .. } => Some(name.clone()),
        Who::Peer(_) => None,
    }
}

fn target_of(uri: &Uri) -> String {
    uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned())
}

impl Recent {
    fn push(&self, entry: Entry) {
        let mut entries = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() == KEPT {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// A request that was carried out (whatever its status), from what its handler left in
    /// the response (as [`super::super::audit::line`] reads it).
    pub fn record(&self, who: &Who, method: &Method, uri: &Uri, response: &Response) {
        let detail = response.extensions().get::<ChangeDetail>().cloned().unwrap_or_default();
        let status = response.status();
        let error = response.extensions().get::<ErrorSummary>().map(|s| s.0.clone()).filter(|s| !s.is_empty());
        let outcome = match (status.is_success(), detail.outcome, error) {
            (true, Some(outcome), _) => outcome,
            (_, _, Some(error)) => error,
            _ => status.canonical_reason().unwrap_or("").to_owned(),
        };
        let plan = detail
            .plan
            .iter()
            .map(|text| match text.rsplit_once(' ') {
                Some((pointer, impact)) => Planned { pointer: pointer.to_owned(), impact: impact.to_owned() },
                None => Planned { pointer: text.clone(), impact: String::new() },
            })
            .collect();
        self.push(Entry::now(who, method, uri, detail.operations, plan, status.as_u16(), outcome));
    }

    /// A request the guard refused although its token is valid (a read-only token, a change
    /// from another origin): audited too.
    pub fn refused(&self, who: &Who, method: &Method, uri: &Uri, status: u16, message: &str) {
        self.push(Entry::now(who, method, uri, Vec::new(), Vec::new(), status, message.to_owned()));
    }

    /// The entries, newest first.
    pub fn newest_first(&self) -> Vec<Entry> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().rev().cloned().collect()
    }
}

/// `GET /audit`: `{"entries": [...newest first], "kept": KEPT}`.
pub async fn audit(State(state): State<ApiState>) -> Json<Value> {
    Json(json!({"entries": state.guard().recent().newest_first(), "kept": KEPT}))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;
    use crate::api::guard::Peer;

    #[test]
    fn entries_are_structured_and_bounded() {
        let recent = Recent::default();
        let who = Who::Peer(Some(Peer::Unix { uid: Some(0), pid: None }));
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(ChangeDetail {
            operations: vec!["add /workers".into()],
            plan: vec!["/workers hot".into(), "/network/listen/0 restart-required".into()],
            outcome: Some("applied, generation 2".into()),
        });
        let uri: Uri = "/v1/config/workers?dry-run=false".parse().unwrap();
        recent.record(&who, &Method::PUT, &uri, &response);
        let entry = &recent.newest_first()[0];
        assert_eq!(entry.who, "uid 0 on the unix socket");
        assert_eq!(
            (entry.token.as_deref(), entry.status, entry.outcome.as_str()),
            (None, 200, "applied, generation 2")
        );
        assert_eq!(entry.target, "/v1/config/workers?dry-run=false");
        assert_eq!(
            entry.plan,
            [
                Planned { pointer: "/workers".into(), impact: "hot".into() },
                Planned { pointer: "/network/listen/0".into(), impact: "restart-required".into() },
            ]
        );
        let token =
            Who::Token { name: "viewer".into(), scope: crate::config::management::TokenScope::ReadOnly, peer: None };
        for n in 0..KEPT + 5 {
            recent.refused(&token, &Method::POST, &"/stop".parse().unwrap(), 403, &format!("refused {n}"));
        }
        let entries = recent.newest_first();
        assert_eq!(entries.len(), KEPT);
        assert_eq!(entries[0].outcome, format!("refused {}", KEPT + 4), "newest first");
        assert_eq!(entries[0].token.as_deref(), Some("viewer"));
    }

    #[test]
    fn a_failure_tells_its_error() {
        let recent = Recent::default();
        let mut response = StatusCode::UNPROCESSABLE_ENTITY.into_response();
        response.extensions_mut().insert(ChangeDetail { outcome: Some("applied".into()), ..Default::default() });
        response.extensions_mut().insert(ErrorSummary("/workers: expected an integer".into()));
        recent.record(&Who::Peer(None), &Method::PATCH, &"/v1/config".parse().unwrap(), &response);
        assert_eq!(recent.newest_first()[0].outcome, "/workers: expected an integer");
        let bare = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        recent.record(&Who::Peer(None), &Method::POST, &"/reload".parse().unwrap(), &bare);
        assert_eq!(recent.newest_first()[0].outcome, "Internal Server Error");
    }
}
