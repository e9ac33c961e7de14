//! Editing a config document by JSON pointer: RFC 6901 pointers and RFC 6902 JSON Patch (all six
//! operations), on `serde_json::Value` documents. Values keep their JSON types (a number stays a
//! number). Used by the API (`PUT`/`PATCH`/`DELETE /v1/config/...`) and to re-apply the recorded
//! API changes on top of the files at every reload.

use serde_json::Value;

/// How deep a patched document may nest (the parsers' limit: deeper documents are refused when
/// read, and deep recursion over them could exhaust the stack).
pub const MAX_DEPTH: usize = 128;
/// How many values a patched document may hold (`copy` and `add` can otherwise double it with
/// each operation). A config with 100,000 local-data addresses holds about 100,000.
pub const MAX_VALUES: usize = 250_000;

/// Why an edit does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("{pointer}: not a JSON pointer (it must be empty or start with `/`)")]
    BadPointer { pointer: String },
    #[error("{pointer}: no such value in the configuration")]
    Missing { pointer: String },
    #[error("{pointer}: {message}")]
    Invalid { pointer: String, message: String },
    #[error("{pointer}: test failed: the value is {actual}, not {expected}")]
    TestFailed { pointer: String, actual: String, expected: String },
    #[error("operation {index}: {message}")]
    BadOperation { index: usize, message: String },
}

/// The reference tokens of `pointer` (`~1` → `/`, `~0` → `~`).
pub fn tokens(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(PatchError::BadPointer { pointer: pointer.to_owned() });
    };
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn index(token: &str, len: usize, pointer: &str, allow_end: bool) -> Result<usize, PatchError> {
    if token == "-" && allow_end {
        return Ok(len);
    }
    let valid =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let n: usize = if valid { token.parse().unwrap_or(usize::MAX) } else { usize::MAX };
    let limit = if allow_end { len } else { len.saturating_sub(1) };
    if !valid || n > limit || (!allow_end && len == 0) {
        return Err(PatchError::Missing { pointer: pointer.to_owned() });
    }
    Ok(n)
}

/// The value at `pointer`.
pub fn get<'v>(document: &'v Value, pointer: &str) -> Result<&'v Value, PatchError> {
    let mut value = document;
    for token in tokens(pointer)? {
        value = match value {
            Value::Object(map) => map.get(&token),
            Value::Array(items) => items.get(index(&token, items.len(), pointer, false)?),
            _ => None,
        }
        .ok_or_else(|| PatchError::Missing { pointer: pointer.to_owned() })?;
    }
    Ok(value)
}

/// The parent container of `pointer` and the last token.
fn parent<'v>(document: &'v mut Value, pointer: &str) -> Result<(&'v mut Value, String), PatchError> {
    let mut tokens = tokens(pointer)?;
    let Some(last) = tokens.pop() else {
        return Err(PatchError::Invalid {
            pointer: pointer.to_owned(),
            message: "the whole document has no parent".into(),
        });
    };
    let mut value = document;
    for token in tokens {
        value = match value {
            Value::Object(map) => map.get_mut(&token),
            Value::Array(items) => {
                let i = index(&token, items.len(), pointer, false)?;
                items.get_mut(i)
            }
            _ => None,
        }
        .ok_or_else(|| PatchError::Missing { pointer: pointer.to_owned() })?;
    }
    Ok((value, last))
}

/// The operations that turn `from` into `to`, as few as the objects allow: `remove` for members
/// gone, `add` for new ones, `replace` for any other value that differs (lists are replaced
/// whole). Bounded by the size of the documents, however many edits led from one to the other.
pub fn diff(from: &Value, to: &Value) -> Vec<Value> {
    let mut operations = Vec::new();
    diff_at(&mut String::new(), from, to, &mut operations);
    operations
}

fn diff_at(path: &mut String, from: &Value, to: &Value, operations: &mut Vec<Value>) {
    if from == to {
        return;
    }
    let (Value::Object(old), Value::Object(new)) = (from, to) else {
        operations.push(serde_json::json!({ "op": "replace", "path": path.as_str(), "value": to }));
        return;
    };
    for key in old.keys().filter(|key| !new.contains_key(*key)) {
        operations.push(serde_json::json!({ "op": "remove", "path": format!("{path}/{}", escape(key)) }));
    }
    for (key, value) in new {
        let parent = path.len();
        path.push('/');
        path.push_str(&escape(key));
        match old.get(key) {
            Some(before) => diff_at(path, before, value, operations),
            None => operations.push(serde_json::json!({ "op": "add", "path": path.as_str(), "value": value })),
        }
        path.truncate(parent);
    }
}

/// A member name as a JSON Pointer token (RFC 6901: `~` is `~0`, `/` is `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// RFC 6902 `add`: sets a member (replacing it), or inserts into a list (`-` appends).
pub fn add(document: &mut Value, pointer: &str, new: Value) -> Result<(), PatchError> {
    if pointer.is_empty() {
        *document = new;
        return Ok(());
    }
    let (container, last) = parent(document, pointer)?;
    match container {
        Value::Object(map) => {
            map.insert(last, new);
            Ok(())
        }
        Value::Array(items) => {
            let i = index(&last, items.len(), pointer, true)?;
            items.insert(i, new);
            Ok(())
        }
        other => Err(PatchError::Invalid {
            pointer: pointer.to_owned(),
            message: format!("cannot add inside a {}", kind(other)),
        }),
    }
}

/// RFC 6902 `remove`; returns the removed value.
pub fn remove(document: &mut Value, pointer: &str) -> Result<Value, PatchError> {
    let (container, last) = parent(document, pointer)?;
    let missing = || PatchError::Missing { pointer: pointer.to_owned() };
    match container {
        Value::Object(map) => map.shift_remove(&last).ok_or_else(missing),
        Value::Array(items) => {
            let i = index(&last, items.len(), pointer, false)?;
            Ok(items.remove(i))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 `replace`: the value must exist.
pub fn replace(document: &mut Value, pointer: &str, new: Value) -> Result<(), PatchError> {
    get(document, pointer)?;
    if pointer.is_empty() {
        *document = new;
        return Ok(());
    }
    let (container, last) = parent(document, pointer)?;
    match container {
        Value::Object(map) => {
            map.insert(last, new);
        }
        Value::Array(items) => {
            let i = index(&last, items.len(), pointer, false)?;
            items[i] = new;
        }
        _ => unreachable!("get found the value"),
    }
    Ok(())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Applies an RFC 6902 patch (a list of operations) to `document`, all or nothing.
pub fn apply_patch(document: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Array(operations) = patch else {
        return Err(PatchError::BadOperation { index: 0, message: "a JSON Patch is a list of operations".into() });
    };
    let mut result = document.clone();
    for (i, operation) in operations.iter().enumerate() {
        apply_operation(&mut result, operation).map_err(|error| match error {
            PatchError::BadOperation { message, .. } => PatchError::BadOperation { index: i, message },
            other => other,
        })?;
        // Checked after each operation: a few `copy` operations already double the document.
        check_size(&result).map_err(|what| PatchError::Invalid {
            pointer: operation.get("path").and_then(Value::as_str).unwrap_or("").to_owned(),
            message: format!("operation {i}: the configuration would {what}; refused"),
        })?;
    }
    *document = result;
    Ok(())
}

/// Whether `document` stays within [`MAX_DEPTH`] and [`MAX_VALUES`] (iteratively: the check
/// itself must not recurse as deep as the document).
pub fn check_size(document: &Value) -> Result<(), String> {
    let mut stack = vec![(document, 1usize)];
    let mut values = 0usize;
    while let Some((value, depth)) = stack.pop() {
        values += 1;
        if values > MAX_VALUES {
            return Err(format!("hold more than {MAX_VALUES} values"));
        }
        if depth > MAX_DEPTH {
            return Err(format!("nest deeper than {MAX_DEPTH} levels"));
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|item| (item, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

fn apply_operation(document: &mut Value, operation: &Value) -> Result<(), PatchError> {
    let bad = |message: &str| PatchError::BadOperation { index: 0, message: message.to_owned() };
    let Value::Object(fields) = operation else { return Err(bad("an operation is a mapping")) };
    let text = |name: &str| {
        fields.get(name).and_then(Value::as_str).ok_or_else(|| bad(&format!("`{name}` (a string) is missing")))
    };
    let value = || fields.get("value").cloned().ok_or_else(|| bad("`value` is missing"));
    let path = text("path")?;
    match text("op")? {
        "add" => add(document, path, value()?),
        "remove" => remove(document, path).map(drop),
        "replace" => replace(document, path, value()?),
        "move" => {
            let from = text("from")?;
            if path.starts_with(&format!("{from}/")) {
                return Err(bad("cannot move a value into itself"));
            }
            let moved = remove(document, from)?;
            add(document, path, moved)
        }
        "copy" => {
            let copied = get(document, text("from")?)?.clone();
            add(document, path, copied)
        }
        "test" => {
            let expected = value()?;
            let actual = get(document, path)?;
            if *actual == expected {
                Ok(())
            } else {
                Err(PatchError::TestFailed {
                    pointer: path.to_owned(),
                    actual: actual.to_string(),
                    expected: expected.to_string(),
                })
            }
        }
        other => Err(bad(&format!("unknown operation `{other}` (add, remove, replace, move, copy, test)"))),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn diff_turns_one_document_into_the_other() {
        let from = json!({"a": 1, "gone": true, "list": [1, 2], "m": {"x": "1", "we/ird~": 0}, "same": {"k": [1]}});
        let to = json!({"a": 2, "list": [1], "m": {"x": "1", "we/ird~": 1, "new": null}, "same": {"k": [1]}, "n": {}});
        let operations = diff(&from, &to);
        assert_eq!(
            operations,
            vec![
                json!({"op": "remove", "path": "/gone"}),
                json!({"op": "replace", "path": "/a", "value": 2}),
                json!({"op": "replace", "path": "/list", "value": [1]}),
                json!({"op": "replace", "path": "/m/we~1ird~0", "value": 1}),
                json!({"op": "add", "path": "/m/new", "value": null}),
                json!({"op": "add", "path": "/n", "value": {}}),
            ]
        );
        let mut document = from.clone();
        apply_patch(&mut document, &Value::Array(operations)).unwrap();
        assert_eq!(document, to);
        assert!(diff(&to, &to).is_empty());
        // Different kinds at the root: the whole document.
        assert_eq!(diff(&json!([1]), &json!({})), vec![json!({"op": "replace", "path": "", "value": {}})]);
    }
    use serde_json::json;

    use super::*;

    #[test]
    fn the_six_operations_keep_value_types() {
        let mut document = json!({"workers": 2, "logging": {"level": "info"}, "list": [1, 2]});
        let patch = json!([
            {"op": "replace", "path": "/workers", "value": 4},
            {"op": "add", "path": "/list/-", "value": 3},
            {"op": "add", "path": "/list/0", "value": 0},
            {"op": "copy", "from": "/logging", "path": "/copy"},
            {"op": "move", "from": "/copy/level", "path": "/moved"},
            {"op": "remove", "path": "/copy"},
            {"op": "test", "path": "/workers", "value": 4}
        ]);
        apply_patch(&mut document, &patch).expect("applies");
        assert_eq!(
            document,
            json!({"workers": 4, "logging": {"level": "info"}, "list": [0, 1, 2, 3], "moved": "info"})
        );
    }

    #[test]
    fn failures_name_the_pointer_and_change_nothing() {
        let original = json!({"a": {"b": [1]}});
        let mut document = original.clone();
        let patch = json!([{"op": "replace", "path": "/a/b/0", "value": 5}, {"op": "remove", "path": "/a/c"}]);
        assert_eq!(apply_patch(&mut document, &patch), Err(PatchError::Missing { pointer: "/a/c".into() }));
        assert_eq!(document, original);
        let test = json!([{"op": "test", "path": "/a/b/0", "value": 2}]);
        assert!(matches!(apply_patch(&mut document, &test), Err(PatchError::TestFailed { .. })));
        let unknown = json!([{"op": "frob", "path": "/a"}]);
        assert!(matches!(apply_patch(&mut document, &unknown), Err(PatchError::BadOperation { index: 0, .. })));
        assert!(matches!(get(&document, "a"), Err(PatchError::BadPointer { .. })));
        assert!(matches!(get(&document, "/a/b/01"), Err(PatchError::Missing { .. })));
        assert!(matches!(get(&document, "/a/b/1"), Err(PatchError::Missing { .. })));
        assert!(matches!(remove(&mut document, "/a/b/-"), Err(PatchError::Missing { .. })));
    }

    #[test]
    fn patches_cannot_blow_the_document_up() {
        let mut document = json!({"a": [1, 2, 3, 4, 5, 6, 7, 8]});
        let doubling: Vec<Value> =
            (0..40).map(|i| json!({"op": "copy", "from": "", "path": format!("/c{i}")})).collect();
        let error = apply_patch(&mut document, &Value::Array(doubling)).expect_err("refused");
        assert!(error.to_string().contains("would hold more than 250000 values"), "{error}");
        assert_eq!(document, json!({"a": [1, 2, 3, 4, 5, 6, 7, 8]}));
        let deep = (0..MAX_DEPTH).fold(json!(1), |v, _| json!({ "a": v }));
        let error =
            apply_patch(&mut document, &json!([{"op": "add", "path": "/deep", "value": deep}])).expect_err("refused");
        assert!(error.to_string().contains("nest deeper than 128 levels"), "{error}");
    }

    #[test]
    fn escaped_tokens() {
        let document = json!({"a/b": {"~c": 1}});
        assert_eq!(get(&document, "/a~1b/~0c"), Ok(&json!(1)));
        assert_eq!(get(&document, ""), Ok(&document));
    }
}
