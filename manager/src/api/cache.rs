//! `POST /cache/clear`: Knot Resolver 6's body (`name`, `exact-name`, `rr-type`, `chunk-size`,
//! all optional), validated, then `cache.clear(...)` run over one worker's control socket (the
//! cache is shared by every worker, so one clear is enough). Every value reaches Lua through
//! [`crate::kresd::lua`]. The answer is the table kresd's `cache.clear` returns, as JSON
//! (`count`, and notes such as `not_apex`, `subtree`, `chunk_limit`): what Knot Resolver 6's API
//! answers and its `kresctl cache clear` prints.
//!
//! The semantics are Knot Resolver 6's, so that its client works unchanged:
//!
//! - no `name` (or `.` without `exact-name`): the whole cache;
//! - a `name`: that name and its subtree, `chunk-size` records at a time (default 100), the rest
//!   asynchronously;
//! - `exact-name`: the name alone; with `rr-type` (which needs `exact-name`), one type of it.
//!
//! `chunk-size` takes effect only on a subtree: Knot Resolver 6 sends no chunk to kresd for an
//! exact name, and kresd refuses one with `rr-type` and ignores it for the whole cache. Its client
//! always sends its default, `chunk-size: 100`, so that value is accepted wherever it has no effect;
//! another value there is refused (422), since the caller asked for something that would not
//! happen. Two deliberate differences, where Knot Resolver 6 would clear the whole cache
//! although a narrow clear was asked for: `exact-name` or `rr-type` without a `name` is refused.
//!
//! `chunk-size` is at most [`MAX_CHUNK_SIZE`]: kresd 5.6 keeps a chunk's keys in an array on
//! its stack (48 bytes a record, in `kr_cache_remove_subtree`), so a large one overflows the
//! stack and the worker dies of SIGSEGV (with the default 8 MiB stack, from about 175,000 on).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Json;
use serde_json::Value;

use super::body::{self, Flags};
use super::{ApiError, ApiState, CACHE_CLEAR_TIMEOUT};
use crate::backend::Program;
use crate::kresd::control;
use crate::kresd::lua;

/// A validated `/cache/clear` body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CacheClear {
    pub name: Option<String>,
    pub exact_name: bool,
    /// The type's name and number.
    pub rr_type: Option<(String, u16)>,
    /// The chunk of a subtree clear (`None` where a chunk has no effect: it is not sent).
    pub chunk_size: Option<u64>,
}

/// Knot Resolver 6's default `chunk-size`, which its client always sends.
pub const DEFAULT_CHUNK_SIZE: u64 = 100;

/// The largest `chunk-size` (480 KB of a worker's stack; larger chunks may crash kresd 5.6).
/// Clearing more records is not refused: the rest is cleared asynchronously, chunk by chunk.
pub const MAX_CHUNK_SIZE: u64 = 10_000;

/// The record types kresd 5.6 knows by name (`kres.type`).
pub const RR_TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("WKS", 11),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP", 22),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("A6", 38),
    ("DNAME", 39),
    ("SINK", 40),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("DOA", 259),
    ("TA", 32768),
    ("DLV", 32769),
];

/// The number of a record type: a name from [`RR_TYPES`] (any case) or `TYPEnnn` (RFC 3597).
pub fn rr_type(text: &str) -> Option<u16> {
    let upper = text.to_ascii_uppercase();
    if let Some(number) = upper.strip_prefix("TYPE") {
        return number.parse().ok().filter(|_| !number.starts_with('+'));
    }
    RR_TYPES.iter().find(|(name, _)| *name == upper).map(|(_, number)| *number)
}

/// Validates a body; every problem at once, each with its pointer into the body.
pub fn parse(body: &Value) -> Result<CacheClear, ApiError> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut clear = CacheClear::default();
    let fields = match body {
        Value::Null => return Ok(clear),
        Value::Object(fields) => fields,
        _ => return Err(ApiError::Unprocessable(vec![(String::new(), "the body is a mapping".into())])),
    };
    for (key, value) in fields {
        let pointer = format!("/{key}");
        let mut problem = |message: String| problems.push((pointer.clone(), message));
        match (key.as_str(), value) {
            ("name" | "rr-type" | "chunk-size", Value::Null) => {}
            ("name", Value::String(name)) => match schema_core::DomainName::parse(name) {
                Ok(name) => clear.name = Some(name.fqdn()),
                Err(message) => problem(message),
            },
            ("exact-name", Value::Bool(exact)) => clear.exact_name = *exact,
            ("rr-type", Value::String(text)) => match rr_type(text) {
                Some(number) => clear.rr_type = Some((text.to_ascii_uppercase(), number)),
                None => problem(format!("{text:?} is not a record type kresd knows (A, AAAA, NS, MX, TYPE65, ...)")),
            },
            ("chunk-size", Value::Number(n)) => match n.as_u64() {
                Some(size) if (1..=MAX_CHUNK_SIZE).contains(&size) => clear.chunk_size = Some(size),
                Some(size) if size > MAX_CHUNK_SIZE => problem(format!(
                    "{size} is more than {MAX_CHUNK_SIZE}, the largest chunk kresd 5.6 clears safely (the rest of \
                     a subtree is cleared asynchronously, chunk by chunk)"
                )),
                _ => problem(format!("{n} is not a positive integer")),
            },
            ("name" | "rr-type", _) => problem("expected a string".into()),
            ("exact-name", _) => problem("expected true or false".into()),
            ("chunk-size", _) => problem("expected a positive integer".into()),
            _ => problem(format!("unknown key `{key}` (name, exact-name, rr-type, chunk-size)")),
        }
    }
    let name_is_valid = !problems.iter().any(|(pointer, _)| pointer == "/name");
    if clear.name.is_none() && name_is_valid && (clear.exact_name || clear.rr_type.is_some()) {
        let what = if clear.exact_name { "exact-name" } else { "rr-type" };
        problems
            .push(("/name".into(), format!("`{what}` needs a `name`; without one the whole cache would be cleared")));
    }
    if clear.rr_type.is_some() && !clear.exact_name && clear.name.is_some() {
        problems.push((
            "/exact-name".into(),
            "`rr-type` needs `exact-name: true` (kresd clears one type of one name only)".into(),
        ));
    }
    if let Some(size) = clear.chunk_size
        && !clear.is_subtree()
    {
        // Where it has no effect, Knot Resolver 6's default is accepted (its client always
        // sends it) and not passed to kresd.
        clear.chunk_size = None;
        if size != DEFAULT_CHUNK_SIZE && name_is_valid {
            let where_ = if clear.name.is_none() || clear.name.as_deref() == Some(".") {
                "the whole cache is cleared at once"
            } else if clear.rr_type.is_some() {
                "one type of one name is one record"
            } else {
                "an exact name is cleared without chunks"
            };
            problems.push((
                "/chunk-size".into(),
                format!(
                    "`chunk-size` applies only to a subtree (a `name` without `exact-name`); here it has no \
                     effect ({where_}): leave it out or give the default, {DEFAULT_CHUNK_SIZE}"
                ),
            ));
        }
    }
    if problems.is_empty() { Ok(clear) } else { Err(ApiError::Unprocessable(problems)) }
}

impl CacheClear {
    /// Whether this clears a subtree in chunks: a name other than the root, without `exact-name`.
    fn is_subtree(&self) -> bool {
        self.name.as_deref().is_some_and(|name| name != ".") && !self.exact_name && self.rr_type.is_none()
    }

    /// The Lua call. One type of one name is followed by a commit: kresd 5.6's
    /// `kr_cache_remove` (which `cache.clear` uses for it) leaves the removal in the worker's open
    /// write transaction, so the other workers would go on answering the record until this worker
    /// happened to end a request (the subtree and whole-cache clears commit by themselves).
    pub fn lua(&self) -> String {
        let Some(name) = &self.name else { return "cache.clear()".into() };
        let rr_type = self.rr_type.as_ref().map_or("nil".to_owned(), |(_, number)| number.to_string());
        let chunk = self.chunk_size.map_or("nil".to_owned(), |size| size.to_string());
        let call = format!("cache.clear({}, {}, {rr_type}, {chunk})", lua::string(name), self.exact_name);
        if self.rr_type.is_some() {
            format!("(function() local cleared = {call}; assert(kres.context().cache:commit()); return cleared end)()")
        } else {
            call
        }
    }
}

/// `POST /cache/clear`.
pub async fn clear(
    State(state): State<ApiState>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    Flags::parse(uri.query(), &[])?;
    let clear = parse(&body::document(&headers, body).await?)?;
    let status = state.handle().status();
    let mut workers: Vec<u32> = status
        .processes
        .iter()
        .filter(|p| p.kind == "kresd" && p.pid.is_some() && p.state == "running")
        .filter_map(|p| match Program::from_name(&p.name) {
            Some(Program::Worker(n)) => Some(n),
            _ => None,
        })
        .collect();
    workers.sort_unstable();
    let Some(worker) = workers.first() else {
        return Err(ApiError::Unavailable("no worker is running to clear the cache".into()));
    };
    let socket = state.layout().control(Program::Worker(*worker));
    tracing::info!("clearing the cache: {}", clear.lua());
    let answer = control::json(&socket, &clear.lua(), CACHE_CLEAR_TIMEOUT).await?;
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_become_escaped_lua() {
        assert_eq!(parse(&Value::Null).unwrap().lua(), "cache.clear()");
        assert_eq!(parse(&json!({})).unwrap().lua(), "cache.clear()");
        let clear = parse(&json!({"name": "example.com", "chunk-size": 10})).unwrap();
        assert_eq!(clear.lua(), r#"cache.clear("example.com.", false, nil, 10)"#);
        let clear = parse(&json!({"name": "a.example.", "exact-name": true, "rr-type": "aaaa"})).unwrap();
        assert_eq!(
            clear.lua(),
            r#"(function() local cleared = cache.clear("a.example.", true, 28, nil); assert(kres.context().cache:commit()); return cleared end)()"#
        );
        assert_eq!(rr_type("TYPE65"), Some(65));
        assert_eq!(rr_type("TYPE+1"), None);
    }

    #[test]
    fn every_problem_is_reported_with_its_pointer() {
        let Err(ApiError::Unprocessable(problems)) =
            parse(&json!({"name": "bad name\"", "rr-type": "NOPE", "chunk-size": 0, "extra": 1}))
        else {
            panic!("invalid");
        };
        let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pointers, ["/name", "/rr-type", "/chunk-size", "/extra"], "{problems:?}");
        let Err(ApiError::Unprocessable(problems)) =
            parse(&json!({"name": "example.", "rr-type": "A", "chunk-size": 5}))
        else {
            panic!("invalid");
        };
        let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(pointers, ["/exact-name", "/chunk-size"], "{problems:?}");
        assert!(parse(&json!({"exact-name": true})).is_err());
        assert!(parse(&json!([1])).is_err());
        // An invalid name is one problem, not also a misplaced chunk.
        let Err(ApiError::Unprocessable(problems)) = parse(&json!({"name": "a..b", "chunk-size": 5})) else {
            panic!("invalid");
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    /// What Knot Resolver 6's `kresctl cache clear` sends: every key, `chunk-size: 100` always.
    fn kr6(name: Option<&str>, exact_name: bool, rr_type: Option<&str>, chunk_size: u64) -> Value {
        json!({"exact-name": exact_name, "name": name, "rr-type": rr_type, "chunk-size": chunk_size})
    }

    #[test]
    fn knot_resolver_6_clients_bodies_are_accepted() {
        let lua = |body: Value| parse(&body).unwrap_or_else(|e| panic!("{body} refused: {e:?}")).lua();
        assert_eq!(
            lua(kr6(Some("example.com."), true, Some("AAAA"), 100)),
            r#"(function() local cleared = cache.clear("example.com.", true, 28, nil); assert(kres.context().cache:commit()); return cleared end)()"#
        );
        assert_eq!(lua(kr6(Some("example.com."), true, None, 100)), r#"cache.clear("example.com.", true, nil, nil)"#);
        assert_eq!(lua(kr6(Some("example.com."), false, None, 100)), r#"cache.clear("example.com.", false, nil, 100)"#);
        assert_eq!(lua(kr6(Some("example.com."), false, None, 7)), r#"cache.clear("example.com.", false, nil, 7)"#);
        assert_eq!(lua(kr6(None, false, None, 100)), "cache.clear()");
        assert_eq!(lua(kr6(Some("."), false, None, 100)), r#"cache.clear(".", false, nil, nil)"#);
        assert_eq!(lua(kr6(Some("."), true, None, 100)), r#"cache.clear(".", true, nil, nil)"#);
    }

    #[test]
    fn a_chunk_that_would_have_no_effect_is_refused_unless_it_is_the_default() {
        for (body, reason) in [
            (kr6(Some("example.com."), true, Some("AAAA"), 10), "one type of one name"),
            (kr6(Some("example.com."), true, None, 10), "an exact name"),
            (kr6(None, false, None, 10), "the whole cache"),
            (kr6(Some("."), false, None, 10), "the whole cache"),
        ] {
            let Err(ApiError::Unprocessable(problems)) = parse(&body) else { panic!("{body} accepted") };
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].0, "/chunk-size", "{problems:?}");
            assert!(problems[0].1.contains(reason) && problems[0].1.contains("only to a subtree"), "{problems:?}");
        }
        // A narrow clear without a name is refused rather than clearing everything.
        for body in [kr6(None, true, None, 100), kr6(None, true, Some("A"), 100)] {
            let Err(ApiError::Unprocessable(problems)) = parse(&body) else { panic!("{body} accepted") };
            let pointers: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(pointers, ["/name"], "{problems:?}");
        }
    }

    #[test]
    fn chunks_that_would_crash_kresd_are_refused() {
        let largest = parse(&json!({"name": "example.", "chunk-size": MAX_CHUNK_SIZE})).unwrap();
        assert_eq!(largest.lua(), r#"cache.clear("example.", false, nil, 10000)"#);
        // schemathesis found this one: kresd 5.6 died of SIGSEGV (its stack overflowed).
        for size in [MAX_CHUNK_SIZE + 1, 1_402_342_435, u64::MAX] {
            let Err(ApiError::Unprocessable(problems)) = parse(&json!({"name": "canary", "chunk-size": size})) else {
                panic!("{size} accepted");
            };
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].0, "/chunk-size");
            assert!(problems[0].1.contains("more than 10000"), "{problems:?}");
        }
    }
}
