//! The document tree every input becomes before mapping: YAML files, JSON files and API bodies
//! alike. Each node remembers where it came from, so errors can point at `file:line:column`.

use std::collections::HashMap;

use compact_str::CompactString;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Mutex, RwLock};

/// The name of a source file, interned: spans carry this 4-byte handle instead of a string, so
/// every node's span is small and `Copy` (no reference counting per node). Names are few (the
/// config files, a fixed name for API bodies) and stay for the life of the process.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId(NonZeroU32);

static FILE_NAMES: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());
static FILE_IDS: Mutex<Option<HashMap<&'static str, FileId>>> = Mutex::new(None);

impl FileId {
    /// The handle of `name`, registering it the first time it is seen.
    pub fn intern(name: &str) -> FileId {
        let mut ids = FILE_IDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ids = ids.get_or_insert_with(HashMap::new);
        if let Some(id) = ids.get(name) {
            return *id;
        }
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let mut names = FILE_NAMES.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        names.push(name);
        let id = FileId(NonZeroU32::new(u32::try_from(names.len()).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN));
        ids.insert(name, id);
        id
    }

    pub fn name(self) -> &'static str {
        let names = FILE_NAMES.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        names.get(self.0.get() as usize - 1).copied().unwrap_or("?")
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.name(), f)
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a node starts in its source: 1-based line and column (in characters), plus the length
/// of the node's first line for underlining. `line == 0` means "no position" (a value built in
/// code rather than parsed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub file: Option<FileId>,
    pub line: u32,
    pub column: u32,
    pub len: u32,
}

impl Span {
    /// A span that points nowhere (values built in code).
    pub const NONE: Span = Span { file: None, line: 0, column: 0, len: 0 };

    pub fn is_known(&self) -> bool {
        self.line > 0
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file {
            Some(file) => write!(f, "{file}:{}:{}", self.line, self.column),
            None => write!(f, "{}:{}", self.line, self.column),
        }
    }
}

/// A node of the document tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub span: Span,
}

/// What a node holds. Scalars are already typed by the parser (YAML 1.2 core schema, or JSON):
/// a quoted `"53"` is a string, a plain `53` an integer, `yes` a string.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Strings up to 24 bytes are stored inline: most config scalars need no allocation.
    Str(CompactString),
    List(Vec<Value>),
    Map(Map),
}

/// A mapping in document order. Keys are strings (non-string keys are rejected by the parsers)
/// and unique (duplicates are rejected by the parsers).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    pub entries: Vec<(Key, Value)>,
}

/// A mapping key with its own position, so an unknown key can be pointed at.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: CompactString,
    pub span: Span,
}

impl Map {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        self.entries.iter_mut().find(|(k, _)| k.name == name).map(|(_, v)| v)
    }

    pub fn key(&self, name: &str) -> Option<&Key> {
        self.entries.iter().find(|(k, _)| k.name == name).map(|(k, _)| k)
    }

    /// Sets `name` to `value`, replacing an existing entry in place or appending a new one.
    pub fn insert(&mut self, name: &str, value: Value) -> Option<Value> {
        match self.get_mut(name) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((Key { name: name.into(), span: Span::NONE }, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let index = self.entries.iter().position(|(k, _)| k.name == name)?;
        Some(self.entries.remove(index).1)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl Value {
    pub fn new(kind: Kind) -> Value {
        Value { kind, span: Span::NONE }
    }

    /// A short description of the node for messages: `a string "abc"`, `a list`, `null`.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Null => "null".to_owned(),
            Kind::Bool(b) => format!("a boolean {b}"),
            Kind::Int(i) => format!("an integer {i}"),
            Kind::Float(x) => format!("a number {x}"),
            Kind::Str(s) => format!("a string {}", quote_for_message(s)),
            Kind::List(_) => "a list".to_owned(),
            Kind::Map(_) => "a mapping".to_owned(),
        }
    }

    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts into a `serde_json::Value`, dropping positions.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.kind {
            Kind::Null => J::Null,
            Kind::Bool(b) => J::Bool(*b),
            Kind::Int(i) => J::from(*i),
            Kind::Float(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
            Kind::Str(s) => J::String(s.to_string()),
            Kind::List(items) => J::Array(items.iter().map(Value::to_json).collect()),
            Kind::Map(map) => J::Object(map.entries.iter().map(|(k, v)| (k.name.to_string(), v.to_json())).collect()),
        }
    }

    /// Builds a position-less tree from a `serde_json::Value` (defaults, API values built in
    /// code). Integers beyond `i64` become floats, as JSON has no larger integers.
    pub fn from_json(json: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        let kind = match json {
            J::Null => Kind::Null,
            J::Bool(b) => Kind::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Kind::Int(i),
                None => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Kind::Str(s.as_str().into()),
            J::Array(items) => Kind::List(items.iter().map(Value::from_json).collect()),
            J::Object(obj) => Kind::Map(Map {
                entries: obj
                    .iter()
                    .map(|(k, v)| (Key { name: k.as_str().into(), span: Span::NONE }, Value::from_json(v)))
                    .collect(),
            }),
        };
        Value::new(kind)
    }
}

/// Quotes a user string for an error message, shortening very long ones and escaping control
/// characters so a message always stays on one line.
pub fn quote_for_message(s: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Deep-merges documents in order, as several config files are combined: mappings merge key by
/// key; any other value set in two documents is a conflict, reported with both places (every
/// conflict, not only the first).
pub fn merge(documents: Vec<Value>) -> Result<Value, crate::report::Report> {
    let mut report = crate::report::Report::new();
    let mut documents = documents.into_iter();
    let Some(mut merged) = documents.next() else { return Ok(Value::new(Kind::Null)) };
    for document in documents {
        merge_into(&mut merged, document, &mut crate::pointer::Pointer::root(), &mut report);
    }
    if report.has_errors() { Err(report) } else { Ok(merged) }
}

fn merge_into(target: &mut Value, source: Value, at: &mut crate::pointer::Pointer, report: &mut crate::report::Report) {
    match (&mut target.kind, source.kind) {
        (_, Kind::Null) => {}
        (Kind::Null, kind) => *target = Value { kind, span: source.span },
        (Kind::Map(into), Kind::Map(from)) => {
            for (key, value) in from.entries {
                at.0.push(crate::pointer::Segment::Key(key.name.to_string()));
                match into.get_mut(&key.name) {
                    Some(existing) => merge_into(existing, value, at, report),
                    None => into.entries.push((key, value)),
                }
                at.0.pop();
            }
        }
        (_, kind) => {
            let here = Value { kind, span: source.span };
            report.push(
                crate::report::Problem::error(
                    at.clone(),
                    format!(
                        "set in two files: here and at {} (a value may be given once; only mappings merge)",
                        target.span
                    ),
                )
                .with_span(&here.span),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_combines_mappings_and_reports_every_conflict_with_both_places() {
        let a = crate::yaml::parse("cache:\n  size-max: 1G\nworkers: 2\n", Some("a.yaml")).unwrap();
        let b = crate::yaml::parse("cache:\n  ttl-max: 1d\nworkers: 4\nnsid: x\n", Some("b.yaml")).unwrap();
        let merged = merge(vec![a.clone(), b.clone()]);
        let report = merged.unwrap_err();
        assert_eq!(
            report.to_string(),
            "/workers: set in two files: here and at a.yaml:3:10 (a value may be given once; only mappings merge) (at b.yaml:3:10)"
        );
        let c = crate::yaml::parse("cache:\n  ttl-max: 1d\n", Some("c.yaml")).unwrap();
        let merged = merge(vec![a, c]).unwrap();
        assert_eq!(merged.to_json(), serde_json::json!({"cache": {"size-max": "1G", "ttl-max": "1d"}, "workers": 2}));
    }
}
