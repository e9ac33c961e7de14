//! Secret values of the configuration (the TLS session-ticket secret): never in an answer, an
//! error message or a log line. Which values are secret, and how they are hidden; the API keeps
//! a secret when a client sends the marker back (`api::secrets::restore`).
//!
//! - Reading: `GET /v1/config{pointer}` answers [`REDACTED`] in place of every secret string at
//!   or under the pointer ([`redact`]).
//! - Writing: a `PUT` or `PATCH` value holding [`REDACTED`] at a secret's place keeps the
//!   current secret there (`restore` in the API), so a document read with `GET` can be changed and sent
//!   back without losing it; when there is no current secret that is a 422. A `copy` or `move`
//!   whose `from` holds a secret is refused (it would put the secret where `GET` shows it).
//! - Errors: messages about a secret's place have their quoted text replaced
//!   ([`sanitize`]); a failed JSON Patch `test` on or above a secret does not show the values.
//!
//! This keeps secrets from read-only clients and out of logs and terminals; it cannot keep them
//! from a client with full access, which may run any Lua in the resolver (`lua.script`).

use serde_json::Value;

/// The pointers of the secret values of the configuration document. A test checks that every
/// key of the JSON Schema that looks like a secret is here.
pub const SECRETS: &[&str] = &["/network/tls/sticket-secret"];

/// What `GET` answers in place of a secret, and what keeps the current secret in a `PUT` or
/// `PATCH` value. (Shorter than any valid secret, so it can never be a real one.)
pub const REDACTED: &str = "<redacted>";

/// `secret` relative to `pointer` (`Some("")` when they are the same), when it is at or under it.
pub(crate) fn relative<'a>(secret: &'a str, pointer: &str) -> Option<&'a str> {
    let rest = secret.strip_prefix(pointer)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Whether `pointer` is a secret or holds one (an ancestor).
pub fn holds_secret(pointer: &str) -> bool {
    SECRETS.iter().any(|secret| relative(secret, pointer).is_some())
}

/// Whether `pointer` is a secret or lies under one.
pub fn is_secret(pointer: &str) -> bool {
    SECRETS.iter().any(|secret| relative(pointer, secret).is_some())
}

/// `value`, found at `pointer` in the document, with every secret string in it replaced by
/// [`REDACTED`].
pub fn redact(mut value: Value, pointer: &str) -> Value {
    for secret in SECRETS {
        if let Some(rest) = relative(secret, pointer)
            && let Some(found @ Value::String(_)) = value.pointer_mut(rest)
        {
            *found = Value::String(REDACTED.to_owned());
        }
    }
    value
}

/// `message` about `pointer` with any quoted text replaced by [`REDACTED`] when the pointer is a
/// secret (validation messages quote the value they refuse).
pub fn sanitize(pointer: &str, message: &str) -> String {
    if !is_secret(pointer) {
        return message.to_owned();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 1..];
        // The closing quote: the first one not escaped by a backslash.
        let mut end = None;
        let mut escaped = false;
        for (at, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(at);
                    break;
                }
                _ => escaped = false,
            }
        }
        out.push('"');
        out.push_str(REDACTED);
        out.push('"');
        match end {
            Some(end) => rest = &quoted[end + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn document() -> Value {
        json!({"workers": 2, "network": {"tls": {"sticket-secret": SECRET, "padding": true}}})
    }

    #[test]
    fn secrets_are_redacted_at_and_under_the_pointer() {
        let redacted = redact(document(), "");
        assert_eq!(redacted["network"]["tls"]["sticket-secret"], REDACTED);
        assert_eq!(redacted["workers"], 2);
        assert_eq!(redact(document()["network"].clone(), "/network")["tls"]["sticket-secret"], REDACTED);
        assert_eq!(redact(json!(SECRET), "/network/tls/sticket-secret"), json!(REDACTED));
        // Only secret places, and only strings.
        assert_eq!(redact(json!({"tls": 1}), "/net"), json!({"tls": 1}));
        assert_eq!(redact(json!(null), "/network/tls/sticket-secret"), json!(null));
        assert!(!redact(document(), "").to_string().contains(SECRET));
    }

    #[test]
    fn messages_about_a_secret_lose_their_quotes() {
        let pointer = "/network/tls/sticket-secret";
        assert_eq!(
            sanitize(pointer, r#""short \" one" is shorter than 32 characters"#),
            r#""<redacted>" is shorter than 32 characters"#
        );
        assert_eq!(sanitize(pointer, r#"a "b" c "d"#), r#"a "<redacted>" c "<redacted>""#);
        assert_eq!(sanitize("/workers", r#""x" is bad"#), r#""x" is bad"#);
        assert!(is_secret(pointer) && !is_secret("/network/tls") && holds_secret("/network/tls") && holds_secret(""));
    }

    /// Every key of the configuration whose name says it is a secret (not a file holding one).
    fn secret_looking(schema: &Value, node: &Value, pointer: &str, depth: usize, out: &mut Vec<String>) {
        let mut node = node;
        while let Some(name) = node.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            node = &schema["$defs"][name];
        }
        if depth > 12 {
            return;
        }
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (key, child) in properties {
                let child_pointer = format!("{pointer}/{key}");
                let looks = ["secret", "password", "passphrase", "psk", "private"].iter().any(|w| key.contains(w))
                    || key.ends_with("-key");
                if looks && !key.ends_with("-file") {
                    out.push(child_pointer.clone());
                }
                secret_looking(schema, child, &child_pointer, depth + 1, out);
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in node.get(key).and_then(Value::as_array).into_iter().flatten() {
                secret_looking(schema, branch, pointer, depth + 1, out);
            }
        }
        if let Some(items) = node.get("items") {
            secret_looking(schema, items, &format!("{pointer}/0"), depth + 1, out);
        }
    }

    #[test]
    fn every_secret_of_the_schema_is_listed() {
        let schema = crate::config::json_schema();
        let mut found = Vec::new();
        secret_looking(&schema, &schema, "", 0, &mut found);
        found.sort();
        found.dedup();
        assert_eq!(found, SECRETS, "a new secret in the config? add it to SECRETS (api/secrets.rs)");
    }
}
