//! Every key of Knot Resolver 6's configuration format (its structure, kept in
//! `fixtures/kr6-config-structure.json`: names, types, defaults) is in our schema with the same
//! default, and we add no key of our own, except the differences listed here with their reason.
//! Our own keys ([`EXTENSIONS`]) must be optional, so every Knot Resolver 6 config stays valid.
//!
//! This is the check that runs without Knot Resolver 6 installed; `kr6_schema.rs` compares with
//! the installed one (types and enum values too), and its list of differences, mirrored in
//! `docs/knot-resolver-6-differences.md`, is the one that explains each; keep these two lists in
//! step with it.

use serde_json::Value as Json;

/// Keys whose default differs on purpose.
const DEFAULT_DIFFERENCES: &[(&str, &str)] = &[
    // Absent and explicitly `true` must stay distinguishable: KR6 turns defer on by default, and
    // kresd 5.6 has no defer, so absent resolves to off with a note and explicit `true` is an
    // error. The description says KR6's default is true.
    ("/defer/enable", "absent means Knot Resolver 6's default (on), which kresd 5.6 cannot do"),
];

/// Keys of ours that Knot Resolver 6's format does not have, each optional, with its reason.
const EXTENSIONS: &[(&str, &str)] = &[
    ("/management/unix-socket-mode", "who may connect to the API socket (default 0600, as before)"),
    ("/management/unix-socket-group", "lets a group of operators use the API socket (mode 0660)"),
    ("/management/tokens", "bearer tokens for the API over TCP, full or read-only; without them, loopback only"),
];

struct Schemas {
    ours: Json,
}

impl Schemas {
    fn deref<'a>(&'a self, mut schema: &'a Json) -> &'a Json {
        while let Some(name) = schema.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
            schema = &self.ours["$defs"][name];
        }
        schema
    }

    /// The object schemas a value may be (through refs, unions and list items).
    fn objects<'a>(&'a self, schema: &'a Json, out: &mut Vec<&'a Json>) {
        let schema = self.deref(schema);
        if schema.get("properties").is_some() {
            out.push(schema);
        }
        for key in ["anyOf", "allOf", "oneOf"] {
            for branch in schema.get(key).and_then(Json::as_array).into_iter().flatten() {
                self.objects(branch, out);
            }
        }
        if let Some(items) = schema.get("items") {
            self.objects(items, out);
        }
    }
}

fn reference_objects<'a>(schema: &'a Json, out: &mut Vec<&'a Json>) {
    if schema.get("properties").is_some() {
        out.push(schema);
    }
    for branch in schema.get("anyOf").and_then(Json::as_array).into_iter().flatten() {
        reference_objects(branch, out);
    }
    if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
        reference_objects(items, out);
    }
}

fn properties(objects: &[&Json]) -> serde_json::Map<String, Json> {
    let mut all = serde_json::Map::new();
    for object in objects {
        all.extend(object["properties"].as_object().cloned().unwrap_or_default());
    }
    all
}

fn walk(
    schemas: &Schemas,
    reference: &Json,
    ours: &Json,
    path: &str,
    problems: &mut Vec<String>,
    leaves: &mut usize,
    extensions_seen: &mut usize,
) {
    let mut reference_objs = Vec::new();
    reference_objects(reference, &mut reference_objs);
    if reference_objs.is_empty() {
        *leaves += 1;
        return;
    }
    let mut our_objs = Vec::new();
    schemas.objects(ours, &mut our_objs);
    if our_objs.is_empty() {
        problems.push(format!("{path}: a section in Knot Resolver 6, not in ours"));
        return;
    }
    let (theirs, mine) = (properties(&reference_objs), properties(&our_objs));
    for (key, their_field) in &theirs {
        let field_path = format!("{path}/{key}");
        let Some(my_field) = mine.get(key) else {
            problems.push(format!("{field_path}: missing"));
            continue;
        };
        let their_default = their_field.get("default");
        let is_section = their_default.is_some_and(|d| d.is_object() || d.is_array());
        if let (Some(their_default), false) = (their_default, is_section) {
            let my_default = my_field.get("default").or_else(|| schemas.deref(my_field).get("default"));
            let excused = DEFAULT_DIFFERENCES.iter().any(|(p, _)| *p == field_path);
            if my_default != Some(their_default) && !excused {
                problems.push(format!("{field_path}: default {their_default} in Knot Resolver 6, ours {my_default:?}"));
            }
        }
        walk(schemas, their_field, my_field, &field_path, problems, leaves, extensions_seen);
    }
    let required: Vec<&str> = our_objs
        .iter()
        .flat_map(|o| o.get("required").and_then(Json::as_array).into_iter().flatten())
        .filter_map(Json::as_str)
        .collect();
    for key in mine.keys().filter(|k| !theirs.contains_key(*k)) {
        let field_path = format!("{path}/{key}");
        if !EXTENSIONS.iter().any(|(p, _)| *p == field_path) {
            problems.push(format!("{field_path}: ours only (a documented extension belongs in EXTENSIONS)"));
        } else if required.contains(&key.as_str()) {
            problems.push(format!("{field_path}: an extension must be optional, and it is required"));
        }
        *extensions_seen += 1;
    }
}

#[test]
fn every_key_and_default_of_the_reference_structure_is_ours() {
    let reference: Json =
        serde_json::from_str(include_str!("fixtures/kr6-config-structure.json")).expect("the reference parses");
    let schemas = Schemas { ours: kres_manager::config::json_schema() };
    let mut problems = Vec::new();
    let (mut leaves, mut extensions_seen) = (0, 0);
    walk(&schemas, &reference, &schemas.ours, "", &mut problems, &mut leaves, &mut extensions_seen);
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(extensions_seen, EXTENSIONS.len(), "an entry of EXTENSIONS names no key of ours (any more)");
    assert!(leaves > 140, "only {leaves} leaf keys compared: the walk missed part of the structure");
}
