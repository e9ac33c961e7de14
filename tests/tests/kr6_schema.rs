//! Our JSON Schema against Knot Resolver 6's own, as the installed Knot Resolver 6 prints it
//! (`kr6-kresctl schema`, the current format): for every key path, both must agree on whether
//! the key exists, its JSON types, its default and its enum values.
//!
//! Both schemas are flattened into one set of facts per key path: `$ref`s are followed, a
//! union's branches (`anyOf`, `oneOf`) add their types, values and keys to the same path, list
//! items are the path plus `/[]` and map values the path plus `/{}`. A key present on one side
//! only is reported once, at its top.
//!
//! Defaults are compared where they are not objects: Knot Resolver 6 writes a section's default
//! as its parsed value (units rewritten, `from-arg` resolved, Python attribute names as keys), so
//! a section's default says nothing that its keys' own defaults do not. Object keys inside other
//! defaults (the list of `network/listen`) are read with `-` for `_` for the same reason.
//!
//! The deliberate differences are [`DIFFERENCES`], mirrored in
//! `docs/knot-resolver-6-differences.md`. The test fails on a difference not listed there, on a
//! listed one that is gone or changed, and on a doc table that is not the list.

use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Knot Resolver 6's client, installed with its daemon by `scripts/install-kresd6.sh` (in
/// `$KRES_KR6_PREFIX`, `/opt/kr6` by default).
fn kr6_kresctl() -> String {
    let prefix = std::env::var("KRES_KR6_PREFIX").unwrap_or_else(|_| "/opt/kr6".to_owned());
    format!("{prefix}/bin/kr6-kresctl")
}

/// The doc that mirrors [`DIFFERENCES`], relative to the workspace.
const DOC: &str = "docs/knot-resolver-6-differences.md";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    Presence,
    Type,
    Default,
    Enum,
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aspect::Presence => "presence",
            Aspect::Type => "type",
            Aspect::Default => "default",
            Aspect::Enum => "enum",
        })
    }
}

/// One difference: what Knot Resolver 6 has and what we have, as the test writes them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Found {
    pointer: String,
    aspect: Aspect,
    theirs: String,
    ours: String,
}

/// A deliberate difference, with the reason it stays.
struct Difference {
    pointer: &'static str,
    aspect: Aspect,
    theirs: &'static str,
    ours: &'static str,
    reason: &'static str,
}

/// Every difference we keep on purpose (one line in the doc each).
const DIFFERENCES: &[Difference] = &[
    Difference {
        pointer: "/defer/enable",
        aspect: Aspect::Type,
        theirs: "boolean",
        ours: "boolean, null",
        reason: "absent must stay distinguishable from `true`: on for Knot Resolver 6, off with a note for kresd 5.6, which has no defer",
    },
    Difference {
        pointer: "/defer/enable",
        aspect: Aspect::Default,
        theirs: "`true`",
        ours: "`null`",
        reason: "absent resolves to `true` with Knot Resolver 6 and to `false` with kresd 5.6 (the description says so)",
    },
    Difference {
        pointer: "/logging/target",
        aspect: Aspect::Enum,
        theirs: "",
        ours: "`\"from-env\"`",
        reason: "Knot Resolver 6.0 to 6.4 had `from-env` (read `KRES_LOGGING_TARGET`); their configs still load",
    },
    Difference {
        pointer: "/management/tokens",
        aspect: Aspect::Presence,
        theirs: "absent",
        ours: "present",
        reason: "bearer tokens for the API over TCP, full or read-only; optional (without them, loopback only)",
    },
    Difference {
        pointer: "/management/unix-socket-group",
        aspect: Aspect::Presence,
        theirs: "absent",
        ours: "present",
        reason: "lets a group of operators use the API socket (mode 0660); optional",
    },
    Difference {
        pointer: "/management/unix-socket-mode",
        aspect: Aspect::Presence,
        theirs: "absent",
        ours: "present",
        reason: "who may connect to the API socket; optional, default 0600 as before",
    },
];

/// What one side says about one key path.
#[derive(Default, Debug)]
struct Facts {
    types: BTreeSet<String>,
    /// Enum and const values, as JSON text.
    values: BTreeSet<String>,
    default: Option<Json>,
}

struct Flattener<'a> {
    root: &'a Json,
    /// Python attribute names (`unix_socket`) in defaults are read as keys (`unix-socket`).
    python_defaults: bool,
    facts: BTreeMap<String, Facts>,
}

fn kebab_keys(value: &Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.replace('_', "-"), kebab_keys(v))).collect()),
        Json::Array(items) => Json::Array(items.iter().map(kebab_keys).collect()),
        other => other.clone(),
    }
}

fn type_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

impl Flattener<'_> {
    /// `schema` with its `$ref`s followed; the referring schema's own keywords win.
    fn resolve(&self, schema: &Json, pointer: &str) -> Json {
        let mut schema = schema.clone();
        for _ in 0..32 {
            let Some(target) = schema.get("$ref").and_then(Json::as_str) else { return schema };
            let found = target
                .strip_prefix('#')
                .and_then(|p| self.root.pointer(p))
                .unwrap_or_else(|| panic!("{pointer}: $ref {target} names nothing"));
            let mut merged = found.as_object().cloned().unwrap_or_default();
            for (key, value) in schema.as_object().into_iter().flatten().filter(|(k, _)| *k != "$ref") {
                merged.insert(key.clone(), value.clone());
            }
            schema = Json::Object(merged);
        }
        panic!("{pointer}: $refs nested more than 32 deep (a cycle?)")
    }

    fn walk(&mut self, schema: &Json, pointer: &str) {
        let schema = self.resolve(schema, pointer);
        let Some(node) = schema.as_object() else { return };
        let facts = self.facts.entry(pointer.to_owned()).or_default();
        match node.get("type") {
            Some(Json::String(t)) => {
                facts.types.insert(t.clone());
            }
            Some(Json::Array(ts)) => facts.types.extend(ts.iter().filter_map(Json::as_str).map(str::to_owned)),
            _ => {}
        }
        let values: Vec<&Json> = node
            .get("const")
            .into_iter()
            .chain(node.get("enum").and_then(Json::as_array).into_iter().flatten())
            .collect();
        for value in values {
            if node.get("type").is_none() {
                facts.types.insert(type_of(value).to_owned());
            }
            facts.values.insert(value.to_string());
        }
        if let (Some(default), None) = (node.get("default"), &facts.default) {
            facts.default = Some(if self.python_defaults { kebab_keys(default) } else { default.clone() });
        }
        for (key, child) in node.get("properties").and_then(Json::as_object).into_iter().flatten() {
            self.walk(child, &format!("{pointer}/{key}"));
        }
        if let Some(items) = node.get("items").filter(|i| i.is_object()) {
            self.walk(items, &format!("{pointer}/[]"));
        }
        if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
            self.walk(values, &format!("{pointer}/{{}}"));
        }
        for union in ["anyOf", "oneOf", "allOf"] {
            for branch in node.get(union).and_then(Json::as_array).into_iter().flatten() {
                self.walk(branch, pointer);
            }
        }
    }
}

fn flatten(schema: &Json, python_defaults: bool) -> BTreeMap<String, Facts> {
    let mut flattener = Flattener { root: schema, python_defaults, facts: BTreeMap::new() };
    flattener.walk(schema, "");
    flattener.facts
}

fn parent(pointer: &str) -> &str {
    pointer.rsplit_once('/').map_or("", |(parent, _)| parent)
}

fn code_list<'a>(values: impl Iterator<Item = &'a String>) -> String {
    values.map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
}

fn default_text(default: Option<&Json>) -> String {
    default.map_or_else(|| "none".to_owned(), |d| format!("`{d}`"))
}

/// Every difference between the two flattened schemas.
fn compare(theirs: &BTreeMap<String, Facts>, ours: &BTreeMap<String, Facts>) -> Vec<Found> {
    let mut found = Vec::new();
    let pointers: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
    for pointer in pointers {
        let mut push = |aspect, theirs: String, ours: String| {
            found.push(Found { pointer: pointer.clone(), aspect, theirs, ours });
        };
        let (their_facts, our_facts) = match (theirs.get(pointer), ours.get(pointer)) {
            (Some(t), Some(o)) => (t, o),
            // Reported once, where the key starts.
            _ if !(theirs.contains_key(parent(pointer)) && ours.contains_key(parent(pointer))) => continue,
            (Some(_), None) => {
                push(Aspect::Presence, "present".into(), "absent".into());
                continue;
            }
            (None, _) => {
                push(Aspect::Presence, "absent".into(), "present".into());
                continue;
            }
        };
        if their_facts.types != our_facts.types {
            push(
                Aspect::Type,
                their_facts.types.iter().cloned().collect::<Vec<_>>().join(", "),
                our_facts.types.iter().cloned().collect::<Vec<_>>().join(", "),
            );
        }
        if their_facts.values != our_facts.values {
            push(
                Aspect::Enum,
                code_list(their_facts.values.difference(&our_facts.values)),
                code_list(our_facts.values.difference(&their_facts.values)),
            );
        }
        let sections = their_facts.default.as_ref().is_some_and(Json::is_object)
            && our_facts.default.as_ref().is_some_and(Json::is_object);
        if !sections && their_facts.default != our_facts.default {
            push(Aspect::Default, default_text(their_facts.default.as_ref()), default_text(our_facts.default.as_ref()));
        }
    }
    found
}

fn their_schema() -> Json {
    let kresctl = kr6_kresctl();
    let output = match std::process::Command::new(&kresctl).arg("schema").output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run {kresctl} ({e}): Knot Resolver 6 is not installed; install it with \
             scripts/install-kresd6.sh (about 30 s) and run this test again"
        ),
    };
    assert!(
        output.status.success(),
        "{kresctl} schema failed ({}): {}\nreinstall Knot Resolver 6 with scripts/install-kresd6.sh",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("kr6-kresctl schema prints JSON")
}

fn row(pointer: &str, aspect: Aspect, theirs: &str, ours: &str, reason: &str) -> String {
    let cell = |s: &str| if s.is_empty() { "—".to_owned() } else { s.to_owned() };
    format!("| `{pointer}` | {aspect} | {} | {} | {reason} |", cell(theirs), cell(ours))
}

#[test]
fn our_schema_is_knot_resolver_6s_but_for_the_listed_differences() {
    let theirs_schema = their_schema();
    let theirs = flatten(&theirs_schema, true);
    let ours = flatten(&kres_manager::config::json_schema(), false);
    assert!(
        theirs.len() > 200,
        "only {} key paths in Knot Resolver 6's schema: the walk missed part of it",
        theirs.len()
    );
    let found = compare(&theirs, &ours);

    let listed: Vec<Found> = DIFFERENCES
        .iter()
        .map(|d| Found { pointer: d.pointer.into(), aspect: d.aspect, theirs: d.theirs.into(), ours: d.ours.into() })
        .collect();
    let unlisted: Vec<String> = found
        .iter()
        .filter(|f| !listed.contains(f))
        .map(|f| format!("  {} ({}): theirs {:?}, ours {:?}", f.pointer, f.aspect, f.theirs, f.ours))
        .collect();
    let gone: Vec<String> = listed
        .iter()
        .filter(|l| !found.contains(l))
        .map(|l| format!("  {} ({}): listed as theirs {:?}, ours {:?}", l.pointer, l.aspect, l.theirs, l.ours))
        .collect();
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "our schema and Knot Resolver 6's differ in ways DIFFERENCES (tests/tests/kr6_schema.rs) and {DOC} do not \
         say.\nDifferences not listed (close them in manager/src/config, or list them with a reason):\n{}\nListed \
         differences that are gone or changed (update the list and the doc):\n{}",
        unlisted.join("\n"),
        gone.join("\n"),
    );
}

#[test]
fn the_doc_table_is_the_list() {
    let doc = std::fs::read_to_string(format!("{}/../{DOC}", env!("CARGO_MANIFEST_DIR"))).expect("the doc exists");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| `/")).collect();
    let expected: Vec<String> =
        DIFFERENCES.iter().map(|d| row(d.pointer, d.aspect, d.theirs, d.ours, d.reason)).collect();
    assert_eq!(rows, expected, "the table in {DOC} must be DIFFERENCES of tests/tests/kr6_schema.rs, row by row");
}

#[test]
fn the_offline_fixture_is_the_installed_schema() {
    // `reference_structure.rs` checks keys and defaults without Knot Resolver 6 installed, from
    // a copy of its schema without descriptions; that copy must be of the installed version.
    fn strip(value: &Json) -> Json {
        match value {
            Json::Object(map) => Json::Object(
                map.iter()
                    .filter(|(k, _)| *k != "description" && *k != "title")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Json::Array(items) => Json::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let fixture: Json =
        serde_json::from_str(include_str!("fixtures/kr6-config-structure.json")).expect("the fixture parses");
    assert!(
        strip(&their_schema()) == fixture,
        "tests/tests/fixtures/kr6-config-structure.json is not the installed Knot Resolver 6's schema; rewrite it \
         from `{} schema` without its `description` and `title` keys",
        kr6_kresctl()
    );
}

#[test]
fn the_walk_sees_unions_refs_items_and_python_defaults() {
    let theirs = json!({
        "properties": {
            "a": {"anyOf": [{"type": "string", "enum": ["x"]}, {"type": "integer"}], "default": "x"},
            "l": {"type": "array", "items": {"type": "object", "properties": {"b_c": {"type": "null"}}},
                  "default": [{"b_c": null}]},
        }
    });
    let ours = json!({
        "properties": {
            "a": {"$ref": "#/$defs/A", "default": "x"},
            "l": {"type": "array", "items": {"type": "object", "properties": {"d": {"type": "null"}}},
                  "default": [{"b-c": null}]},
        },
        "$defs": {"A": {"oneOf": [{"const": "x"}, {"const": "y"}, {"type": "integer"}]}},
    });
    let found = compare(&flatten(&theirs, true), &flatten(&ours, false));
    let found: Vec<(String, Aspect, String, String)> =
        found.into_iter().map(|f| (f.pointer, f.aspect, f.theirs, f.ours)).collect();
    let s = |v: &str| v.to_owned();
    assert_eq!(
        found,
        vec![
            (s("/a"), Aspect::Enum, s(""), s("`\"y\"`")),
            (s("/l/[]/b_c"), Aspect::Presence, s("present"), s("absent")),
            (s("/l/[]/d"), Aspect::Presence, s("absent"), s("present")),
        ]
    );
}
