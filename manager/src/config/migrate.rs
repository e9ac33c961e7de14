//! `kresctl migrate`: configs written for earlier Knot Resolver 6 releases (before 6.0.17, whose
//! release notes list the renamed, moved and removed options) rewritten into the current format.
//!
//! The rules ([`RULES`]) are read off the release notes; each looks at the document and yields at
//! most one [`Op`] with a message, applied until none applies. Every op is applied twice: to a
//! JSON tree (the truth: order kept, `serde_json` with `preserve_order`), and, for YAML, to the
//! text itself, line by line, so that comments, blank lines, order and quoting stay as they were.
//! The edited text is parsed again and must equal the tree; where an op cannot be done in the text
//! (flow style such as `{a: 1}` at the place, a quoted key) or the result differs, the file is
//! written out from the tree instead, and [`Migrated::comments_lost`] says so. JSON files are
//! written out from the tree (JSON has no comments).

use serde_json::{Map, Value as Json};

/// One change to the document.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// The key `from` of the mapping at `parent` becomes `to`.
    Rename { parent: Vec<String>, from: String, to: String },
    /// The key of the mapping at `parent` goes, with its value.
    Remove { parent: Vec<String>, key: String },
    /// The scalar at `parent/key` becomes the mapping `{inner: scalar}`.
    Wrap { parent: Vec<String>, key: String, inner: String },
    /// A new key in the mapping at `parent` (which exists), with a value.
    Insert { parent: Vec<String>, key: String, value: Json },
}

/// A change made, for people: where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub pointer: String,
    pub message: String,
}

/// A migrated file.
#[derive(Debug)]
pub struct Migrated {
    pub text: String,
    pub changes: Vec<Change>,
    /// The YAML could not be edited in place: it was written out anew, without its comments.
    pub comments_lost: bool,
}

/// Why a file cannot be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Parse(schema_core::Report),
    #[error("the top level is not a mapping")]
    NotAMapping,
}

fn pointer(path: &[&str]) -> String {
    path.iter().map(|s| format!("/{s}")).collect()
}

fn owned(path: &[&str]) -> Vec<String> {
    path.iter().map(|s| (*s).to_owned()).collect()
}

fn get<'a>(root: &'a Json, path: &[&str]) -> Option<&'a Json> {
    path.iter().try_fold(root, |node, key| node.as_object()?.get(*key))
}

fn get_mut<'a>(root: &'a mut Json, path: &[String]) -> Option<&'a mut Json> {
    path.iter().try_fold(root, |node, key| node.as_object_mut()?.get_mut(key))
}

/// Options that are gone (mostly experimental or debugging ones; they remain in Lua).
const REMOVED: &[&[&str]] = &[
    &["dnssec", "refresh-time"],
    &["dnssec", "hold-down-time"],
    &["dnssec", "time-skew-detection"],
    &["dnssec", "keep-removed"],
    &["local-data", "root-fallback-addresses"],
    &["local-data", "root-fallback-addresses-files"],
    &["logging", "debugging"],
    &["max-workers"],
    &["network", "tls", "auto-discovery"],
    &["webmgmt"],
];

/// Keys renamed in place: (mapping, old name, new name).
const RENAMED: &[(&[&str], &str, &str)] = &[
    (&["defer"], "enabled", "enable"),
    (&["dns64"], "rev-ttl", "reverse-ttl"),
    (&["dnssec"], "trust-anchor-sentinel", "sentinel"),
    (&["dnssec"], "trust-anchor-signal-query", "signal-query"),
    (&["monitoring"], "enabled", "metrics"),
    (&["network", "tls"], "files-watchdog", "watchdog"),
];

/// Sections that were `false` (or a boolean, or null) or a mapping that meant "on", and are a
/// mapping with `enable` now.
const SWITCHED: &[&[&str]] = &[
    &["cache", "garbage-collector"],
    &["cache", "prefetch", "prediction"],
    &["dns64"],
    &["dnssec"],
    &["logging", "dnstap"],
    &["monitoring", "graphite"],
    &["network", "proxy-protocol"],
    &["rate-limiting"],
];

/// dnstap's defaults that changed from true to false in the same release.
const DNSTAP_OLD_DEFAULTS: &[&str] = &["log-queries", "log-responses", "log-tcp-rtt"];

/// The next op the document needs, with its message; `None` when it is in the current format.
pub fn next_op(doc: &Json) -> Option<(Op, Change)> {
    for path in REMOVED {
        let (key, parent) = path.split_last().expect("non-empty");
        if get(doc, parent).and_then(Json::as_object).is_some_and(|m| m.contains_key(*key)) {
            let message = "removed: no longer an option of the format (Knot Resolver 6.0.17 dropped it; its Lua \
                           equivalent still works in `lua`)"
                .to_owned();
            return Some((
                Op::Remove { parent: owned(parent), key: (*key).to_owned() },
                Change { pointer: pointer(path), message },
            ));
        }
    }
    for (parent, from, to) in RENAMED {
        if let Some(map) = get(doc, parent).and_then(Json::as_object)
            && map.contains_key(*from)
            && !map.contains_key(*to)
        {
            let mut new = parent.to_vec();
            new.push(to);
            let message = format!("renamed to {}", pointer(&new));
            let mut old = parent.to_vec();
            old.push(from);
            return Some((
                Op::Rename { parent: owned(parent), from: (*from).to_owned(), to: (*to).to_owned() },
                Change { pointer: pointer(&old), message },
            ));
        }
    }
    for path in SWITCHED {
        let (key, parent) = path.split_last().expect("non-empty");
        let Some(value) = get(doc, path) else { continue };
        let here = pointer(path);
        match value {
            Json::Bool(on) => {
                let message = format!("`{on}` is now `{here}/enable: {on}`");
                return Some((
                    Op::Wrap { parent: owned(parent), key: (*key).to_owned(), inner: "enable".into() },
                    Change { pointer: here, message },
                ));
            }
            Json::Null if matches!(*key, "prediction" | "rate-limiting") => {
                let message = "`null` (off) removed: off is the default now".to_owned();
                return Some((
                    Op::Remove { parent: owned(parent), key: (*key).to_owned() },
                    Change { pointer: here, message },
                ));
            }
            // A mapping meant "on"; `dnssec` and `garbage-collector` are on by default anyway.
            Json::Object(map) if !map.contains_key("enable") && !matches!(*key, "dnssec" | "garbage-collector") => {
                if *path == ["logging", "dnstap"] {
                    for option in DNSTAP_OLD_DEFAULTS {
                        if !map.contains_key(*option) {
                            let message =
                                "`true` written out: it was the default of an enabled dnstap, the default is false now"
                                    .to_owned();
                            return Some((
                                Op::Insert { parent: owned(path), key: (*option).to_owned(), value: Json::Bool(true) },
                                Change { pointer: format!("{here}/{option}"), message },
                            ));
                        }
                    }
                }
                let message = "added: a mapping here meant on; `enable` says so now".to_owned();
                return Some((
                    Op::Insert { parent: owned(path), key: "enable".into(), value: Json::Bool(true) },
                    Change { pointer: format!("{here}/enable"), message },
                ));
            }
            _ => {}
        }
    }
    // /logging/dnssec-bogus → /dnssec/log-bogus: first a place for it, then the move.
    if let Some(bogus) = get(doc, &["logging", "dnssec-bogus"]) {
        match get(doc, &["dnssec"]) {
            None => {
                let mut dnssec = Map::new();
                dnssec.insert("log-bogus".into(), bogus.clone());
                return Some((
                    Op::Insert { parent: vec![], key: "dnssec".into(), value: Json::Object(dnssec) },
                    Change { pointer: "/logging/dnssec-bogus".into(), message: "moved to /dnssec/log-bogus".into() },
                ));
            }
            Some(Json::Object(dnssec)) if !dnssec.contains_key("log-bogus") => {
                let message = "moved to /dnssec/log-bogus".to_owned();
                let value = bogus.clone();
                return Some((
                    Op::Insert { parent: owned(&["dnssec"]), key: "log-bogus".into(), value },
                    Change { pointer: "/logging/dnssec-bogus".into(), message },
                ));
            }
            Some(Json::Object(_)) => {
                // The second half of the move, already reported.
                return Some((
                    Op::Remove { parent: owned(&["logging"]), key: "dnssec-bogus".into() },
                    Change { pointer: "/logging/dnssec-bogus".into(), message: String::new() },
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Applies an op to the tree; `false` when it does not fit (a rule bug).
pub fn apply_tree(doc: &mut Json, op: &Op) -> bool {
    match op {
        Op::Rename { parent, from, to } => {
            let Some(map) = get_mut(doc, parent).and_then(Json::as_object_mut) else { return false };
            let Some(index) = map.keys().position(|k| k == from) else { return false };
            let Some(value) = map.shift_remove(from) else { return false };
            map.shift_insert(index, to.clone(), value);
            true
        }
        Op::Remove { parent, key } => {
            get_mut(doc, parent).and_then(Json::as_object_mut).and_then(|m| m.shift_remove(key)).is_some()
        }
        Op::Wrap { parent, key, inner } => {
            let Some(slot) = get_mut(doc, parent).and_then(Json::as_object_mut).and_then(|m| m.get_mut(key)) else {
                return false;
            };
            let mut wrapped = Map::new();
            wrapped.insert(inner.clone(), slot.take());
            *slot = Json::Object(wrapped);
            true
        }
        Op::Insert { parent, key, value } => {
            let Some(map) = get_mut(doc, parent).and_then(Json::as_object_mut) else { return false };
            if map.contains_key(key) {
                return false;
            }
            if parent.is_empty() {
                map.insert(key.clone(), value.clone());
            } else {
                map.shift_insert(0, key.clone(), value.clone());
            }
            true
        }
    }
}

/// The lines of a YAML text, edited by ops located through a fresh parse each time.
struct YamlText {
    lines: Vec<String>,
}

impl YamlText {
    fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    fn parse(&self) -> Option<schema_core::Value> {
        schema_core::yaml::parse(&self.text(), None).ok()
    }

    /// The key of `parent/key` and its value, from a fresh parse.
    fn entry(&self, parent: &[String], key: &str) -> Option<(schema_core::value::Key, schema_core::Value)> {
        let root = self.parse()?;
        let mut node = &root;
        for step in parent {
            node = map_entries(node)?.iter().find(|(k, _)| k.name == step.as_str()).map(|(_, v)| v)?;
        }
        map_entries(node)?.iter().find(|(k, _)| k.name == key).cloned()
    }

    /// Whether the key starts its line (block style; not a list item's first key).
    fn starts_line(&self, key: &schema_core::value::Key) -> bool {
        let line = &self.lines[key.span.line as usize - 1];
        let col = key.span.column as usize - 1;
        line.get(..col).is_some_and(|before| before.chars().all(|c| c == ' '))
            && line.get(col..).is_some_and(|rest| rest.starts_with(key.name.as_str()))
    }

    /// The lines (0-based, end exclusive) of an entry whose key starts its line: its line and
    /// every following one indented deeper (blank lines inside it too, not after it).
    fn block(&self, key: &schema_core::value::Key) -> (usize, usize) {
        let start = key.span.line as usize - 1;
        let indent = key.span.column as usize - 1;
        let mut end = start + 1;
        let mut last_content = start + 1;
        while end < self.lines.len() {
            let line = &self.lines[end];
            let trimmed = line.trim_start();
            if !trimmed.is_empty() {
                if line.len() - trimmed.len() <= indent {
                    break;
                }
                last_content = end + 1;
            }
            end += 1;
        }
        (start, last_content)
    }

    fn apply(&mut self, op: &Op) -> bool {
        match op {
            Op::Rename { parent, from, to } => {
                let Some((key, _)) = self.entry(parent, from) else { return false };
                if !self.starts_line(&key) {
                    return false;
                }
                let line = &mut self.lines[key.span.line as usize - 1];
                let col = key.span.column as usize - 1;
                line.replace_range(col..col + from.len(), to);
                true
            }
            Op::Remove { parent, key } => {
                let Some((key, _)) = self.entry(parent, key) else { return false };
                if !self.starts_line(&key) {
                    return false;
                }
                let (start, end) = self.block(&key);
                self.lines.drain(start..end);
                true
            }
            Op::Wrap { parent, key, inner } => {
                let Some((key, value)) = self.entry(parent, key) else { return false };
                if !self.starts_line(&key) || value.span.line != key.span.line || value.span.len == 0 {
                    return false;
                }
                let row = key.span.line as usize - 1;
                let start = value.span.column as usize - 1;
                let end = start + value.span.len as usize;
                let Some(scalar) = self.lines[row].get(start..end).map(str::to_owned) else { return false };
                let line = &mut self.lines[row];
                let rest = line[end..].to_owned();
                line.truncate(start);
                let comment = rest.trim();
                if comment.is_empty() {
                    line.truncate(line.trim_end().len());
                } else if comment.starts_with('#') {
                    line.push_str(comment);
                } else {
                    return false;
                }
                let indent = " ".repeat(key.span.column as usize + 1);
                self.lines.insert(row + 1, format!("{indent}{inner}: {scalar}"));
                true
            }
            Op::Insert { parent, key, value } => {
                if parent.is_empty() {
                    let mut block = Vec::new();
                    emit_entry(&mut block, 0, key, value);
                    while self.lines.last().is_some_and(|l| l.trim().is_empty()) {
                        self.lines.pop();
                    }
                    self.lines.extend(block);
                    return true;
                }
                let (last, path) = parent.split_last().expect("non-empty");
                let Some((parent_key, parent_value)) = self.entry(path, last) else { return false };
                let Some(first) = map_entries(&parent_value).and_then(|e| e.first().map(|(k, _)| k.clone())) else {
                    return false;
                };
                if !self.starts_line(&parent_key)
                    || first.span.line <= parent_key.span.line
                    || !self.starts_line(&first)
                {
                    return false;
                }
                let mut block = Vec::new();
                emit_entry(&mut block, first.span.column as usize - 1, key, value);
                let at = first.span.line as usize - 1;
                self.lines.splice(at..at, block);
                true
            }
        }
    }
}

fn map_entries(value: &schema_core::Value) -> Option<&Vec<(schema_core::value::Key, schema_core::Value)>> {
    match &value.kind {
        schema_core::Kind::Map(map) => Some(&map.entries),
        _ => None,
    }
}

/// A scalar in YAML: strings quoted (JSON quoting is valid YAML) unless plainly safe.
fn scalar(value: &Json) -> String {
    match value {
        Json::String(s)
            if !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./@".contains(c))
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                ) =>
        {
            s.clone()
        }
        Json::Array(a) if a.is_empty() => "[]".into(),
        Json::Object(m) if m.is_empty() => "{}".into(),
        other => other.to_string(),
    }
}

fn emit_entry(out: &mut Vec<String>, indent: usize, key: &str, value: &Json) {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(map) if !map.is_empty() => {
            out.push(format!("{pad}{key}:"));
            for (k, v) in map {
                emit_entry(out, indent + 2, k, v);
            }
        }
        Json::Array(list) if !list.is_empty() => {
            out.push(format!("{pad}{key}:"));
            for item in list {
                emit_item(out, indent + 2, item);
            }
        }
        other => out.push(format!("{pad}{key}: {}", scalar(other))),
    }
}

fn emit_item(out: &mut Vec<String>, indent: usize, value: &Json) {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(map) if !map.is_empty() => {
            let mut lines = Vec::new();
            for (k, v) in map {
                emit_entry(&mut lines, indent + 2, k, v);
            }
            if let Some(first) = lines.first_mut() {
                first.replace_range(indent..indent + 2, "- ");
            }
            out.extend(lines);
        }
        Json::Array(list) if !list.is_empty() => {
            out.push(format!("{pad}-"));
            for item in list {
                emit_item(out, indent + 2, item);
            }
        }
        other => out.push(format!("{pad}- {}", scalar(other))),
    }
}

/// The whole document as block YAML (when the text could not be edited in place).
pub fn to_yaml(doc: &Json) -> String {
    let mut lines = Vec::new();
    if let Json::Object(map) = doc {
        for (k, v) in map {
            emit_entry(&mut lines, 0, k, v);
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Migrates one file's text; `json` when it is JSON (else YAML).
pub fn migrate(text: &str, name: &str, json: bool) -> Result<Migrated, MigrateError> {
    let parsed =
        if json { schema_core::json::parse(text, Some(name)) } else { schema_core::yaml::parse(text, Some(name)) }
            .map_err(MigrateError::Parse)?;
    let mut doc = parsed.to_json();
    if doc.is_null() {
        doc = Json::Object(Map::new());
    }
    if !doc.is_object() {
        return Err(MigrateError::NotAMapping);
    }
    let mut changes = Vec::new();
    let mut yaml = (!json).then(|| YamlText { lines: text.lines().map(str::to_owned).collect() });
    // Each op removes what its rule looks for, so this ends; the bound is a guard.
    for _ in 0..1000 {
        let Some((op, change)) = next_op(&doc) else { break };
        if !apply_tree(&mut doc, &op) {
            break;
        }
        if let Some(text) = &mut yaml
            && !text.apply(&op)
        {
            yaml = None;
        }
        if !change.message.is_empty() {
            changes.push(change);
        }
    }
    if changes.is_empty() {
        return Ok(Migrated { text: text.to_owned(), changes, comments_lost: false });
    }
    if json {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        return Ok(Migrated { text, changes, comments_lost: false });
    }
    // The edited text must mean what the tree says.
    if let Some(edited) = yaml
        && edited.parse().is_some_and(|value| value.to_json() == doc)
    {
        return Ok(Migrated { text: edited.text(), changes, comments_lost: false });
    }
    Ok(Migrated { text: to_yaml(&doc), changes, comments_lost: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Migrated {
        migrate(text, "t.yaml", false).unwrap_or_else(|e| panic!("{e}"))
    }

    fn pointers(migrated: &Migrated) -> Vec<&str> {
        migrated.changes.iter().map(|c| c.pointer.as_str()).collect()
    }

    #[test]
    fn a_current_config_is_left_alone() {
        let text = "# mine\nworkers: 2\ndnssec:\n  enable: false\n";
        let migrated = run(text);
        assert!(migrated.changes.is_empty());
        assert_eq!(migrated.text, text);
    }

    #[test]
    fn every_rename_and_removal_keeps_comments_and_order() {
        let text = "\
# The resolver of the office.
workers: 2
max-workers: 8   # gone
dnssec: false # no validation here
monitoring:
  enabled: always
  graphite:
    host: carbon.example   # our collector
    port: 2003
network:
  tls:
    files-watchdog: false
    auto-discovery: true
  proxy-protocol: false
logging:
  level: info
  dnssec-bogus: true
  debugging:
    assertion-abort: true

webmgmt:
  interface: 127.0.0.1@8453
cache:
  garbage-collector: false
dns64:
  rev-ttl: 1m
";
        let migrated = run(text);
        assert!(!migrated.comments_lost, "{}", migrated.text);
        assert_eq!(
            migrated.text,
            "\
# The resolver of the office.
workers: 2
dnssec: # no validation here
  log-bogus: true
  enable: false
monitoring:
  metrics: always
  graphite:
    enable: true
    host: carbon.example   # our collector
    port: 2003
network:
  tls:
    watchdog: false
  proxy-protocol:
    enable: false
logging:
  level: info

cache:
  garbage-collector:
    enable: false
dns64:
  enable: true
  reverse-ttl: 1m
"
        );
        assert_eq!(
            pointers(&migrated),
            [
                "/logging/debugging",
                "/max-workers",
                "/network/tls/auto-discovery",
                "/webmgmt",
                "/dns64/rev-ttl",
                "/monitoring/enabled",
                "/network/tls/files-watchdog",
                "/cache/garbage-collector",
                "/dns64/enable",
                "/dnssec",
                "/monitoring/graphite/enable",
                "/network/proxy-protocol",
                "/logging/dnssec-bogus",
            ]
        );
        // The result is a valid config of the current format.
        let value = schema_core::yaml::parse(&migrated.text, Some("m.yaml")).unwrap();
        schema_core::map_document::<crate::config::ConfigRaw>(&value).unwrap_or_else(|r| panic!("{r}"));
        // And migrating again changes nothing.
        assert!(run(&migrated.text).changes.is_empty());
    }

    #[test]
    fn an_enabled_dnstap_keeps_its_old_defaults() {
        let migrated = run("logging:\n  dnstap:\n    unix-socket: /run/dnstap.sock\n    log-responses: false\n");
        assert_eq!(
            migrated.text,
            "logging:\n  dnstap:\n    enable: true\n    log-tcp-rtt: true\n    log-queries: true\n    unix-socket: \
             /run/dnstap.sock\n    log-responses: false\n"
        );
        assert_eq!(
            pointers(&migrated),
            ["/logging/dnstap/log-queries", "/logging/dnstap/log-tcp-rtt", "/logging/dnstap/enable"]
        );
    }

    #[test]
    fn flow_style_is_written_out_anew_and_json_stays_json() {
        let migrated = run("# lost\nmonitoring: {enabled: always}\n");
        assert!(migrated.comments_lost);
        assert_eq!(migrated.text, "monitoring:\n  metrics: always\n");
        let migrated = migrate(r#"{"dnssec": false, "workers": 2}"#, "t.json", true).unwrap();
        assert_eq!(migrated.text, "{\n  \"dnssec\": {\n    \"enable\": false\n  },\n  \"workers\": 2\n}\n");
        assert!(matches!(migrate("[1]", "t.yaml", false), Err(MigrateError::NotAMapping)));
        assert!(matches!(migrate("a: [", "t.yaml", false), Err(MigrateError::Parse(_))));
    }

    #[test]
    fn moving_dnssec_bogus_creates_the_section_when_needed() {
        let migrated = run("logging:\n  dnssec-bogus: true\n  level: info\n");
        assert_eq!(migrated.text, "logging:\n  level: info\ndnssec:\n  log-bogus: true\n");
        assert_eq!(pointers(&migrated), ["/logging/dnssec-bogus"]);
        assert_eq!(migrated.changes[0].message, "moved to /dnssec/log-bogus");
        let migrated = run("cache:\n  prefetch:\n    prediction: null\nrate-limiting: null\n");
        // An emptied mapping is not `null`: written out anew.
        assert_eq!((migrated.text.as_str(), migrated.comments_lost), ("cache:\n  prefetch: {}\n", true));
        assert_eq!(pointers(&migrated), ["/cache/prefetch/prediction", "/rate-limiting"]);
    }
}
