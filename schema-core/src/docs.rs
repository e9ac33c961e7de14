//! Markdown reference docs generated from the JSON Schema, so the docs can never disagree with
//! what the validator accepts: every field with its type, default, constraints and description.

use std::fmt::Write as _;

use serde_json::{Map, Value as Json};

/// Renders the reference for a schema document made by [`crate::json_schema::schema_for`].
pub fn markdown(schema: &Json, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {title}\n");
    if let Some(description) = schema.get("description").and_then(Json::as_str) {
        let _ = writeln!(out, "{description}\n");
    }
    let _ = writeln!(out, "<!-- Generated from the JSON Schema; do not edit by hand. -->\n");
    let walker = Walker { root: schema };
    walker.object(&mut out, schema, "", 2);
    out
}

struct Walker<'a> {
    root: &'a Json,
}

impl<'a> Walker<'a> {
    /// Follows `$ref`s (and single-branch `allOf` wrappers) to the schema that holds the content.
    fn target(&self, schema: &'a Json) -> &'a Json {
        if let Some(reference) = schema.get("$ref").and_then(Json::as_str)
            && let Some(name) = reference.strip_prefix("#/$defs/")
            && let Some(def) = self.root.get("$defs").and_then(|d| d.get(name))
        {
            return self.target(def);
        }
        if let Some([first, ..]) = schema.get("allOf").and_then(Json::as_array).map(Vec::as_slice) {
            return self.target(first);
        }
        schema
    }

    fn object(&self, out: &mut String, schema: &'a Json, path: &str, depth: usize) {
        let schema = self.target(schema);
        let Some(properties) = schema.get("properties").and_then(Json::as_object) else { return };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let mut nested = Vec::new();
        for (key, field) in properties {
            let field_path = format!("{path}/{key}");
            let heading = "#".repeat(depth.min(6));
            let _ = writeln!(out, "{heading} `{field_path}`\n");
            if let Some(description) = self.description(field) {
                let _ = writeln!(out, "{description}\n");
            }
            let _ = writeln!(out, "- **Type:** {}", self.type_name(field));
            if required.contains(&key.as_str()) {
                let _ = writeln!(out, "- **Required**");
            }
            if let Some(default) = field.get("default") {
                let _ = writeln!(out, "- **Default:** `{}`", compact(default));
            }
            let constraints = self.constraints(field);
            if !constraints.is_empty() {
                let _ = writeln!(out, "- **Constraints:** {}", constraints.join(", "));
            }
            out.push('\n');
            if let Some(inner) = self.object_within(field) {
                nested.push((field_path, inner));
            }
        }
        for (field_path, inner) in nested {
            self.object(out, inner, &field_path, depth + 1);
        }
    }

    fn description(&self, field: &'a Json) -> Option<&'a str> {
        field
            .get("description")
            .and_then(Json::as_str)
            .or_else(|| self.target(field).get("description").and_then(Json::as_str))
    }

    /// The struct a field holds, directly, optionally, or as list items, for nested sections.
    fn object_within(&self, field: &'a Json) -> Option<&'a Json> {
        let target = self.target(field);
        if target.get("properties").is_some() {
            return Some(target);
        }
        if let Some(items) = target.get("items") {
            return self.object_within(items);
        }
        target.get("anyOf").and_then(Json::as_array)?.iter().find_map(|branch| self.object_within(branch))
    }

    fn type_name(&self, field: &'a Json) -> String {
        let schema = self.target(field);
        if let Some(title) = schema.get("title").and_then(Json::as_str) {
            return title.to_owned();
        }
        if let Some(constant) = schema.get("const") {
            return format!("`{}`", compact(constant));
        }
        if let Some(values) = schema.get("enum").and_then(Json::as_array) {
            return format!(
                "one of {}",
                values.iter().map(|v| format!("`{}`", compact(v))).collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(branches) = schema.get("anyOf").and_then(Json::as_array) {
            return branches.iter().map(|b| self.type_name(b)).collect::<Vec<_>>().join(" or ");
        }
        match schema.get("type").and_then(Json::as_str) {
            Some("array") => match schema.get("items") {
                Some(items) => format!("list of ({})", self.type_name(items)),
                None => "list".into(),
            },
            Some("object") if schema.get("properties").is_some() => "section (see below)".into(),
            Some("object") => match schema.get("additionalProperties") {
                Some(values) if values.is_object() => format!("mapping of names to ({})", self.type_name(values)),
                _ => "mapping".into(),
            },
            Some(other) => other.to_owned(),
            None => "any".into(),
        }
    }

    fn constraints(&self, field: &'a Json) -> Vec<String> {
        let mut found = Vec::new();
        collect_constraints(field, &mut found);
        if let Some(all) = field.get("allOf").and_then(Json::as_array) {
            for part in all.iter().skip(1) {
                collect_constraints(part, &mut found);
            }
        }
        found
    }
}

fn collect_constraints(schema: &Json, found: &mut Vec<String>) {
    let Some(object) = schema.as_object() else { return };
    let keyword = |object: &Map<String, Json>, key: &str| object.get(key).map(compact);
    for (key, label) in [
        ("minimum", "at least"),
        ("maximum", "at most"),
        ("x-minimum", "at least"),
        ("x-maximum", "at most"),
        ("minLength", "length at least"),
        ("maxLength", "length at most"),
        ("minItems", "items at least"),
        ("maxItems", "items at most"),
        ("minProperties", "entries at least"),
        ("maxProperties", "entries at most"),
    ] {
        if let Some(value) = keyword(object, key) {
            found.push(format!("{label} {value}"));
        }
    }
    if object.get("title").is_none()
        && let Some(pattern) = object.get("pattern").and_then(Json::as_str)
    {
        found.push(format!("matches `{pattern}`"));
    }
}

fn compact(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}
