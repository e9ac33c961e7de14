//! The one place where config values become Lua source. Every string is written as a quoted
//! literal in which each byte outside printable ASCII, and every `"` and `\`, is a decimal
//! escape (`\034`), so no value can end the literal, start a comment or run code, whatever it
//! contains (quotes, `]]`, newlines, NUL, non-ASCII: the bytes are kept, as escapes).

use std::fmt::Write as _;

/// A Lua string literal holding exactly the bytes of `text`.
pub fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'"' && byte != b'\\' {
            out.push(byte as char);
        } else {
            // Always three digits, so a following digit cannot extend the escape.
            let _ = write!(out, "\\{byte:03}");
        }
    }
    out.push('"');
    out
}

/// A Lua literal for a JSON-like value: `nil`, booleans, numbers, strings, and tables for lists
/// and mappings (keys as string literals).
pub fn literal(value: &minijinja::Value) -> Result<String, minijinja::Error> {
    use minijinja::value::ValueKind;
    let invalid = |what: &str| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("cannot write {what} as Lua"))
    };
    Ok(match value.kind() {
        ValueKind::Undefined => return Err(invalid("an undefined value")),
        ValueKind::None => "nil".to_owned(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.to_owned(),
        ValueKind::Number => {
            if let Ok(int) = i64::try_from(value.clone()) {
                int.to_string()
            } else {
                let float = f64::try_from(value.clone()).map_err(|_| invalid("a number"))?;
                if !float.is_finite() {
                    return Err(invalid("a non-finite number"));
                }
                format!("{float:?}")
            }
        }
        ValueKind::String => string(value.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Result<Vec<String>, _> = value.try_iter()?.map(|item| literal(&item)).collect();
            format!("{{{}}}", items?.join(", "))
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = key.as_str().ok_or_else(|| invalid("a mapping with non-string keys"))?;
                entries.push(format!("[{}] = {}", string(key), literal(&item)?));
            }
            format!("{{{}}}", entries.join(", "))
        }
        _ => return Err(invalid("this kind of value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_become_inert_literals() {
        assert_eq!(string("abc"), "\"abc\"");
        assert_eq!(string("a\"b\\c"), "\"a\\034b\\092c\"");
        assert_eq!(string("]]\n"), "\"]]\\010\"");
        assert_eq!(string("é"), "\"\\195\\169\"");
        assert_eq!(string("\u{0}1"), "\"\\0001\"");
    }

    #[test]
    fn values_become_literals() {
        let value = minijinja::Value::from_serialize(serde_json::json!({"a": [1, 2.5, true, null, "x"]}));
        assert_eq!(literal(&value).unwrap(), "{[\"a\"] = {1, 2.5, true, nil, \"x\"}}");
    }
}
