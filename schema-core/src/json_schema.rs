//! JSON Schema (draft 2020-12) generation. The schema is as strict as the mapper: structs list
//! their `required` keys and forbid others (`additionalProperties: false`), and constraints,
//! enums, defaults and descriptions are all there. What JSON Schema cannot say (cross-field
//! rules, bounds on unit-suffixed strings such as sizes) is written into the descriptions.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value as Json, json};

use crate::map::Schema;

/// Collects named definitions (`$defs`) while types describe themselves.
#[derive(Debug, Default)]
pub struct SchemaGen {
    definitions: BTreeMap<String, Json>,
    in_progress: BTreeSet<String>,
}

impl SchemaGen {
    pub fn new() -> SchemaGen {
        SchemaGen::default()
    }

    /// A reference to the definition `name`, built by `build` the first time it is asked for.
    /// Recursive types work: a reference asked for while its definition is being built is
    /// returned without building it again.
    pub fn definition(&mut self, name: &str, build: impl FnOnce(&mut SchemaGen) -> Json) -> Json {
        if !self.definitions.contains_key(name) && self.in_progress.insert(name.to_owned()) {
            let schema = build(self);
            self.in_progress.remove(name);
            self.definitions.insert(name.to_owned(), schema);
        }
        json!({"$ref": format!("#/$defs/{name}")})
    }

    pub fn definitions(&self) -> &BTreeMap<String, Json> {
        &self.definitions
    }
}

/// The complete schema document for documents of type `T`: the root definition is inlined and
/// every other definition is under `$defs`.
pub fn schema_for<T: Schema>(id: Option<&str>) -> Json {
    let mut generator = SchemaGen::new();
    let root = T::json_schema(&mut generator);
    let mut definitions = generator.definitions;
    let mut document = serde_json::Map::new();
    document.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    if let Some(id) = id {
        document.insert("$id".into(), json!(id));
    }
    let root = match root.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        // Inline the root definition unless something refers back to it.
        Some(name) if !mentions(&definitions, &format!("#/$defs/{name}")) => definitions.remove(name).unwrap_or(root),
        _ => root,
    };
    if let Json::Object(root) = root {
        document.extend(root);
    }
    if !definitions.is_empty() {
        document.insert("$defs".into(), Json::Object(definitions.into_iter().collect()));
    }
    Json::Object(document)
}

fn mentions(definitions: &BTreeMap<String, Json>, reference: &str) -> bool {
    definitions.values().any(|d| d.to_string().contains(&format!("\"{reference}\"")))
}

/// Adds `description` and `default` annotations to a field's schema. A `$ref` may carry
/// annotations beside it in draft 2020-12.
pub fn annotate(schema: &mut Json, description: &str, default: Option<Json>) {
    if let Json::Object(object) = schema {
        if !description.is_empty() {
            object.insert("description".into(), json!(description));
        }
        if let Some(default) = default {
            object.insert("default".into(), default);
        }
    }
}
