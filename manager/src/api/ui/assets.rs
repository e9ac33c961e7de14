//! The page's files, compiled into the binary from `manager/ui/` (so nothing is fetched from
//! anywhere at run time, and the page always matches the API it talks to), and the headers
//! they are served with.
//!
//! - **Caching:** the files live under `/ui/assets/{version}/`, where `version` is a hash of all
//!   of them: a browser may keep them for a year (`immutable`), and a new build has new URLs.
//!   The page itself (`/ui`, which names the current version) is revalidated at every load.
//! - **Content-Security-Policy:** scripts, styles and requests from this origin only, no inline
//!   script or style, no frames, no forms posted elsewhere; with `nosniff` and the exact
//!   content types, a file can only be what it is.

use std::sync::OnceLock;

use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::response::{IntoResponse, Response};

/// Every response of the page carries this policy.
pub const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                          connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $path:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The files under `/ui/assets/{version}/`.
pub const ASSETS: &[Asset] = &[
    asset!("app.js", "app.js", JS),
    asset!("api.js", "api.js", JS),
    asset!("format.js", "format.js", JS),
    asset!("charts.js", "charts.js", JS),
    asset!("plan.js", "plan.js", JS),
    asset!("app.css", "app.css", CSS),
    asset!("uPlot.iife.min.js", "vendor/uplot/uPlot.iife.min.js", JS),
    asset!("uPlot.min.css", "vendor/uplot/uPlot.min.css", CSS),
    asset!("favicon.svg", "favicon.svg", "image/svg+xml"),
];

/// The page's HTML; `{assets}` stands for the assets' directory.
const PAGE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/index.html"));

/// A hash of every file (FNV-1a, 64 bits: not for security, only so that a change of any file
/// changes the URLs), in hexadecimal.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in ASSETS.iter().flat_map(|a| a.name.bytes().chain(a.bytes.iter().copied())).chain(PAGE.bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    })
}

fn page_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| PAGE.replace("{assets}", &format!("{}/assets/{}", super::PAGE, version())))
}

/// Headers every response of the page has.
fn with_policy(content_type: &'static str, cache: &'static str, body: &'static [u8]) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// The page: revalidated at every load (`no-cache`), since it names the assets' version.
pub fn page() -> Response {
    with_policy("text/html; charset=utf-8", "no-cache", page_html().as_bytes())
}

/// The file `name` of `version`: kept for a year when `version` is the current one; a page
/// loaded before an upgrade gets the current file, not to be kept.
pub fn asset(version: &str, name: &str) -> Option<Response> {
    let asset = ASSETS.iter().find(|a| a.name == name)?;
    let cache = if version == self::version() { "public, max-age=31536000, immutable" } else { "no-cache" };
    Some(with_policy(asset.content_type, cache, asset.bytes))
}

/// The page and its files, in bytes (for the page's size budget).
pub fn total_bytes() -> usize {
    page_html().len() + ASSETS.iter().map(|a| a.bytes.len()).sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_only_files_that_exist() {
        let html = page_html();
        let prefix = format!("/ui/assets/{}/", version());
        let named: Vec<&str> = html.split(&prefix).skip(1).map(|rest| rest.split('"').next().unwrap()).collect();
        assert!(!named.is_empty(), "{html}");
        for name in named {
            assert!(ASSETS.iter().any(|a| a.name == name), "{name} is not embedded");
        }
        assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style: {html}");
    }

    #[test]
    fn the_modules_import_only_embedded_modules() {
        for asset in ASSETS.iter().filter(|a| a.content_type == JS && !a.name.starts_with("uPlot")) {
            let text = std::str::from_utf8(asset.bytes).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let target = line.rsplit("from").next().unwrap().trim().trim_end_matches(';').trim_matches('\'');
                let name = target.strip_prefix("./").unwrap_or_else(|| panic!("{}: {line}", asset.name));
                assert!(ASSETS.iter().any(|a| a.name == name), "{}: {name} is not embedded", asset.name);
            }
        }
    }

    #[test]
    fn the_page_stays_small() {
        // The budget of docs/performance.md: the page and everything it loads.
        assert!(total_bytes() < 150 * 1024, "{} bytes", total_bytes());
        assert!(ASSETS.iter().all(|a| a.content_type != CSS || !a.bytes.is_empty()));
    }
}
