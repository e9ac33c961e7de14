//! JSON → [`Value`] with positions. A small recursive-descent parser of RFC 8259 (no extensions),
//! written here because `serde_json` does not report where each value sits in the text.
//! Duplicate keys, documents nested deeper than the limit and documents longer than the limit
//! are rejected like in YAML.

use compact_str::CompactString;

use crate::pointer::{Pointer, Segment};
use crate::report::{Problem, Report};
use crate::value::{FileId, Key, Kind, Map, Span, Value};
use crate::yaml::Limits;

/// Parses one JSON document. `file` names the source in positions.
pub fn parse(text: &str, file: Option<&str>) -> Result<Value, Report> {
    parse_with_limits(text, file, Limits::default())
}

pub fn parse_with_limits(text: &str, file: Option<&str>, limits: Limits) -> Result<Value, Report> {
    let file = file.map(FileId::intern);
    crate::yaml::check_size(text, file, limits)?;
    let mut parser = JsonParser {
        text: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
        file,
        path: Vec::new(),
        limits,
        nodes: 0,
        column_cache: std::cell::Cell::new((0, 1)),
    };
    parser.skip_ws();
    let value = parser.value().map_err(Report::from)?;
    parser.skip_ws();
    if parser.pos < parser.text.len() {
        return Err(parser.error("unexpected text after the JSON document").into());
    }
    Ok(value)
}

struct JsonParser<'t> {
    text: &'t [u8],
    pos: usize,
    line: u32,
    line_start: usize,
    file: Option<FileId>,
    /// Where we are, for error pointers (keys are inline strings: no allocation per key).
    path: Vec<Step>,
    limits: Limits,
    nodes: usize,
    /// The last (byte position, column) computed, on the current line.
    column_cache: std::cell::Cell<(usize, u32)>,
}

/// One step of the parser's position, turned into a [`Segment`] only for an error.
enum Step {
    Key(CompactString),
    Index(usize),
}

impl JsonParser<'_> {
    fn pointer(&self) -> Pointer {
        Pointer(
            self.path
                .iter()
                .map(|step| match step {
                    Step::Key(k) => Segment::Key(k.to_string()),
                    Step::Index(i) => Segment::Index(*i),
                })
                .collect(),
        )
    }

    fn span_at(&self, pos: usize, len: usize) -> Span {
        // Columns count characters, not bytes. Positions only move forward, so count from the
        // last computed one: a minified document is one long line and must not cost O(n²).
        let (mut from, mut column) = self.column_cache.get();
        if from < self.line_start || from > pos {
            (from, column) = (self.line_start, 1);
        }
        column += self.text[from..pos].iter().filter(|b| (**b & 0xC0) != 0x80).count() as u32;
        self.column_cache.set((pos, column));
        Span { file: self.file, line: self.line, column, len: len.max(1) as u32 }
    }

    fn error(&self, message: impl Into<String>) -> Problem {
        let found = match self.text.get(self.pos) {
            None => " (found the end of the input)".to_owned(),
            Some(_) => String::new(),
        };
        Problem::error(self.pointer(), format!("JSON syntax error: {}{found}", message.into()))
            .with_span(&self.span_at(self.pos.min(self.text.len()), 1))
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.text.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    self.line_start = self.pos;
                }
                _ => break,
            }
        }
    }

    fn value(&mut self) -> Result<Value, Problem> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(format!("the document has more than {} nodes", self.limits.max_nodes)));
        }
        let start = self.pos;
        match self.text.get(self.pos) {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => {
                let s = self.string()?;
                Ok(Value { kind: Kind::Str(s), span: self.span_at(start, self.pos - start) })
            }
            Some(b't') => self.literal("true", Kind::Bool(true)),
            Some(b'f') => self.literal("false", Kind::Bool(false)),
            Some(b'n') => self.literal("null", Kind::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Value, Problem> {
        if self.text[self.pos..].starts_with(word.as_bytes()) {
            let span = self.span_at(self.pos, word.len());
            self.pos += word.len();
            Ok(Value { kind, span })
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn number(&mut self) -> Result<Value, Problem> {
        let start = self.pos;
        let bytes = self.text;
        let mut i = self.pos;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits = |i: &mut usize| {
            let from = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - from
        };
        let int_start = i;
        let int_digits = digits(&mut i);
        if int_digits == 0 || (int_digits > 1 && bytes[int_start] == b'0') {
            self.pos = int_start;
            return Err(self.error("invalid number"));
        }
        let mut is_float = false;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            is_float = true;
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.error("expected digits after the decimal point"));
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            is_float = true;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                self.pos = i;
                return Err(self.error("expected digits in the exponent"));
            }
        }
        let text = std::str::from_utf8(&bytes[start..i]).unwrap_or("0");
        let span = self.span_at(start, i - start);
        self.pos = i;
        let kind = if is_float {
            Kind::Float(text.parse().unwrap_or(f64::NAN))
        } else {
            match text.parse::<i64>() {
                Ok(n) => Kind::Int(n),
                Err(_) => {
                    return Err(Problem::error(
                        self.pointer(),
                        format!("integer {text} is too large (the limit is {})", i64::MAX),
                    )
                    .with_span(&span));
                }
            }
        };
        Ok(Value { kind, span })
    }

    fn string(&mut self) -> Result<CompactString, Problem> {
        // Most strings have no escapes: take them straight from the text (short ones inline).
        let body = &self.text[self.pos + 1..];
        if let Some(len) = body.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            && body[len] == b'"'
        {
            let text = std::str::from_utf8(&body[..len]).map_err(|_| self.error("invalid UTF-8 in a string"))?;
            self.pos += len + 2;
            return Ok(CompactString::from(text));
        }
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(&b) = self.text.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.text[run_start..self.pos])
                    .map_err(|_| self.error("invalid UTF-8 in a string"))?,
            );
            match self.text.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out.into());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.text.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.text[self.pos..].starts_with(b"\\u") {
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.error("unpaired surrogate in \\u escape"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            out.push(char::from_u32(code).ok_or_else(|| self.error("invalid \\u escape"))?);
                            continue;
                        }
                        _ => return Err(self.error("invalid escape in a string")),
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(_) => return Err(self.error("control character in a string (escape it)")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Problem> {
        let digits = self.text.get(self.pos..self.pos + 4).ok_or_else(|| self.error("expected 4 hex digits"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.error("expected 4 hex digits"))?;
        let code = u32::from_str_radix(text, 16).map_err(|_| self.error("expected 4 hex digits"))?;
        self.pos += 4;
        Ok(code)
    }

    fn enter(&mut self) -> Result<(), Problem> {
        if self.path.len() >= self.limits.max_depth {
            return Err(self.error(format!("the document nests deeper than {} levels", self.limits.max_depth)));
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Value, Problem> {
        self.enter()?;
        let span = self.span_at(self.pos, 1);
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value { kind: Kind::List(items), span });
        }
        loop {
            self.path.push(Step::Index(items.len()));
            self.skip_ws();
            items.push(self.value()?);
            self.path.pop();
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value { kind: Kind::List(items), span });
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self) -> Result<Value, Problem> {
        self.enter()?;
        let span = self.span_at(self.pos, 1);
        self.pos += 1;
        let mut map = Map::default();
        // Duplicate keys: a scan while the object is small, a set once it is not.
        let mut seen: Option<std::collections::HashSet<CompactString>> = None;
        self.skip_ws();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value { kind: Kind::Map(map), span });
        }
        loop {
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a string key"));
            }
            let key_start = self.pos;
            let name = self.string()?;
            let key_span = self.span_at(key_start, self.pos - key_start);
            self.path.push(Step::Key(name.clone()));
            let duplicate = match &mut seen {
                Some(seen) => !seen.insert(name.clone()),
                None => map.entries.iter().any(|(k, _)| k.name == name),
            };
            if seen.is_none() && map.entries.len() >= 16 {
                seen = Some(map.entries.iter().map(|(k, _)| k.name.clone()).chain([name.clone()]).collect());
            }
            if duplicate {
                let first = map.key(&name).map(|k| k.span.to_string()).unwrap_or_default();
                return Err(Problem::error(
                    self.pointer(),
                    format!("duplicate key `{name}` (first defined at {first})"),
                )
                .with_span(&key_span));
            }
            self.skip_ws();
            if self.text.get(self.pos) != Some(&b':') {
                return Err(self.error("expected ':' after the key"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            self.path.pop();
            map.entries.push((Key { name, span: key_span }, value));
            self.skip_ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value { kind: Kind::Map(map), span });
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_positions() {
        let v = parse("{\n  \"a\": [1, 2.5, \"x\"],\n  \"b\": {\"c\": null}\n}", Some("t.json")).unwrap();
        assert_eq!(v.to_json(), serde_json::json!({"a": [1, 2.5, "x"], "b": {"c": null}}));
        let a = v.as_map().unwrap().get("a").unwrap();
        assert_eq!(a.span.to_string(), "t.json:2:8");
        let Kind::List(items) = &a.kind else { panic!() };
        assert_eq!(items[2].span.to_string(), "t.json:2:17");
    }

    #[test]
    fn reports_errors_with_pointer_and_position() {
        let err = parse("{\"a\": {\"b\": [1, }]}}", Some("t.json")).unwrap_err();
        assert_eq!(err.problems[0].pointer.to_string(), "/a/b/1");
        assert!(err.to_string().contains("t.json:1:17"), "{err}");
        let err = parse("{\"a\": 1, \"a\": 2}", None).unwrap_err();
        assert!(err.to_string().contains("duplicate key `a`"), "{err}");
        let big: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let err = parse(&format!("{{{}, \"k7\": 0}}", big.join(", ")), None).unwrap_err();
        assert!(
            err.to_string().starts_with("/k7: JSON syntax error")
                || err.to_string().starts_with("/k7: duplicate key `k7`"),
            "{err}"
        );
        assert!(parse("[1] x", None).is_err());
        assert!(parse("01", None).is_err());
        assert!(parse("\"\\ud800\"", None).is_err());
    }

    #[test]
    fn unicode_escapes_and_columns_in_characters() {
        let v = parse("{\"é\": \"\\u00e9\\ud83d\\ude00\"}", None).unwrap();
        let (k, value) = v.as_map().unwrap().iter().next().unwrap();
        assert_eq!(k.name, "é");
        assert_eq!(value.as_str(), Some("é😀"));
        assert_eq!(value.span.column, 7);
    }
}
