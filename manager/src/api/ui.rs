//! The status page: `GET /ui`, one screen that shows the service at a glance in a browser, and
//! the read-only JSON routes it needs beyond the rest of the API.
//!
//! # Theory of operation
//!
//! The page is static: an HTML shell, plain ES modules and CSS, and the charting library
//! (uPlot), all compiled into the binary ([`assets`]). In the browser it polls the API every
//! second (`/status`, `/processes`, `/metrics/json`, `/audit`, and `/v1/config` when the
//! generation changed) and draws what it read; a plan preview is a `PUT /v1/config...?dry-run=true`
//! and an apply the same request without the flag. So the page can show and do exactly what
//! the API lets its user show and do: every request, the page's own included, passes
//! [`super::guard::guard`] as any other, and a read-only token sees everything and changes
//! nothing.
//!
//! A browser cannot send a bearer token when it navigates to a page, so over TCP with tokens the
//! guard also takes the token as the password of HTTP Basic credentials ([`basic`]), and asks a
//! browser for them. A change that a browser sends from a page of another origin is refused
//! (the guard checks `Origin`), so another site cannot make the operator's browser change the
//! resolver with the credentials it keeps for this one.
//!
//! # Modules
//!
//! [`assets`] the embedded files and their headers (types, caching, Content-Security-Policy);
//! [`overview`] `GET /status` (readiness with the reason, versions, uptime, the manager
//! process, the cache, who asks); [`changes`] the recent entries of the audit log
//! (`GET /audit`); [`basic`] HTTP Basic credentials.

pub mod assets;
pub mod basic;
pub mod changes;
pub mod overview;

use axum::extract::Path;
use axum::http::header::{ACCEPT, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The page's address.
pub const PAGE: &str = "/ui";

/// Whether a request prefers an HTML answer: a browser navigating (its `Accept` names
/// `text/html`), not a client of the JSON API (kresctl, curl and Prometheus send `*/*` or JSON).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

/// `GET /` for a browser: to the page.
pub fn to_the_page() -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, HeaderValue::from_static(PAGE))]).into_response()
}

/// `GET /ui`: the page.
pub async fn page() -> Response {
    assets::page()
}

/// `GET /ui/assets/{version}/{name}`: an embedded file.
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    assets::asset(&version, &name).ok_or_else(|| ApiError::NoRoute { path: format!("{PAGE}/assets/{version}/{name}") })
}
