//! YAML → [`Value`], the only module that knows the YAML parser (`saphyr-parser`, chosen because
//! its events carry source positions; see `docs/dependencies.md`).
//!
//! Scalars follow the YAML 1.2 core schema: `yes`/`on` are strings, not booleans. Anchors and
//! aliases work, and so does the `<<` merge key operators use with them. Rejected with a message:
//! duplicate keys, non-scalar keys, several documents in one stream, unknown tags, documents
//! longer than [`Limits::max_bytes`] or nested deeper than [`Limits::max_depth`] (aliases
//! included), and alias expansion beyond [`Limits::max_alias_nodes`] or [`Limits::max_nodes`]
//! (a "billion laughs" document is refused before it uses the memory).

mod fast;

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::pointer::{Pointer, Segment};
use crate::report::{Problem, Report};
use crate::value::{FileId, Key, Kind, Map, Span, Value, quote_for_message};

/// Resource limits for parsing untrusted input.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest document accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of lists and mappings accepted.
    pub max_depth: usize,
    /// Most nodes a document may have, counting every node an alias copies.
    pub max_nodes: usize,
    /// Most nodes all aliases together may copy: anchors are for sharing small pieces; this
    /// refuses alias bombs long before they cost memory.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bytes: 64 << 20, max_depth: 128, max_nodes: 5_000_000, max_alias_nodes: 100_000 }
    }
}

/// Refuses a document longer than [`Limits::max_bytes`], at the place where it crosses the limit.
pub(crate) fn check_size(text: &str, file: Option<FileId>, limits: Limits) -> Result<(), Report> {
    if text.len() <= limits.max_bytes {
        return Ok(());
    }
    let mut at = limits.max_bytes;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    let span = Span { file, line: u32::try_from(line).unwrap_or(u32::MAX), column: column as u32, len: 1 };
    let message = format!(
        "the document is {} bytes long, more than the limit of {} bytes; refusing to parse it",
        text.len(),
        limits.max_bytes
    );
    Err(Report::from(Problem::error(Pointer::root(), message).with_span(&span)))
}

/// Parses one YAML document. `file` names the source in positions (`config.yaml:3:7`).
/// An empty document is `null`.
pub fn parse(text: &str, file: Option<&str>) -> Result<Value, Report> {
    parse_with_limits(text, file, Limits::default())
}

pub fn parse_with_limits(text: &str, file: Option<&str>, limits: Limits) -> Result<Value, Report> {
    let file = file.map(FileId::intern);
    check_size(text, file, limits)?;
    if let Some(value) = fast::parse(text, file, limits) {
        return Ok(value);
    }
    full_parse(text, file, limits)
}

/// The full YAML parser (saphyr-parser events), used for everything the fast path declines.
fn full_parse(text: &str, file: Option<FileId>, limits: Limits) -> Result<Value, Report> {
    let mut builder = Builder {
        file,
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        root: None,
        documents: 0,
        nodes: 0,
        alias_nodes: 0,
        anchored_nodes: 0,
        plain_merge: false,
        report: Report::new(),
    };
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        match event {
            Ok((event, span)) => {
                let span = builder.span(span);
                if let Err(problem) = builder.event(event, span) {
                    builder.report.push(problem);
                    return Err(builder.report);
                }
            }
            Err(error) => {
                let problem = builder.syntax_error(&error);
                builder.report.push(problem);
                return Err(builder.report);
            }
        }
    }
    if builder.report.has_errors() {
        return Err(builder.report);
    }
    Ok(builder.root.unwrap_or(Value { kind: Kind::Null, span: Span::NONE }))
}

enum Frame {
    List {
        items: Vec<Value>,
        span: Span,
        anchor: usize,
    },
    Map {
        map: Map,
        span: Span,
        anchor: usize,
        key: Option<Key>,
        /// The pending key is the merge key: a plain, untagged `<<` (a quoted one is a key).
        merge_key: bool,
        merges: Vec<Value>,
        index: Option<HashMap<CompactString, usize>>,
    },
}

struct Builder {
    file: Option<FileId>,
    limits: Limits,
    stack: Vec<Frame>,
    /// Anchored nodes with their node counts and nesting depths.
    anchors: HashMap<usize, Anchored>,
    root: Option<Value>,
    documents: usize,
    nodes: usize,
    alias_nodes: usize,
    /// The node being completed is a plain `<<` scalar.
    plain_merge: bool,
    /// Nodes kept in `anchors`: an anchor inside an anchored node keeps a second copy.
    anchored_nodes: usize,
    report: Report,
}

/// A copy of an anchored node, for its aliases.
struct Anchored {
    value: Value,
    /// Nodes in `value`, as [`Builder::count`] counts them.
    nodes: usize,
    /// Levels of lists and mappings in `value` (0 for a scalar).
    depth: usize,
}

/// Maps with more entries than this get a hash index for the duplicate-key check.
const INDEX_THRESHOLD: usize = 16;

impl Builder {
    fn span(&self, span: saphyr_parser::Span) -> Span {
        let (start, end) = (span.start, span.end);
        let len = if end.line() == start.line() { end.col().saturating_sub(start.col()) } else { 1 };
        Span { file: self.file, line: start.line() as u32, column: start.col() as u32 + 1, len: len.max(1) as u32 }
    }

    /// The pointer of the node being built, for parse errors.
    fn pointer(&self) -> Pointer {
        let mut segments = Vec::new();
        for frame in &self.stack {
            match frame {
                Frame::List { items, .. } => segments.push(Segment::Index(items.len())),
                Frame::Map { key: Some(key), .. } => segments.push(Segment::Key(key.name.to_string())),
                Frame::Map { .. } => {}
            }
        }
        Pointer(segments)
    }

    fn syntax_error(&self, error: &ScanError) -> Problem {
        let marker = error.marker();
        let span = Span { file: self.file, line: marker.line() as u32, column: marker.col() as u32 + 1, len: 1 };
        Problem::error(self.pointer(), format!("YAML syntax error: {}", error.info())).with_span(&span)
    }

    fn error(&self, span: &Span, message: impl Into<String>) -> Problem {
        Problem::error(self.pointer(), message).with_span(span)
    }

    fn count(&mut self, nodes: usize, span: &Span) -> Result<(), Problem> {
        self.nodes += nodes;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                span,
                format!(
                    "the document expands to more than {} nodes (aliases copy what they refer to); refusing to load it",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Problem> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => Ok(()),
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem::error(
                        Pointer::root(),
                        "found a second YAML document ('---'); a config file must hold exactly one document",
                    )
                    .with_span(&span));
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, &span)?;
                let kind = self.scalar(&text, style, tag.as_deref(), &span)?;
                self.plain_merge = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                self.complete(Value { kind, span }, anchor)
            }
            Event::Alias(id) => {
                let Some(&Anchored { nodes: size, depth, .. }) = self.anchors.get(&id) else {
                    return Err(self.error(&span, "alias refers to an unknown anchor"));
                };
                // The copy nests as deep as the alias plus the anchored node: without this check,
                // aliases of aliases build trees deep enough to overflow the stack of whatever
                // walks them (dropping the tree, to_json, the mapper).
                if self.stack.len() + depth > self.limits.max_depth {
                    return Err(self.error(
                        &span,
                        format!(
                            "the document nests deeper than {} levels (with what this alias copies)",
                            self.limits.max_depth
                        ),
                    ));
                }
                // Count before copying, so an alias bomb is refused without being built.
                self.alias_nodes += size;
                if self.alias_nodes > self.limits.max_alias_nodes {
                    return Err(self.error(
                        &span,
                        format!(
                            "aliases copy more than {} nodes in total (an alias bomb?); refusing to load the document",
                            self.limits.max_alias_nodes
                        ),
                    ));
                }
                self.count(size, &span)?;
                let mut value = self.anchors[&id].value.clone();
                // The copy keeps the anchored node's content but is reported at the alias.
                value.span = span;
                self.complete(value, 0)
            }
            Event::SequenceStart(anchor, tag) => {
                self.reject_tag(tag.as_deref(), "seq", &span)?;
                self.open(Frame::List { items: Vec::new(), span, anchor })
            }
            Event::MappingStart(anchor, tag) => {
                self.reject_tag(tag.as_deref(), "map", &span)?;
                self.open(Frame::Map {
                    map: Map::default(),
                    span,
                    anchor,
                    key: None,
                    merge_key: false,
                    merges: Vec::new(),
                    index: None,
                })
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::List { items, span, anchor }) => {
                    self.complete(Value { kind: Kind::List(items), span }, anchor)
                }
                _ => Err(self.error(&span, "internal parser state: unexpected end of sequence")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { mut map, span, anchor, merges, .. }) => {
                    apply_merges(&mut map, merges);
                    self.complete(Value { kind: Kind::Map(map), span }, anchor)
                }
                _ => Err(self.error(&span, "internal parser state: unexpected end of mapping")),
            },
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), Problem> {
        if self.stack.len() >= self.limits.max_depth {
            let span = match &frame {
                Frame::List { span, .. } | Frame::Map { span, .. } => *span,
            };
            return Err(self.error(&span, format!("the document nests deeper than {} levels", self.limits.max_depth)));
        }
        self.count(
            1,
            &match &frame {
                Frame::List { span, .. } | Frame::Map { span, .. } => *span,
            },
        )?;
        self.stack.push(frame);
        Ok(())
    }

    fn reject_tag(&self, tag: Option<&saphyr_parser::Tag>, allowed: &str, span: &Span) -> Result<(), Problem> {
        match tag {
            None => Ok(()),
            Some(tag) if tag.is_yaml_core_schema() && tag.suffix == allowed => Ok(()),
            Some(tag) => Err(self.error(span, format!("unsupported YAML tag `{tag}`"))),
        }
    }

    fn scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&saphyr_parser::Tag>,
        span: &Span,
    ) -> Result<Kind, Problem> {
        if let Some(tag) = tag {
            if !tag.is_yaml_core_schema() {
                return Err(self.error(span, format!("unsupported YAML tag `{tag}`")));
            }
            let resolved = match tag.suffix.as_str() {
                "str" => Some(Kind::Str(text.into())),
                "null" => resolve_plain(text).filter(|k| matches!(k, Kind::Null)),
                "bool" => resolve_plain(text).filter(|k| matches!(k, Kind::Bool(_))),
                "int" => resolve_plain(text).filter(|k| matches!(k, Kind::Int(_))),
                "float" => match resolve_plain(text) {
                    Some(Kind::Int(i)) => Some(Kind::Float(i as f64)),
                    other => other.filter(|k| matches!(k, Kind::Float(_))),
                },
                _ => return Err(self.error(span, format!("unsupported YAML tag `{tag}`"))),
            };
            return resolved
                .ok_or_else(|| self.error(span, format!("{} is not a valid `{tag}` value", quote_for_message(text))));
        }
        if style != ScalarStyle::Plain {
            return Ok(Kind::Str(text.into()));
        }
        if let Some(kind) = resolve_plain(text) {
            return Ok(kind);
        }
        if looks_like_int(text) {
            return Err(self.error(span, format!("integer {text} is too large (the limit is {})", i64::MAX)));
        }
        Ok(Kind::Str(text.into()))
    }

    /// Attaches a finished node to its parent (or makes it the document root).
    fn complete(&mut self, value: Value, anchor: usize) -> Result<(), Problem> {
        let plain_merge = std::mem::take(&mut self.plain_merge);
        if anchor != 0 {
            let (nodes, depth) = measure(&value);
            // Each anchor keeps a copy; anchors nested in anchored nodes would otherwise keep
            // copies of copies (128 nested anchors around one long list: memory 128 times the
            // list's) without a single alias. Allow the document's own size again, plus the
            // alias budget.
            self.anchored_nodes += nodes;
            let budget = self.nodes.saturating_add(self.limits.max_alias_nodes);
            if self.anchored_nodes > budget {
                let message = format!(
                    "anchors keep copies of more than {budget} nodes (an anchor inside an anchored node keeps \
                     its own copy); refusing to load the document"
                );
                return Err(self.error(&value.span, message));
            }
            self.anchors.insert(anchor, Anchored { value: value.clone(), nodes, depth });
        }
        // The pointer is built only when something is wrong: it costs allocations.
        let refused = match self.stack.last_mut() {
            None => {
                self.root = Some(value);
                return Ok(());
            }
            Some(Frame::List { items, .. }) => {
                items.push(value);
                return Ok(());
            }
            Some(Frame::Map { map, key, merge_key, merges, index, .. }) => match key.take() {
                None => match value.kind {
                    Kind::Str(name) => {
                        *key = Some(Key { name, span: value.span });
                        *merge_key = plain_merge;
                        return Ok(());
                    }
                    Kind::Int(i) => {
                        *key = Some(Key { name: i.to_string().into(), span: value.span });
                        return Ok(());
                    }
                    Kind::Bool(b) => {
                        *key = Some(Key { name: b.to_string().into(), span: value.span });
                        return Ok(());
                    }
                    Kind::Float(x) => {
                        *key = Some(Key { name: x.to_string().into(), span: value.span });
                        return Ok(());
                    }
                    Kind::Null => ("a mapping key must not be null".to_owned(), value.span),
                    Kind::List(_) | Kind::Map(_) => {
                        ("a mapping key must be a plain string, not a list or mapping".to_owned(), value.span)
                    }
                },
                Some(_) if std::mem::take(merge_key) => {
                    merges.push(value);
                    return Ok(());
                }
                Some(k) => {
                    let existing = match index {
                        Some(index) => index.get(&k.name).copied(),
                        None => map.entries.iter().position(|(e, _)| e.name == k.name),
                    };
                    match existing {
                        Some(at) => {
                            let message =
                                format!("duplicate key `{}` (first defined at {})", k.name, map.entries[at].0.span);
                            // Put the key back so the pointer names it.
                            let span = k.span;
                            *key = Some(k);
                            (message, span)
                        }
                        None => {
                            if let Some(index) = index {
                                index.insert(k.name.clone(), map.entries.len());
                            } else if map.entries.len() >= INDEX_THRESHOLD {
                                let mut built: HashMap<CompactString, usize> =
                                    map.entries.iter().enumerate().map(|(i, (e, _))| (e.name.clone(), i)).collect();
                                built.insert(k.name.clone(), map.entries.len());
                                *index = Some(built);
                            }
                            map.entries.push((k, value));
                            return Ok(());
                        }
                    }
                }
            },
        };
        let (message, span) = refused;
        Err(Problem::error(self.pointer(), message).with_span(&span))
    }
}

/// Applies `<<` merge keys: entries of the merged mappings that the mapping does not set itself
/// are added, earlier merge sources winning over later ones.
fn apply_merges(map: &mut Map, merges: Vec<Value>) {
    if merges.is_empty() {
        return;
    }
    // A set, not `map.get` per merged key: merging a big anchored mapping must not cost
    // (merged keys × keys) comparisons.
    let mut present: HashSet<CompactString> = map.entries.iter().map(|(k, _)| k.name.clone()).collect();
    for merge in merges {
        let sources = match merge.kind {
            Kind::Map(m) => vec![m],
            Kind::List(items) => items
                .into_iter()
                .filter_map(|v| match v.kind {
                    Kind::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            // A scalar merge value is meaningless; keep it visible as an ordinary key so the
            // mapper reports it as unknown rather than silently ignoring it.
            kind => {
                present.insert("<<".into());
                map.entries.push((Key { name: "<<".into(), span: merge.span }, Value { kind, span: merge.span }));
                continue;
            }
        };
        for source in sources {
            for (key, value) in source.entries {
                if present.insert(key.name.clone()) {
                    map.entries.push((key, value));
                }
            }
        }
    }
}

/// Nodes (as [`Builder::count`] counts them) and nesting depth of a finished node.
fn measure(value: &Value) -> (usize, usize) {
    let (nodes, depth) = match &value.kind {
        Kind::List(items) => items.iter().map(measure).fold((0, 0), |(n, d), (n2, d2)| (n + n2, d.max(d2))),
        Kind::Map(map) => {
            map.entries.iter().map(|(_, v)| measure(v)).fold((0, 0), |(n, d), (n2, d2)| (n + 1 + n2, d.max(d2)))
        }
        _ => return (1, 0),
    };
    (nodes + 1, depth + 1)
}

fn looks_like_int(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// YAML 1.2 core schema resolution of a plain scalar; `None` means "a string".
fn resolve_plain(text: &str) -> Option<Kind> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Kind::Null),
        "true" | "True" | "TRUE" => return Some(Kind::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Kind::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(Kind::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(Kind::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Kind::Float(f64::NAN)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Kind::Int);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Kind::Int);
    }
    if looks_like_int(text) {
        return text.parse::<i64>().ok().map(Kind::Int);
    }
    if is_core_float(text) {
        return text.parse::<f64>().ok().map(Kind::Float);
    }
    None
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_core_float(text: &str) -> bool {
    let b = text.strip_prefix(['-', '+']).unwrap_or(text).as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Value {
        parse(text, Some("t.yaml")).unwrap_or_else(|r| panic!("{r}"))
    }

    #[test]
    fn core_schema_scalars() {
        let v = parse_ok("a: yes\nb: true\nc: 12\nd: '12'\ne: 1.5\nf: ~\ng: 0x1f\nh: on\n");
        let m = v.as_map().unwrap();
        assert_eq!(m.get("a").unwrap().kind, Kind::Str("yes".into()));
        assert_eq!(m.get("b").unwrap().kind, Kind::Bool(true));
        assert_eq!(m.get("c").unwrap().kind, Kind::Int(12));
        assert_eq!(m.get("d").unwrap().kind, Kind::Str("12".into()));
        assert_eq!(m.get("e").unwrap().kind, Kind::Float(1.5));
        assert_eq!(m.get("f").unwrap().kind, Kind::Null);
        assert_eq!(m.get("g").unwrap().kind, Kind::Int(31));
        assert_eq!(m.get("h").unwrap().kind, Kind::Str("on".into()));
    }

    #[test]
    fn positions_are_one_based() {
        let v = parse_ok("cache:\n  size-max: 100M\n");
        let size = v.as_map().unwrap().get("cache").unwrap().as_map().unwrap().get("size-max").unwrap();
        assert_eq!((size.span.line, size.span.column, size.span.len), (2, 13, 4));
        assert_eq!(size.span.to_string(), "t.yaml:2:13");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v = parse_ok("base: &b {x: 1, y: 2}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n");
        let m = v.as_map().unwrap();
        assert_eq!(m.get("use").unwrap().to_json(), serde_json::json!({"x": 1, "y": 2}));
        assert_eq!(m.get("merged").unwrap().to_json(), serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn only_a_plain_double_less_than_is_the_merge_key() {
        // A quoted `<<` is an ordinary key, as in JSON (`{"<<": ...}` parsed as YAML merged).
        let v = parse_ok("b: &b {x: 1}\nm:\n  \"<<\": *b\n");
        assert_eq!(v.to_json(), serde_json::json!({"b": {"x": 1}, "m": {"<<": {"x": 1}}}));
        let err = parse("m:\n  \"<<\": {x: 1}\n  '<<': 2\n", None).unwrap_err();
        assert!(err.to_string().contains("duplicate key `<<`"), "{err}");
        let v = parse_ok("{\"<<\": {\"x\": 1}}");
        assert_eq!(v.to_json(), serde_json::json!({"<<": {"x": 1}}));
        let v = parse_ok("b: &b {x: 1}\nm: {<<: *b, y: 2}\n");
        assert_eq!(v.as_map().unwrap().get("m").unwrap().to_json(), serde_json::json!({"y": 2, "x": 1}));
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_places() {
        let err = parse("a: 1\nb:\n  c: 1\n  c: 2\n", Some("t.yaml")).unwrap_err();
        assert_eq!(err.to_string(), "/b/c: duplicate key `c` (first defined at t.yaml:3:3) (at t.yaml:4:3)");
    }

    #[test]
    fn duplicate_keys_in_big_maps_use_the_index() {
        let mut text: String = (0..100).map(|i| format!("k{i}: {i}\n")).collect();
        text.push_str("k42: again\n");
        let err = parse(&text, None).unwrap_err();
        assert!(err.to_string().starts_with("/k42: duplicate key `k42`"), "{err}");
    }

    #[test]
    fn second_document_is_rejected() {
        let err = parse("a: 1\n---\nb: 2\n", Some("t.yaml")).unwrap_err();
        assert!(err.to_string().contains("second YAML document"), "{err}");
        assert!(err.to_string().contains("t.yaml:2:1"), "{err}");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let started = std::time::Instant::now();
        let err = parse(&text, None).unwrap_err();
        assert!(err.to_string().contains("alias bomb"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn aliases_cannot_nest_deeper_than_the_limit() {
        // Each anchor nests the previous one 120 levels deeper: without the check, 40 of them
        // built a tree 4,800 levels deep, and dropping it overflowed the stack.
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..40 {
            text.push_str(&format!("a{i}: &a{i} {}*a{}{}\n", "[".repeat(120), i - 1, "]".repeat(120)));
        }
        let err = parse(&text, Some("t.yaml")).unwrap_err();
        let problem = &err.problems[0];
        assert!(problem.message.contains("nests deeper than 128 levels (with what this alias copies)"), "{err}");
        assert_eq!(problem.span.map(|s| (s.line, s.column)), Some((3, 129)), "{err}");
        // Up to the limit, aliases of nested nodes are fine.
        let text = format!("a: &a {}x{}\nb: {}*a{}\n", "[".repeat(60), "]".repeat(60), "[".repeat(67), "]".repeat(67));
        parse_ok(&text);
    }

    #[test]
    fn nested_anchors_do_not_multiply_memory() {
        // 100 anchors nested around one list of 4,000 items kept 100 copies of the list
        // (400,000 nodes from 12 kB of text) before anything was aliased.
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!("&a{i} ["));
        }
        text.push_str(&vec!["x"; 4000].join(", "));
        text.push_str(&"]".repeat(100));
        let err = parse(&text, None).unwrap_err();
        assert!(err.to_string().contains("anchors keep copies of more than"), "{err}");
        // Ordinary nested anchors still work.
        let v = parse_ok("a: &a {b: &b [1, 2]}\nc: *a\nd: *b\n");
        assert_eq!(v.to_json(), serde_json::json!({"a": {"b": [1, 2]}, "c": {"b": [1, 2]}, "d": [1, 2]}));
    }

    #[test]
    fn merging_a_big_mapping_is_not_quadratic() {
        // 20,000 merged keys took 7 s (debug) when each was looked up in a growing list.
        let keys: Vec<String> = (0..20_000).map(|i| format!("k{i}: {i}")).collect();
        let text = format!("b: &b {{{}}}\nm:\n  k5: mine\n  <<: *b\n", keys.join(", "));
        let started = std::time::Instant::now();
        let v = parse_ok(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        let m = v.as_map().unwrap().get("m").unwrap().as_map().unwrap();
        assert_eq!(m.len(), 20_000);
        assert_eq!(m.get("k5").unwrap().as_str(), Some("mine"));
        assert_eq!(m.get("k19999").unwrap().kind, Kind::Int(19_999));
    }

    #[test]
    fn documents_over_the_size_limit_are_refused_where_they_cross_it() {
        let limits = Limits { max_bytes: 20, ..Limits::default() };
        let text = "a: 1\nb: 2\nc: ééééé\nd: 4\n";
        for err in [
            parse_with_limits(text, Some("t.yaml"), limits).unwrap_err(),
            crate::json::parse_with_limits(text, Some("t.yaml"), limits).unwrap_err(),
        ] {
            assert_eq!(
                err.to_string(),
                "/: the document is 29 bytes long, more than the limit of 20 bytes; refusing to parse it (at t.yaml:3:7)"
            );
        }
        assert!(parse_with_limits("a: 1\n", None, limits).is_ok());
        assert_eq!(Limits::default().max_bytes, 64 << 20);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(200) + &"]".repeat(200);
        let err = parse(&text, None).unwrap_err();
        assert!(err.to_string().contains("deeper than 128"), "{err}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n", Some("t.yaml")).unwrap_err();
        let problem = &err.problems[0];
        assert!(problem.message.starts_with("YAML syntax error"), "{err}");
        assert!(problem.span.is_some());
    }

    #[test]
    fn too_large_integers_are_errors() {
        let err = parse("a: 99999999999999999999\n", None).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse_ok("").kind, Kind::Null);
        assert_eq!(parse_ok("# only a comment\n").kind, Kind::Null);
    }
}
