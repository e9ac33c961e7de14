//! Secrets in the API: reading and error messages hide them ([`crate::config::secrets`]); a
//! `PUT` or `PATCH` value holding [`REDACTED`] at a secret's place keeps the current secret
//! ([`restore`]).

use serde_json::Value;

use super::ApiError;
use crate::config::secrets::relative;
pub use crate::config::secrets::{REDACTED, SECRETS, holds_secret, is_secret, redact, sanitize};

/// JSON Patch `operations` (absolute paths) with every [`REDACTED`] at a secret's place replaced
/// by the secret in `document`; a `copy` or `move` from a place holding a secret is refused.
pub fn restore(document: &Value, mut operations: Value) -> Result<Value, ApiError> {
    let Value::Array(list) = &mut operations else { return Ok(operations) };
    for (index, operation) in list.iter_mut().enumerate() {
        let Value::Object(fields) = operation else { continue };
        let op = fields.get("op").and_then(Value::as_str).unwrap_or_default().to_owned();
        if matches!(op.as_str(), "copy" | "move")
            && let Some(from) = fields.get("from").and_then(Value::as_str)
            && let Some(secret) = SECRETS.iter().find(|s| relative(s, from).is_some() && document.pointer(s).is_some())
        {
            return Err(ApiError::BadRequest {
                pointer: format!("/{index}"),
                message: format!(
                    "JSON Patch operation {index}: `{op}` from {from} would copy the secret {secret} elsewhere; \
                     refused"
                ),
            });
        }
        let Some(path) = fields.get("path").and_then(Value::as_str).map(str::to_owned) else { continue };
        let Some(value) = fields.get_mut("value") else { continue };
        for secret in SECRETS {
            let Some(rest) = relative(secret, &path) else { continue };
            let Some(slot) = value.pointer_mut(rest) else { continue };
            if slot.as_str() != Some(REDACTED) {
                continue;
            }
            match document.pointer(secret) {
                Some(current @ Value::String(_)) => *slot = current.clone(),
                _ => {
                    return Err(ApiError::Unprocessable(vec![(
                        (*secret).to_owned(),
                        format!("{REDACTED} stands for the current secret, and there is none; give the secret itself"),
                    )]));
                }
            }
        }
    }
    Ok(operations)
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
    fn the_marker_keeps_the_current_secret() {
        let mut whole = redact(document(), "");
        whole["workers"] = json!(3);
        let ops = json!([{"op": "replace", "path": "", "value": whole}]);
        let restored = restore(&document(), ops).unwrap();
        assert_eq!(restored[0]["value"]["network"]["tls"]["sticket-secret"], SECRET);
        assert_eq!(restored[0]["value"]["workers"], 3);
        // At the secret itself, in a test, under a created parent.
        let ops = json!([
            {"op": "test", "path": "/network/tls/sticket-secret", "value": REDACTED},
            {"op": "add", "path": "/network/tls", "value": {"sticket-secret": REDACTED}},
        ]);
        let restored = restore(&document(), ops).unwrap();
        assert_eq!(restored[0]["value"], SECRET);
        assert_eq!(restored[1]["value"]["sticket-secret"], SECRET);
        // A new secret is taken as given.
        let ops = json!([{"op": "add", "path": "/network/tls/sticket-secret", "value": "x".repeat(32)}]);
        assert_eq!(restore(&document(), ops.clone()).unwrap(), ops);
        // The marker without a current secret.
        let error =
            restore(&json!({}), json!([{"op": "add", "path": "/network/tls/sticket-secret", "value": REDACTED}]))
                .unwrap_err();
        assert!(matches!(&error, ApiError::Unprocessable(entries) if entries[0].0 == SECRETS[0]), "{error}");
    }

    #[test]
    fn copying_a_secret_elsewhere_is_refused() {
        for from in ["/network/tls/sticket-secret", "/network/tls", ""] {
            let ops = json!([{"op": "copy", "from": from, "path": "/nsid"}]);
            let error = restore(&document(), ops).unwrap_err();
            assert!(error.to_string().contains("would copy the secret"), "{error}");
            assert!(!error.to_string().contains(SECRET));
        }
        // Without a secret in the document, nothing to protect.
        let ops = json!([{"op": "move", "from": "/network/tls", "path": "/x"}]);
        assert!(restore(&json!({"network": {"tls": {}}}), ops).is_ok());
        let ops = json!([{"op": "copy", "from": "/workers", "path": "/x"}]);
        assert!(restore(&document(), ops).is_ok());
    }
}
