//! Pass 1: mapping a [`Value`] tree into typed values. Pure: no I/O, no system facts.
//!
//! Every type that can appear in a config implements [`Schema`]. Mapping never stops at the first
//! problem: a type that cannot map its node records why in the [`MapCx`] and returns `None`, and
//! its parent carries on with the other fields, so one run reports every problem.

use crate::json_schema::SchemaGen;
use crate::pointer::{Pointer, Segment};
use crate::report::{Problem, Report, suggest};
use crate::value::{Kind, Map, Span, Value};

/// A type that can be read from a config document, described as JSON Schema, and written back.
pub trait Schema: Sized {
    /// Pass 1: maps `value` (at `cx`'s current path) or records why it cannot.
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Self>;

    /// The value to use when the key is absent and no default is declared: `None` for optional
    /// types, otherwise nothing (the key is required).
    fn when_missing() -> Option<Self> {
        None
    }

    /// The JSON Schema (draft 2020-12) of the accepted documents.
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value;

    /// Writes the value back as a document that maps to an equal value.
    fn to_json(&self) -> serde_json::Value;

    /// What this type expects, for messages: "an integer", "a size such as 100M".
    fn expecting() -> String;

    /// Whether a node of this kind could be meant for this type. Unions use it to decide which
    /// variant's problems to report when no variant maps.
    fn accepts(kind: &Kind) -> bool {
        let _ = kind;
        true
    }
}

/// How a struct field without its key gets a value (see `#[schema(default = ...)]`).
pub type FieldDefault<'a, 'v, T> = dyn Fn(&mut MapCx<'v>) -> Option<T> + 'a;

/// One step of the path being mapped, borrowed from the document or the schema (no allocation
/// while nothing goes wrong).
#[derive(Clone, Copy, Debug)]
pub enum PathStep<'v> {
    Key(&'v str),
    Index(usize),
}

/// The state of one mapping run: where we are and what went wrong so far.
#[derive(Debug, Default)]
pub struct MapCx<'v> {
    path: Vec<PathStep<'v>>,
    report: Report,
}

impl<'v> MapCx<'v> {
    pub fn new() -> MapCx<'v> {
        MapCx { path: Vec::new(), report: Report::new() }
    }

    /// The JSON pointer of the node being mapped.
    pub fn pointer(&self) -> Pointer {
        Pointer(
            self.path
                .iter()
                .map(|step| match step {
                    PathStep::Key(k) => Segment::Key((*k).to_owned()),
                    PathStep::Index(i) => Segment::Index(*i),
                })
                .collect(),
        )
    }

    /// Records a problem at the current path.
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        let problem = Problem::error(self.pointer(), message).with_span(span);
        self.report.push(problem);
    }

    /// Records a problem at `relative` below the current path, pointing at the node found there
    /// in `node` (or at the nearest ancestor when it does not exist).
    pub fn error_at(&mut self, node: &Value, relative: &Pointer, message: impl Into<String>) {
        let pointer = self.pointer().join(relative);
        let span = relative.nearest(node).span;
        self.report.push(Problem::error(pointer, message).with_span(&span));
    }

    /// Records that `value` is not what `T` expects.
    pub fn mismatch<T: Schema>(&mut self, value: &Value) {
        self.error(&value.span, format!("expected {}, found {}", T::expecting(), value.describe()));
    }

    /// Runs `f` one step deeper.
    pub fn at<R>(&mut self, step: PathStep<'v>, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(step);
        let result = f(self);
        self.path.pop();
        result
    }

    /// Number of problems so far; with [`MapCx::rollback`] a union tries a variant and forgets
    /// its complaints.
    pub fn checkpoint(&self) -> usize {
        self.report.problems.len()
    }

    pub fn rollback(&mut self, checkpoint: usize) -> Vec<Problem> {
        self.report.problems.split_off(checkpoint)
    }

    pub fn restore(&mut self, problems: Vec<Problem>) {
        self.report.problems.extend(problems);
    }

    pub fn into_report(self) -> Report {
        self.report
    }

    /// Start of a struct: `value` must be a mapping whose keys are all in `fields`. Unknown keys
    /// are reported (with a suggestion when one is close) and mapping goes on with the rest.
    pub fn struct_map<T: Schema>(&mut self, value: &'v Value, fields: &[&'static str]) -> Option<&'v Map> {
        let Kind::Map(map) = &value.kind else {
            self.mismatch::<T>(value);
            return None;
        };
        for (key, _) in &map.entries {
            if !fields.contains(&key.name.as_str()) {
                let name = key.name.as_str();
                let hint = match suggest(name, fields.iter().copied()) {
                    Some(close) => format!("; did you mean `{close}`?"),
                    None if fields.len() <= 12 => {
                        format!(
                            "; expected one of {}",
                            fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ")
                        )
                    }
                    None => String::new(),
                };
                self.at(PathStep::Key(name), |cx| cx.error(&key.span, format!("unknown key `{name}`{hint}")));
            }
        }
        Some(map)
    }

    /// Maps one struct field. A present key is mapped and then checked by `check` (constraints
    /// and field validators, whose error is reported on the field). An absent key takes
    /// `default`, else the type's [`Schema::when_missing`], else it is reported as missing.
    pub fn field<T: Schema>(
        &mut self,
        map: &'v Map,
        parent: &'v Value,
        key: &'static str,
        default: Option<&FieldDefault<'_, 'v, T>>,
        check: &dyn Fn(&T) -> Result<(), String>,
    ) -> Option<T> {
        self.at(PathStep::Key(key), |cx| match map.get(key) {
            Some(node) => {
                let value = T::map(node, cx)?;
                match check(&value) {
                    Ok(()) => Some(value),
                    Err(message) => {
                        cx.error(&node.span, message);
                        None
                    }
                }
            }
            None => match default {
                Some(default) => default(cx),
                None => T::when_missing().or_else(|| {
                    cx.error(&parent.span, format!("missing required key `{key}` ({})", T::expecting()));
                    None
                }),
            },
        })
    }

    /// Maps a default written as a document literal in a `#[schema(default = ...)]` attribute.
    /// A literal that does not map is a bug in the schema definition; it is reported like any
    /// other problem rather than panicking.
    pub fn literal_default<T: Schema>(&mut self, literal: serde_json::Value) -> Option<T> {
        let value = Value::from_json(&literal);
        let mut inner = MapCx::new();
        let mapped = T::map(&value, &mut inner);
        if mapped.is_none() {
            let span = Span::NONE;
            self.error(
                &span,
                format!("internal error: the declared default {literal} is invalid: {}", inner.into_report()),
            );
        }
        mapped
    }

    /// Runs a container validator (cross-field rules) on a mapped struct. It reports problems
    /// relative to the struct through [`Checks`]; they land on the right pointer and position.
    /// Returns whether the validator found nothing.
    pub fn container_check<T>(&mut self, node: &'v Value, value: &T, validator: fn(&T, &mut Checks)) -> bool {
        let mut checks = Checks::default();
        validator(value, &mut checks);
        let passed = checks.problems.is_empty();
        for (relative, message) in checks.problems {
            self.error_at(node, &relative, message);
        }
        passed
    }
}

/// Problems reported by a container validator, each at a pointer relative to the struct.
#[derive(Debug, Default)]
pub struct Checks {
    problems: Vec<(Pointer, String)>,
}

impl Checks {
    /// Reports a problem at `relative` (e.g. `"port"`, `"servers/2/address"`, or `""` for the
    /// struct itself).
    pub fn error(&mut self, relative: &str, message: impl Into<String>) {
        let pointer = if relative.is_empty() {
            Pointer::root()
        } else {
            Pointer(
                relative
                    .split('/')
                    .map(|s| match crate::pointer::parse_index(s) {
                        Some(i) => Segment::Index(i),
                        None => Segment::Key(s.to_owned()),
                    })
                    .collect(),
            )
        };
        self.problems.push((pointer, message.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Pass 1 over a whole document.
pub fn map_document<T: Schema>(value: &Value) -> Result<T, Report> {
    let mut cx = MapCx::new();
    match T::map(value, &mut cx) {
        Some(mapped) if !cx.report.has_errors() => Ok(mapped),
        _ => {
            let mut report = cx.into_report();
            if report.is_empty() {
                report.push(Problem::error(Pointer::root(), "the document could not be mapped"));
            }
            Err(report)
        }
    }
}
