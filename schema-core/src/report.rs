//! Problem reports. Mapping and resolving never stop at the first problem: every problem found
//! in one run is collected here with the pointer it belongs to and, when known, the position in
//! the source. One line per problem for logs and APIs; a snippet rendering for terminals.

use std::fmt;

use crate::pointer::Pointer;
use crate::value::{Span, Value};

/// How serious a problem is. Notes explain what pass 2 decided (e.g. a feature turned off for
/// the installed daemon) and never make a config invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Note,
}

/// One problem: where (pointer and, when known, source position) and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub level: Level,
    pub pointer: Pointer,
    pub span: Option<Span>,
    pub message: String,
}

impl Problem {
    pub fn error(pointer: Pointer, message: impl Into<String>) -> Problem {
        Problem { level: Level::Error, pointer, span: None, message: message.into() }
    }

    pub fn note(pointer: Pointer, message: impl Into<String>) -> Problem {
        Problem { level: Level::Note, pointer, span: None, message: message.into() }
    }

    pub fn with_span(mut self, span: &Span) -> Problem {
        self.span = span.is_known().then_some(*span);
        self
    }

    /// The pointer as shown to people: the root is written `/` (RFC 6901 writes it as the empty
    /// string, which reads as nothing at all in a message).
    pub fn location(&self) -> String {
        if self.pointer.is_root() { "/".to_owned() } else { self.pointer.to_string() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.level == Level::Note {
            f.write_str("note: ")?;
        }
        write!(f, "{}: {}", self.location(), self.message)?;
        if let Some(span) = &self.span {
            write!(f, " (at {span})")?;
        }
        Ok(())
    }
}

/// Every problem of one run, in the order found. An empty report means success.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn new() -> Report {
        Report::default()
    }

    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    pub fn extend(&mut self, other: Report) {
        self.problems.extend(other.problems);
    }

    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(|p| p.level == Level::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.level == Level::Error)
    }

    pub fn notes(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.level == Level::Note)
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Fills in source positions of problems that only know their pointer (pass-2 and
    /// container-validator problems), by looking the pointer up in the parsed document. A pointer
    /// to something missing gets the position of its nearest existing ancestor, unless that is the
    /// whole document.
    pub fn locate(&mut self, document: &Value) {
        for problem in &mut self.problems {
            if problem.span.is_none() {
                let node = problem.pointer.nearest(document);
                // Pointing at the whole document says nothing about an absent key.
                let only_the_root = std::ptr::eq(node, document) && !problem.pointer.is_root();
                if node.span.is_known() && !only_the_root {
                    problem.span = Some(node.span);
                }
            }
        }
    }

    /// The report as JSON for APIs: `[{"pointer", "message", "level", "line", "column", "file"}]`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.problems
                .iter()
                .map(|p| {
                    let mut obj = serde_json::Map::new();
                    obj.insert("pointer".into(), p.pointer.to_string().into());
                    obj.insert("message".into(), p.message.clone().into());
                    if p.level == Level::Note {
                        obj.insert("level".into(), "note".into());
                    }
                    if let Some(span) = &p.span {
                        if let Some(file) = span.file {
                            obj.insert("file".into(), file.to_string().into());
                        }
                        obj.insert("line".into(), span.line.into());
                        obj.insert("column".into(), span.column.into());
                    }
                    serde_json::Value::Object(obj)
                })
                .collect(),
        )
    }

    /// Renders every problem with the source line it points at, for terminals. `source` returns
    /// the text of a file by name (`None` for unknown files: the problem is printed without a
    /// snippet).
    pub fn render(&self, source: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for problem in &self.problems {
            render_problem(&mut out, problem, source);
        }
        out
    }
}

fn render_problem(out: &mut String, problem: &Problem, source: &dyn Fn(&str) -> Option<String>) {
    use std::fmt::Write as _;
    let label = if problem.level == Level::Error { "error" } else { "note" };
    let _ = writeln!(out, "{label}: {}: {}", problem.location(), problem.message);
    let Some(span) = &problem.span else {
        out.push('\n');
        return;
    };
    let line_text = span
        .file
        .and_then(|file| source(file.name()))
        .and_then(|text| text.lines().nth(span.line as usize - 1).map(str::to_owned));
    if let Some(line_text) = line_text {
        let number = span.line.to_string();
        let gutter = " ".repeat(number.len());
        let _ = writeln!(out, "{gutter}--> {span}");
        let shown: String = line_text.chars().map(|c| if c == '\t' { ' ' } else { c }).collect();
        let width = shown.chars().count();
        let start = (span.column as usize).saturating_sub(1).min(width);
        let len = (span.len as usize).clamp(1, width.saturating_sub(start).max(1));
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {shown}");
        let _ = writeln!(out, "{gutter} | {}{}", " ".repeat(start), "^".repeat(len));
    } else {
        let _ = writeln!(out, " --> {span}");
    }
    out.push('\n');
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

impl From<Problem> for Report {
    fn from(problem: Problem) -> Report {
        Report { problems: vec![problem] }
    }
}

/// The candidate closest to `name` when it is close enough to be a likely typo: a "did you mean"
/// suggestion. Distance is Levenshtein over characters, with `_`/`-` confusion free.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = name.replace('_', "-").to_lowercase();
    let wanted_len = wanted.chars().count();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let candidate_len = candidate.chars().count();
        let limit = (candidate_len.max(wanted_len) / 3).max(1);
        // The distance is at least the difference in length: a long key is not compared
        // character by character with every short name (a 6,000-character unknown key cost
        // 38 ms in a debug build, and the time grows with the key times the names).
        if candidate_len.abs_diff(wanted_len) > limit {
            continue;
        }
        let distance = levenshtein(&wanted, candidate);
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["size-max", "storage", "ttl-min", "ttl-max"];
        assert_eq!(suggest("size_max", keys), Some("size-max"));
        assert_eq!(suggest("sizemax", keys), Some("size-max"));
        assert_eq!(suggest("ttl-mix", keys), Some("ttl-min"));
        assert_eq!(suggest("completely-else", keys), None);
    }

    #[test]
    fn long_names_are_not_compared_letter_by_letter() {
        let keys = ["size-max", "storage", "ttl-min", "ttl-max"];
        let long = "ab".repeat(1_000_000);
        let started = std::time::Instant::now();
        assert_eq!(suggest(&long, keys), None);
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "{:?}", started.elapsed());
        assert_eq!(suggest("size-maxx", keys), Some("size-max"));
    }

    #[test]
    fn one_line_per_problem() {
        let mut report = Report::new();
        report.push(
            Problem::error(Pointer::parse("/network/listen/0/port").unwrap(), "70000 is out of range 1..=65535")
                .with_span(&Span {
                    file: Some(crate::value::FileId::intern("config.yaml")),
                    line: 12,
                    column: 13,
                    len: 5,
                }),
        );
        report.push(Problem::error(Pointer::root(), "expected a mapping"));
        assert_eq!(
            report.to_string(),
            "/network/listen/0/port: 70000 is out of range 1..=65535 (at config.yaml:12:13)\n/: expected a mapping"
        );
    }
}
