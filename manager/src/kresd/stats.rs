//! The statistics of one kresd worker, read over its control socket in one exchange:
//! `stats.list()` of the `stats` module (which the rendered config loads) and `worker.stats()`.
//!
//! In 5.6 `stats.list()` is a flat table of counters keyed `answer.noerror`, `request.udp`,
//! `query.dnssec`, ...; 6.x nests the same counters (`answer = { noerror = 0, ... }`) and adds
//! some (`request.doq`, `answer.stale`). Both read into the flat form, so the metrics of the
//! two majors are named alike. `worker.stats()` is the worker's
//! own counters and its `getrusage`. kresd's `tojson` writes large counters in exponent form
//! (`1.234567890123457e+17`), so counters are read from any JSON number.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::control::{Control, ControlError};

/// The Lua expression whose JSON is [`Stats`].
pub const STATS_EXPR: &str = "{ list = stats.list(), worker = worker.stats() }";

/// Both tables of one worker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Stats {
    /// `stats.list()`: `answer.total`, `answer.1ms`, `request.doh`, ... (custom ones set with
    /// `stats.set` too).
    pub list: BTreeMap<String, f64>,
    /// `worker.stats()`.
    pub worker: WorkerStats,
}

/// `worker.stats()` of kresd 5.6 (fields it may add later are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkerStats {
    /// Resident set size, bytes.
    #[serde(deserialize_with = "counter")]
    pub rss: u64,
    /// Queries received.
    #[serde(deserialize_with = "counter")]
    pub queries: u64,
    /// Requests being resolved right now.
    #[serde(deserialize_with = "counter")]
    pub concurrent: u64,
    /// Outgoing queries over UDP, TCP and TLS.
    #[serde(deserialize_with = "counter")]
    pub udp: u64,
    #[serde(deserialize_with = "counter")]
    pub tcp: u64,
    #[serde(deserialize_with = "counter")]
    pub tls: u64,
    /// Outgoing queries over IPv4 and IPv6.
    #[serde(deserialize_with = "counter")]
    pub ipv4: u64,
    #[serde(deserialize_with = "counter")]
    pub ipv6: u64,
    /// Outgoing queries that timed out.
    #[serde(deserialize_with = "counter")]
    pub timeout: u64,
    /// Queries dropped (e.g. over the limit of concurrent requests).
    #[serde(deserialize_with = "counter")]
    pub dropped: u64,
    /// Errors sending over UDP, TCP, TLS and HTTP.
    #[serde(deserialize_with = "counter")]
    pub err_udp: u64,
    #[serde(deserialize_with = "counter")]
    pub err_tcp: u64,
    #[serde(deserialize_with = "counter")]
    pub err_tls: u64,
    #[serde(deserialize_with = "counter")]
    pub err_http: u64,
    /// CPU time in user and system mode, seconds.
    pub usertime: f64,
    pub systime: f64,
    /// Page faults needing I/O, swaps, context switches (voluntary and not).
    #[serde(deserialize_with = "counter")]
    pub pagefaults: u64,
    #[serde(deserialize_with = "counter")]
    pub swaps: u64,
    #[serde(deserialize_with = "counter")]
    pub csw: u64,
}

/// Reads both tables from the worker behind `control` in one exchange.
pub async fn stats(control: &mut Control, timeout: Duration) -> Result<Stats, ControlError> {
    let value = control.json(STATS_EXPR, timeout).await?;
    parse(control.socket(), value)
}

/// [`Stats`] from the JSON of [`STATS_EXPR`]. An empty Lua table is `{}` in kresd's JSON, but
/// `[]` is accepted too for an empty `stats.list()`.
pub fn parse(socket: &std::path::Path, mut value: serde_json::Value) -> Result<Stats, ControlError> {
    if let Some(list) = value.get_mut("list") {
        if list.as_array().is_some_and(Vec::is_empty) {
            *list = serde_json::Value::Object(serde_json::Map::new());
        } else if let serde_json::Value::Object(tables) = list {
            let mut flat = serde_json::Map::new();
            flatten("", std::mem::take(tables), &mut flat);
            *tables = flat;
        }
    }
    Stats::deserialize(&value).map_err(|source| ControlError::Json {
        socket: socket.into(),
        source,
        excerpt: super::control::excerpt(value.to_string().as_bytes()),
    })
}

/// `{"answer": {"total": 1}}` → `{"answer.total": 1}` (kresd 6's nesting, any depth); keys that
/// are flat already (kresd 5.6) stay as they are.
fn flatten(
    prefix: &str,
    table: serde_json::Map<String, serde_json::Value>,
    into: &mut serde_json::Map<String, serde_json::Value>,
) {
    for (key, value) in table {
        let name = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        match value {
            serde_json::Value::Object(inner) => flatten(&name, inner, into),
            other => {
                into.insert(name, other);
            }
        }
    }
}

/// A non-negative count from any JSON number (`12`, `1.2e+17`).
fn counter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(count) = number.as_u64() {
        return Ok(count);
    }
    match number.as_f64() {
        // `as` saturates; counters are integral and far below 2^64.
        Some(float) if float >= 0.0 && float.is_finite() => Ok(float as u64),
        _ => Err(serde::de::Error::custom(format!("{number} is not a count"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Captured from kresd 5.6.0 (Debian 12) after one refused query: `return tojson(<STATS_EXPR>)`.
    const CAPTURED: &str = r#"{"list":{"answer.cd":0,"answer.edns0":0,"answer.do":0,"query.edns":0,"query.dnssec":0,"request.total":1,"request.udp":1,"request.tcp":0,"request.xdp":0,"request.dot":0,"request.doh":0,"request.internal":0,"answer.total":1,"answer.noerror":0,"answer.nodata":0,"answer.nxdomain":0,"answer.servfail":0,"answer.cached":0,"answer.1ms":1,"answer.10ms":0,"answer.50ms":0,"answer.100ms":0,"answer.250ms":0,"answer.500ms":0,"answer.1000ms":0,"answer.1500ms":0,"answer.slow":0,"answer.aa":0,"answer.tc":0,"answer.rd":1,"answer.ra":1,"answer.ad":0},"worker":{"udp":0,"err_udp":0,"err_tcp":0,"err_tls":0,"tls":0,"usertime":0.041069,"systime":0.052757,"pagefaults":2,"swaps":0,"csw":1149,"tcp":0,"ipv6":0,"ipv4":0,"rss":32047104,"err_http":0,"queries":1,"concurrent":0,"dropped":0,"timeout":0}}"#;

    fn parsed(text: &str) -> Result<Stats, ControlError> {
        parse(Path::new("/run/control/0"), serde_json::from_str(text).expect("JSON"))
    }

    #[test]
    fn captured_stats_are_parsed() {
        let stats = parsed(CAPTURED).expect("parsed");
        assert_eq!(stats.list.len(), 32);
        assert_eq!(stats.list["request.udp"], 1.0);
        assert_eq!(stats.list["answer.1ms"], 1.0);
        assert_eq!(stats.worker.rss, 32_047_104);
        assert_eq!(stats.worker.queries, 1);
        assert_eq!(stats.worker.csw, 1149);
        assert_eq!(stats.worker.usertime, 0.041069);
    }

    /// kresd 6.5.0's nesting of the same counters (part of a capture).
    #[test]
    fn kresd_6_nested_statistics_read_as_5_6_flat_ones() {
        let worker = r#""worker":{"udp":0,"err_udp":0,"err_tcp":0,"err_tls":0,"tls":0,"usertime":0.04,"systime":0.05,"pagefaults":2,"swaps":0,"csw":11,"tcp":0,"ipv6":0,"ipv4":0,"rss":3,"err_http":0,"queries":1,"concurrent":0,"dropped":0,"timeout":0}"#;
        let six = format!(
            r#"{{"list":{{"request":{{"total":1,"udp":1,"doq":0}},"answer":{{"total":1,"1ms":1,"stale":0}},"query":{{"dnssec":0}}}},{worker}}}"#
        );
        let stats = parsed(&six).expect("parses");
        let keys: Vec<&str> = stats.list.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "answer.1ms",
                "answer.stale",
                "answer.total",
                "query.dnssec",
                "request.doq",
                "request.total",
                "request.udp"
            ]
        );
        assert_eq!(stats.list["answer.total"], 1.0);
    }

    #[test]
    fn counters_in_exponent_form_and_empty_lists_are_read() {
        let text = CAPTURED
            .replace(r#""queries":1,"#, r#""queries":1.234567890123457e+17,"#)
            .replace(r#""list":{"answer.cd""#, r#""list":{"custom":2.5,"answer.cd""#);
        let stats = parsed(&text).expect("parsed");
        assert_eq!(stats.worker.queries, 1.234567890123457e17 as u64);
        assert_eq!(stats.list["custom"], 2.5);
        let empty = CAPTURED.split(r#""worker""#).nth(1).expect("worker part");
        let stats = parsed(&format!(r#"{{"list":[],"worker"{empty}"#)).expect("parsed");
        assert!(stats.list.is_empty());
    }

    #[test]
    fn missing_or_wrong_fields_are_json_errors() {
        let err = parsed(&CAPTURED.replace(r#""rss":32047104,"#, "")).unwrap_err();
        assert!(matches!(err, ControlError::Json { .. }) && err.to_string().contains("missing field `rss`"), "{err}");
        let err = parsed(&CAPTURED.replace(r#""csw":1149"#, r#""csw":-1"#)).unwrap_err();
        assert!(err.to_string().contains("-1 is not a count"), "{err}");
        let err = parsed(&CAPTURED.replace(r#""answer.cd":0"#, r#""answer.cd":"x""#)).unwrap_err();
        assert!(matches!(err, ControlError::Json { .. }), "{err}");
    }
}
