//! What the user gives on the command line, turned into what the API takes: values (JSON, else
//! YAML), documents from files, JSON pointers as URL paths, ETags as header values.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use schema_core::Format;

/// An inline value: JSON when it parses as JSON (`4`, `"4"`, `[1, 2]`, `{"a": 1}`), else YAML
/// (`debug`, `10s`, `{level: debug}`, `[a, b]`), so plain words need no quotes.
pub fn parse_inline(text: &str) -> Result<serde_json::Value, String> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    match schema_core::yaml::parse(text, Some("VALUE")) {
        Ok(value) => Ok(value.to_json()),
        Err(report) => {
            let sources = BTreeMap::from([("VALUE".to_owned(), text.to_owned())]);
            Err(format!(
                "the value is neither JSON nor YAML:\n{}",
                crate::config::load::render(&report, &sources).trim_end()
            ))
        }
    }
}

/// A document from a file (JSON for `.json`, else YAML, which also reads JSON), or from
/// standard input for `-`. Syntax errors come with file:line:column and a snippet.
pub fn read_document(path: &Path) -> Result<serde_json::Value, String> {
    let (name, text) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|error| format!("cannot read standard input: {error}"))?;
        ("<stdin>".to_owned(), text)
    } else {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {name}: {error}"))?;
        (name, text)
    };
    parse_document(&name, &text)
}

/// Parses a document named `name` (its extension decides JSON or YAML).
pub fn parse_document(name: &str, text: &str) -> Result<serde_json::Value, String> {
    match schema_core::parse(text, Some(name), Format::from_path(name)) {
        Ok(value) => Ok(value.to_json()),
        Err(report) => {
            let sources = BTreeMap::from([(name.to_owned(), text.to_owned())]);
            Err(format!("cannot parse {name}:\n{}", crate::config::load::render(&report, &sources).trim_end()))
        }
    }
}

/// A JSON pointer as the user wrote it, made exact: `workers` → `/workers`, `/` and `` → the
/// whole config. `~` must be `~0` or `~1` (RFC 6901).
pub fn pointer(text: &str) -> Result<String, String> {
    let pointer = match text {
        "" | "/" => return Ok(String::new()),
        p if p.starts_with('/') => p.to_owned(),
        p => format!("/{p}"),
    };
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "{text:?} is not a JSON pointer: `~` must be followed by 0 or 1 (`~0` is `~`, `~1` is `/`)"
            ));
        }
    }
    Ok(pointer)
}

/// The URL path of the config at `pointer` (already exact), percent-encoded.
pub fn config_path(pointer: &str) -> String {
    let mut path = String::from("/v1/config");
    for byte in pointer.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte) {
            path.push(byte as char);
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

/// An ETag for `If-Match`: `*` and quoted tags as given, a bare tag quoted (`abc` → `"abc"`),
/// so the value printed by `kresctl status` can be pasted either way.
pub fn etag(text: &str) -> String {
    let text = text.trim();
    if text == "*" || text.starts_with('"') || text.starts_with("W/") { text.to_owned() } else { format!("\"{text}\"") }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inline_values_are_json_else_yaml() {
        assert_eq!(parse_inline("4").unwrap(), json!(4));
        assert_eq!(parse_inline("\"4\"").unwrap(), json!("4"));
        assert_eq!(parse_inline("true").unwrap(), json!(true));
        assert_eq!(parse_inline("null").unwrap(), json!(null));
        assert_eq!(parse_inline("[\"a\", 1]").unwrap(), json!(["a", 1]));
        assert_eq!(parse_inline("{\"level\": \"debug\"}").unwrap(), json!({"level": "debug"}));
        // Not JSON: YAML scalars and documents.
        assert_eq!(parse_inline("debug").unwrap(), json!("debug"));
        assert_eq!(parse_inline("10s").unwrap(), json!("10s"));
        assert_eq!(parse_inline("127.0.0.1@5353").unwrap(), json!("127.0.0.1@5353"));
        assert_eq!(parse_inline("/var/cache/knot-resolver").unwrap(), json!("/var/cache/knot-resolver"));
        assert_eq!(parse_inline("yes").unwrap(), json!("yes"));
        assert_eq!(parse_inline("{level: debug, groups: [io]}").unwrap(), json!({"level": "debug", "groups": ["io"]}));
        assert_eq!(parse_inline("- a\n- b\n").unwrap(), json!(["a", "b"]));
        assert_eq!(parse_inline("1.5").unwrap(), json!(1.5));
    }

    #[test]
    fn bad_inline_values_are_shown_with_their_position() {
        let error = parse_inline("{level: [debug}").unwrap_err();
        assert!(error.starts_with("the value is neither JSON nor YAML:"), "{error}");
        assert!(error.contains("VALUE:1:"), "{error}");
    }

    #[test]
    fn documents_by_extension() {
        assert_eq!(parse_document("a.json", "{\"workers\": 2}").unwrap(), json!({"workers": 2}));
        assert_eq!(parse_document("a.yaml", "workers: 2\n").unwrap(), json!({"workers": 2}));
        // YAML anchors are resolved before the value is sent.
        let text = "a: &x {level: debug}\nb: *x\n";
        assert_eq!(parse_document("a.yaml", text).unwrap(), json!({"a": {"level": "debug"}, "b": {"level": "debug"}}));
        let error = parse_document("a.json", "{\"workers\": }").unwrap_err();
        assert!(error.contains("a.json:1:"), "{error}");
        let error = read_document(Path::new("/nonexistent/p.json")).unwrap_err();
        assert!(error.starts_with("cannot read /nonexistent/p.json"), "{error}");
    }

    #[test]
    fn pointers_are_made_exact() {
        assert_eq!(pointer("").unwrap(), "");
        assert_eq!(pointer("/").unwrap(), "");
        assert_eq!(pointer("workers").unwrap(), "/workers");
        assert_eq!(pointer("/network/listen/0").unwrap(), "/network/listen/0");
        assert_eq!(pointer("/a~1b/~0c").unwrap(), "/a~1b/~0c");
        assert!(pointer("/a~b").unwrap_err().contains("`~` must be followed by 0 or 1"));
        assert!(pointer("/a~").is_err());
    }

    #[test]
    fn pointers_become_url_paths() {
        assert_eq!(config_path(""), "/v1/config");
        assert_eq!(config_path("/network/listen/-"), "/v1/config/network/listen/-");
        assert_eq!(config_path("/a~1b c/%/?#"), "/v1/config/a~1b%20c/%25/%3F%23");
        assert_eq!(config_path("/é"), "/v1/config/%C3%A9");
    }

    #[test]
    fn etags_are_quoted_when_bare() {
        assert_eq!(etag("abc"), "\"abc\"");
        assert_eq!(etag("\"abc\""), "\"abc\"");
        assert_eq!(etag("W/\"abc\""), "W/\"abc\"");
        assert_eq!(etag("*"), "*");
    }
}
