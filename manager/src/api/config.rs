//! `/v1/config{pointer}` and `/reload`, `/renew`: reading the config document and changing it
//! through the reconcile task.
//!
//! - `GET` answers the value at the pointer in the document (as given: the files merged with the
//!   changes made through the API; defaults are not filled in).
//! - `PUT` sets the value at the pointer: a mapping member is added or replaced, a list item
//!   replaced, `/-` appends to a list; missing (or null) parents are created as mappings
//!   (`/-` or `/0` under a missing parent creates a list).
//! - `PATCH` takes an RFC 6902 JSON Patch whose paths (and `from`s) are relative to the pointer.
//! - `DELETE` removes the value at the pointer.
//!
//! Each edit is sent to the task as JSON Patch operations with absolute paths, together with
//! the `If-Match` / `If-None-Match` preconditions, and answered once it is applied (or refused)
//! with the executed plan and the new ETag. `?dry-run=true` only computes the plan.
//!
//! Secrets ([`super::secrets`]): `GET` answers `<redacted>` in their place, and a `PUT` or
//! `PATCH` value with `<redacted>` there keeps the current secret (use `If-Match` with the ETag
//! of the `GET` for a read-modify-write, so nothing changes in between).
//!
//! Every edit and reload leaves a [`ChangeDetail`] (operations, plan, outcome) in its response
//! for the audit line.

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::audit::ChangeDetail;
use super::body::{self, Flags};
use super::{ApiError, ApiState, secrets};
use crate::config::patch;
use crate::reconcile::reload::{ReloadError, ReloadOptions};
use crate::reconcile::task::{Change, Outcome, Preconditions, Request, RequestError};

/// The RFC 6901 pointer after `/v1/config` in the request's path (percent-decoded; `/v1/config`
/// and `/v1/config/` both mean the whole document).
#[derive(Debug, Clone)]
pub struct ConfigPointer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ConfigPointer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ConfigPointer, ApiError> {
        let path = parts.uri.path();
        let rest = path.strip_prefix("/v1/config").unwrap_or(path);
        let rest = if rest == "/" { "" } else { rest };
        percent_decode(rest).map(ConfigPointer).ok_or_else(|| ApiError::BadRequest {
            pointer: String::new(),
            message: format!("{rest} is not a percent-encoded UTF-8 JSON pointer"),
        })
    }
}

/// Decodes `%XX` escapes; `None` for a bad escape or a result that is not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `If-Match` / `If-None-Match` as the task checks them.
fn preconditions(headers: &HeaderMap) -> Result<Preconditions, ApiError> {
    let header = |name| -> Result<Option<String>, ApiError> {
        headers
            .get(&name)
            .map(|value| {
                value.to_str().map(str::to_owned).map_err(|_| ApiError::BadRequest {
                    pointer: String::new(),
                    message: format!("the {name} header is not text"),
                })
            })
            .transpose()
    };
    Ok(Preconditions { if_match: header(IF_MATCH)?, if_none_match: header(IF_NONE_MATCH)? })
}

/// Whether an `If-Match` / `If-None-Match` list names `etag` (or is `*`).
fn names(list: &str, etag: &str) -> bool {
    list.split(',').any(|tag| tag.trim() == "*" || tag.trim() == etag)
}

/// `response` with the `ETag` header.
fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// `GET /v1/config{pointer}` (and `HEAD`): the value at the pointer; 304 when `If-None-Match`
/// names the current ETag, 412 when `If-Match` does not.
pub async fn get_config(
    State(state): State<ApiState>,
    pointer: ConfigPointer,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let status = state.handle().status();
    let etag = status.revision.etag.clone();
    let result = (|| -> Result<Response, ApiError> {
        Flags::parse(uri.query(), &[])?;
        let conditions = preconditions(&headers)?;
        if let Some(expected) = &conditions.if_match
            && !names(expected, &etag)
        {
            return Err(RequestError::PreconditionFailed { current: etag.clone(), expected: expected.clone() }.into());
        }
        if let Some(unexpected) = &conditions.if_none_match
            && names(unexpected, &etag)
        {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        let value = patch::get(&status.revision.document, &pointer.0).map_err(RequestError::Patch)?;
        Ok(Json(secrets::redact(value.clone(), &pointer.0)).into_response())
    })();
    with_etag(result.unwrap_or_else(IntoResponse::into_response), &etag)
}

/// `PUT /v1/config{pointer}`: sets the value at the pointer.
pub async fn put_config(
    State(state): State<ApiState>,
    pointer: ConfigPointer,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let value = match body::required_document(&headers, body).await {
        Ok(value) => value,
        Err(error) => return with_current_etag(&state, error.into_response()),
    };
    let document = state.handle().status().revision.document;
    let operations = put_operations(&document, &pointer.0, value).and_then(|ops| secrets::restore(&document, ops));
    edit(&state, &Method::PUT, &uri, &headers, operations).await
}

/// `PATCH /v1/config{pointer}`: an RFC 6902 JSON Patch relative to the pointer.
pub async fn patch_config(
    State(state): State<ApiState>,
    pointer: ConfigPointer,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let operations =
        match body::required_document(&headers, body).await.and_then(|patch| relative_patch(&pointer.0, patch)) {
            Ok(operations) => operations,
            Err(error) => return with_current_etag(&state, error.into_response()),
        };
    let document = state.handle().status().revision.document;
    let operations = secrets::restore(&document, operations);
    edit(&state, &Method::PATCH, &uri, &headers, operations).await
}

/// `DELETE /v1/config{pointer}`: removes the value at the pointer.
pub async fn delete_config(
    State(state): State<ApiState>,
    pointer: ConfigPointer,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let operations = Ok(json!([{"op": "remove", "path": pointer.0}]));
    edit(&state, &Method::DELETE, &uri, &headers, operations).await
}

fn with_current_etag(state: &ApiState, response: Response) -> Response {
    with_etag(response, &state.handle().status().revision.etag)
}

/// The operations of a `PUT` of `value` at `pointer` in `document`.
pub fn put_operations(document: &Value, pointer: &str, value: Value) -> Result<Value, ApiError> {
    let tokens = patch::tokens(pointer)
        .map_err(|error| ApiError::BadRequest { pointer: pointer.to_owned(), message: error.to_string() })?;
    if tokens.is_empty() {
        return Ok(json!([{"op": "replace", "path": "", "value": value}]));
    }
    if !document.is_object() && !document.is_array() {
        // An empty config file: the document becomes a mapping.
        let mut nested = value;
        for token in tokens.iter().rev() {
            nested = Value::Object([(token.clone(), nested)].into_iter().collect());
        }
        return Ok(json!([{"op": "replace", "path": "", "value": nested}]));
    }
    // The deepest existing container on the way (a null counts as missing).
    let mut container = document;
    let mut depth = 0;
    while depth + 1 < tokens.len() {
        let next = match container {
            Value::Object(map) => map.get(&tokens[depth]),
            Value::Array(items) => tokens[depth].parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(next @ (Value::Object(_) | Value::Array(_))) => {
                container = next;
                depth += 1;
            }
            _ => break,
        }
    }
    // Missing parents below it are created around the value.
    let mut nested = value;
    for token in tokens[depth + 1..].iter().rev() {
        nested = if token == "-" || token == "0" {
            Value::Array(vec![nested])
        } else {
            Value::Object([(token.clone(), nested)].into_iter().collect())
        };
    }
    let path: String =
        tokens[..=depth].iter().map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1"))).collect();
    // `add` sets a mapping member (a null on the way included) but inserts into a list.
    let replaces_item = match container {
        Value::Array(items) => tokens[depth].parse::<usize>().is_ok_and(|i| i < items.len()),
        _ => false,
    };
    let op = if replaces_item { "replace" } else { "add" };
    Ok(json!([{"op": op, "path": path, "value": nested}]))
}

/// A JSON Patch body with its paths made absolute (prefixed with `pointer`).
pub fn relative_patch(pointer: &str, patch: Value) -> Result<Value, ApiError> {
    let bad = |index: usize, message: &str| ApiError::BadRequest {
        pointer: format!("/{index}"),
        message: format!("JSON Patch operation {index}: {message}"),
    };
    let Value::Array(operations) = patch else {
        return Err(ApiError::BadRequest {
            pointer: String::new(),
            message: "a JSON Patch (RFC 6902) is a list of operations".into(),
        });
    };
    let mut absolute = Vec::with_capacity(operations.len());
    for (index, mut operation) in operations.into_iter().enumerate() {
        let Value::Object(fields) = &mut operation else { return Err(bad(index, "an operation is a mapping")) };
        for key in ["path", "from"] {
            match fields.get_mut(key) {
                Some(Value::String(path)) => {
                    if !path.is_empty() && !path.starts_with('/') {
                        return Err(bad(index, &format!("`{key}` {path:?} is not a JSON pointer")));
                    }
                    *path = format!("{pointer}{path}");
                }
                Some(_) => return Err(bad(index, &format!("`{key}` is not a string"))),
                None if key == "path" => return Err(bad(index, "`path` is missing")),
                None => {}
            }
        }
        absolute.push(operation);
    }
    Ok(Value::Array(absolute))
}

/// Sends an edit to the task and answers with its outcome.
async fn edit(
    state: &ApiState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    operations: Result<Value, ApiError>,
) -> Response {
    let detail = ChangeDetail {
        operations: operations.as_ref().map(ChangeDetail::operations_of).unwrap_or_default(),
        ..ChangeDetail::default()
    };
    let mut dry_run = false;
    let result = async {
        let flags = Flags::parse(uri.query(), &["dry-run"])?;
        dry_run = flags.get("dry-run");
        let request = Request {
            change: Change::Edit(operations?),
            preconditions: preconditions(headers)?,
            dry_run: flags.get("dry-run"),
            force: false,
            origin: format!("API {method} {}", uri.path()),
        };
        Ok::<_, ApiError>(state.handle().apply(request).await?)
    }
    .await;
    answer(state, result, detail, dry_run).await
}

/// The response to an apply: the outcome, or the error, with the ETag after it and the
/// [`ChangeDetail`] for the audit. (The task publishes its new status before it replies, so a
/// client reading right after sees it.)
async fn answer(state: &ApiState, result: Result<Outcome, ApiError>, detail: ChangeDetail, dry_run: bool) -> Response {
    let mut response = match result {
        Ok(outcome) => {
            let detail = detail.with_outcome(&outcome, dry_run);
            let etag = outcome.etag.clone();
            let body = json!({
                "generation": outcome.generation,
                "etag": outcome.etag,
                "applied": !outcome.unchanged,
                "plan": outcome.plan,
                "steps": outcome.steps,
                "notes": outcome.notes,
            });
            let mut response = with_etag(Json(body).into_response(), &etag);
            response.extensions_mut().insert(detail);
            return response;
        }
        Err(error) => with_current_etag(state, error.into_response()),
    };
    response.extensions_mut().insert(detail);
    response
}

/// `POST /reload`, `/reload/force`, `/renew`, `/renew/force`: re-reads the config files and
/// applies them with the changes made through the API on top (`?discard-api-changes=true`
/// drops those); `force` re-applies even when nothing changed. Answers when applied; any
/// failure is an error status.
pub async fn reload(State(state): State<ApiState>, uri: Uri) -> Response {
    let mut dry_run = false;
    let result = async {
        let flags = Flags::parse(uri.query(), &["discard-api-changes", "dry-run"])?;
        dry_run = flags.get("dry-run");
        let options = ReloadOptions {
            force: uri.path().ends_with("/force"),
            discard_api_changes: flags.get("discard-api-changes"),
            dry_run,
        };
        match state.daemon().reload(options, &format!("API POST {}", uri.path())).await {
            Ok(outcome) => Ok(outcome),
            Err(ReloadError::Invalid { report, .. }) => Err(ApiError::InvalidFiles(report)),
            Err(ReloadError::Read(error)) => Err(ApiError::Unprocessable(vec![(String::new(), error.to_string())])),
            Err(ReloadError::Request(error)) => Err(error.into()),
        }
    }
    .await;
    answer(&state, result, ChangeDetail::default(), dry_run).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(document: Value, pointer: &str, value: Value) -> Value {
        put_operations(&document, pointer, value).expect("operations")
    }

    #[test]
    fn put_sets_members_replaces_items_and_appends() {
        let document = json!({"logging": {"level": "info"}, "list": [1, 2], "none": null});
        assert_eq!(ops(document.clone(), "", json!({})), json!([{"op": "replace", "path": "", "value": {}}]));
        assert_eq!(
            ops(document.clone(), "/logging/level", json!("debug")),
            json!([{"op": "add", "path": "/logging/level", "value": "debug"}])
        );
        assert_eq!(
            ops(document.clone(), "/list/1", json!(5)),
            json!([{"op": "replace", "path": "/list/1", "value": 5}])
        );
        assert_eq!(ops(document.clone(), "/list/-", json!(3)), json!([{"op": "add", "path": "/list/-", "value": 3}]));
        assert_eq!(ops(document.clone(), "/list/2", json!(3)), json!([{"op": "add", "path": "/list/2", "value": 3}]));
        // Missing and null parents are created.
        assert_eq!(
            ops(document.clone(), "/cache/garbage-collector/interval", json!("2s")),
            json!([{"op": "add", "path": "/cache", "value": {"garbage-collector": {"interval": "2s"}}}])
        );
        assert_eq!(
            ops(document.clone(), "/none/-", json!({"a": 1})),
            json!([{"op": "add", "path": "/none", "value": [{"a": 1}]}])
        );
        assert_eq!(
            ops(json!({"a/b": {}}), "/a~1b/c~0", json!(1)),
            json!([{"op": "add", "path": "/a~1b/c~0", "value": 1}])
        );
    }

    #[test]
    fn patch_paths_become_absolute() {
        let patch = json!([{"op": "move", "from": "/a", "path": "/b"}, {"op": "test", "path": "", "value": 1}]);
        assert_eq!(
            relative_patch("/x", patch).unwrap(),
            json!([{"op": "move", "from": "/x/a", "path": "/x/b"}, {"op": "test", "path": "/x", "value": 1}])
        );
        assert!(relative_patch("", json!({"op": "add"})).is_err());
        assert!(relative_patch("", json!([{"op": "add", "path": "a"}])).is_err());
        assert!(relative_patch("", json!([{"op": "add"}])).is_err());
    }

    #[test]
    fn pointers_are_percent_decoded() {
        assert_eq!(percent_decode("/local-data/addresses/a%20b").as_deref(), Some("/local-data/addresses/a b"));
        assert_eq!(percent_decode("/%zz"), None);
        assert_eq!(percent_decode("/%ff"), None);
    }
}
