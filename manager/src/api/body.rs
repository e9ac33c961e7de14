//! Reading request bodies (JSON or YAML by `Content-Type`, through schema-core's parser so a
//! malformed body gets the same `line:column` report as a malformed file) and query flags.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use schema_core::Format;

use super::ApiError;

/// The largest body accepted.
pub const MAX_BODY: usize = 16 << 20;

/// The file name positions in a body are reported with (`body:3:7`).
pub const BODY_NAME: &str = "body";

/// The syntax of a body: JSON for `application/json` (and `+json`), YAML for the YAML types;
/// without a `Content-Type`, or with the ones command-line tools send by default
/// (`application/x-www-form-urlencoded`, `text/plain`), YAML, which reads JSON too.
pub fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else { return Ok(Format::Yaml) };
    let text = value.to_str().map_err(|_| ApiError::UnsupportedMediaType(format!("{value:?}")))?;
    if let Some(format) = Format::from_content_type(text) {
        return Ok(format);
    }
    let essence = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/x-www-form-urlencoded" | "text/plain" => Ok(Format::Yaml),
        _ => Err(ApiError::UnsupportedMediaType(text.to_owned())),
    }
}

/// The body as text (at most [`MAX_BODY`] bytes of UTF-8).
pub async fn text(body: Body) -> Result<String, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| ApiError::TooLarge { limit: MAX_BODY })?;
    String::from_utf8(bytes.to_vec()).map_err(|error| ApiError::BadRequest {
        pointer: String::new(),
        message: format!("the request body is not UTF-8 (byte {})", error.utf8_error().valid_up_to()),
    })
}

/// The body as a JSON value (numbers stay numbers, whatever the syntax). An empty body is
/// `null`.
pub async fn document(headers: &HeaderMap, body: Body) -> Result<serde_json::Value, ApiError> {
    let format = format(headers)?;
    let text = text(body).await?;
    parse(&text, format)
}

/// Like [`document`], for requests whose body is the point (`PUT`, `PATCH`): an empty body is a
/// client mistake, not a `null` that would quietly empty the value at the pointer.
pub async fn required_document(headers: &HeaderMap, body: Body) -> Result<serde_json::Value, ApiError> {
    let format = format(headers)?;
    let text = text(body).await?;
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest {
            pointer: String::new(),
            message: "the request body is empty; send the value as JSON or YAML (`null` for null)".into(),
        });
    }
    parse(&text, format)
}

/// Parses a body of `format`.
pub fn parse(text: &str, format: Format) -> Result<serde_json::Value, ApiError> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let value = schema_core::parse(text, Some(BODY_NAME), format).map_err(ApiError::Syntax)?;
    Ok(value.to_json())
}

/// Boolean query flags. Only the names in `allowed` are accepted (a misspelt `?dryrun=true`
/// must not apply anything); `?flag`, `?flag=true` and `?flag=1` are true, `?flag=false` and
/// `?flag=0` false.
#[derive(Debug, Default)]
pub struct Flags(BTreeMap<String, bool>);

impl Flags {
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Flags, ApiError> {
        let mut flags = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !allowed.contains(&name) {
                let known = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
                return Err(ApiError::BadRequest {
                    pointer: String::new(),
                    message: format!("unknown query parameter `{name}` (known here: {known})"),
                });
            }
            let value = match value {
                "" | "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ApiError::BadRequest {
                        pointer: String::new(),
                        message: format!("query parameter `{name}` is true or false, not `{other}`"),
                    });
                }
            };
            flags.insert(name.to_owned(), value);
        }
        Ok(Flags(flags))
    }

    pub fn get(&self, name: &str) -> bool {
        self.0.get(name).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn the_content_type_picks_the_syntax() {
        assert_eq!(format(&HeaderMap::new()).unwrap(), Format::Yaml);
        assert_eq!(format(&headers("application/json; charset=utf-8")).unwrap(), Format::Json);
        assert_eq!(format(&headers("application/yaml")).unwrap(), Format::Yaml);
        assert_eq!(format(&headers("application/x-www-form-urlencoded")).unwrap(), Format::Yaml);
        assert!(matches!(format(&headers("image/png")), Err(ApiError::UnsupportedMediaType(_))));
    }

    #[test]
    fn flags_are_checked() {
        let flags =
            Flags::parse(Some("dry-run=true&discard-api-changes"), &["dry-run", "discard-api-changes"]).unwrap();
        assert!(flags.get("dry-run") && flags.get("discard-api-changes"));
        assert!(!Flags::parse(Some("dry-run=0"), &["dry-run"]).unwrap().get("dry-run"));
        assert!(matches!(Flags::parse(Some("dryrun=true"), &["dry-run"]), Err(ApiError::BadRequest { .. })));
        assert!(matches!(Flags::parse(Some("dry-run=maybe"), &["dry-run"]), Err(ApiError::BadRequest { .. })));
    }

    #[test]
    fn values_keep_their_types_in_both_syntaxes() {
        let json = parse(r#"{"workers": 4, "a": "4", "b": 1.5, "c": true}"#, Format::Json).unwrap();
        let yaml = parse("workers: 4\na: '4'\nb: 1.5\nc: true\n", Format::Yaml).unwrap();
        assert_eq!(json, yaml);
        assert_eq!(json["workers"], serde_json::json!(4));
        assert_eq!(parse("  ", Format::Json).unwrap(), serde_json::Value::Null);
    }
}
