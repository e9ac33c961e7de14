//! A fast path for the YAML that config files are made of: block mappings and sequences,
//! one-line plain and quoted scalars, one-line flow collections and comments. It builds the same
//! tree as the full parser, directly from the text, with exactly sized vectors.
//!
//! It never reports errors: on anything outside that subset (anchors, aliases, tags, block
//! scalars, multi-line scalars, tabs, CR, documents markers other than a leading `---`, ...) and
//! on anything wrong (duplicate keys, bad structure, limits) it returns `None`, and the full
//! parser takes over and produces the result or the error report. So every message comes from
//! one place, and the fast path only has to be right about what it accepts (a differential
//! property test holds it to that).

use super::{Limits, looks_like_int, resolve_plain};
use crate::value::{FileId, Key, Kind, Map, Span, Value};
use std::collections::HashSet;

use compact_str::CompactString;

/// The tree for `text`, or `None` when the full parser must decide.
pub(super) fn parse(text: &str, file: Option<FileId>, limits: Limits) -> Option<Value> {
    if text.bytes().any(|b| b == b'\t' || b == b'\r') || text.starts_with('\u{feff}') {
        return None;
    }
    let mut fast = Fast {
        text,
        file,
        limits,
        start: 0,
        end: text.find('\n').unwrap_or(text.len()),
        line: 1,
        ascii: true,
        column_cache: std::cell::Cell::new((0, 1)),
        nodes: 0,
        entries: Vec::new(),
        items: Vec::new(),
    };
    fast.ascii = fast.current().is_ascii();
    fast.document()
}

struct Fast<'t> {
    text: &'t str,
    file: Option<FileId>,
    limits: Limits,
    /// Byte range of the current line (without its `\n`) and its 1-based number.
    start: usize,
    end: usize,
    line: u32,
    ascii: bool,
    /// The last (byte position, column) computed on a non-ASCII line.
    column_cache: std::cell::Cell<(usize, u32)>,
    nodes: usize,
    /// Scratch stacks: collections are gathered here and moved into exactly sized vectors.
    entries: Vec<(Key, Value)>,
    items: Vec<Value>,
}

/// Characters that may not start a plain scalar in this subset.
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

impl<'t> Fast<'t> {
    fn current(&self) -> &'t str {
        &self.text[self.start..self.end]
    }

    fn eof(&self) -> bool {
        self.start >= self.text.len()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        if at < self.end { Some(self.text.as_bytes()[at]) } else { None }
    }

    fn next_line(&mut self) {
        if self.end >= self.text.len() {
            self.start = self.text.len();
            self.end = self.text.len();
            return;
        }
        self.start = self.end + 1;
        self.end = self.text[self.start..].find('\n').map_or(self.text.len(), |i| self.start + i);
        self.line += 1;
        self.ascii = self.current().is_ascii();
    }

    /// Skips lines that are empty, blank or only a comment.
    fn skip_blank_lines(&mut self) {
        while !self.eof() {
            match self.current().trim_start_matches(' ').as_bytes().first() {
                None | Some(b'#') => self.next_line(),
                Some(_) => return,
            }
        }
    }

    fn indent(&self) -> usize {
        self.current().bytes().take_while(|b| *b == b' ').count()
    }

    fn column(&self, at: usize) -> u32 {
        if self.ascii {
            return (at - self.start) as u32 + 1;
        }
        // Count from the last computed position when it is on this line and not past `at`:
        // counting from the line's start for every node costs O(n²) on one long line of
        // non-ASCII flow items.
        let (mut from, mut column) = self.column_cache.get();
        if from < self.start || from > at {
            (from, column) = (self.start, 1);
        }
        column += self.text[from..at].chars().count() as u32;
        self.column_cache.set((at, column));
        column
    }

    fn span(&self, from: usize, to: usize) -> Span {
        let piece = &self.text[from..to];
        let len = if self.ascii { piece.len() } else { piece.chars().count() };
        Span { file: self.file, line: self.line, column: self.column(from), len: len.max(1) as u32 }
    }

    fn node(&mut self, kind: Kind, span: Span) -> Option<Value> {
        self.nodes += 1;
        (self.nodes <= self.limits.max_nodes).then_some(Value { kind, span })
    }

    fn document(&mut self) -> Option<Value> {
        self.skip_blank_lines();
        let line = self.current();
        if line == "---" || line.starts_with("--- ") {
            let rest = line[3..].trim_start_matches(' ');
            if !(rest.is_empty() || rest.starts_with('#')) {
                return None;
            }
            self.next_line();
            self.skip_blank_lines();
        }
        if self.eof() {
            // An empty document (or a lone `---`): let the full parser say what it is.
            return None;
        }
        let value = self.block_node(self.indent(), 0)?;
        self.skip_blank_lines();
        self.eof().then_some(value)
    }

    /// Whether the current line, from `at`, starts a sequence entry (`- ` or a lone `-`).
    fn is_dash(&self, at: usize) -> bool {
        self.byte(at) == Some(b'-') && matches!(self.byte(at + 1), None | Some(b' '))
    }

    /// A block node whose first line is the current one, starting at column `indent`.
    fn block_node(&mut self, indent: usize, depth: usize) -> Option<Value> {
        if depth >= self.limits.max_depth {
            return None;
        }
        let at = self.start + indent;
        if self.is_dash(at) {
            return self.sequence(indent, depth);
        }
        if self.key_end(at).is_some() {
            return self.mapping(at, depth);
        }
        let (value, end) = self.inline(at, depth)?;
        self.finish_line(end)?;
        Some(value)
    }

    /// After an inline value ending at `end`: only spaces and a comment may follow.
    fn finish_line(&mut self, end: usize) -> Option<()> {
        let rest = &self.text[end..self.end];
        let trimmed = rest.trim_start_matches(' ');
        if !(trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())) {
            return None;
        }
        self.next_line();
        Some(())
    }

    fn sequence(&mut self, indent: usize, depth: usize) -> Option<Value> {
        let span = self.span(self.start + indent, self.start + indent);
        let mark = self.items.len();
        loop {
            let after = self.start + indent + 1;
            let item = if after >= self.end {
                // `-` alone: the item is on the following lines, or empty.
                let empty = self.span(after, after);
                self.next_line();
                self.skip_blank_lines();
                if !self.eof() && self.indent() > indent {
                    self.block_node(self.indent(), depth + 1)?
                } else {
                    self.node(Kind::Null, empty)?
                }
            } else {
                let at = after + self.text[after..self.end].bytes().take_while(|b| *b == b' ').count();
                if at >= self.end || self.byte(at) == Some(b'#') || self.is_dash(at) {
                    return None;
                }
                if self.key_end(at).is_some() {
                    self.mapping(at, depth + 1)?
                } else {
                    let (value, end) = self.inline(at, depth + 1)?;
                    self.finish_line(end)?;
                    value
                }
            };
            self.items.push(item);
            self.skip_blank_lines();
            if self.eof() || self.indent() < indent {
                break;
            }
            if self.indent() > indent {
                return None;
            }
            if !self.is_dash(self.start + indent) {
                break;
            }
        }
        let items = self.items.split_off(mark);
        self.node(Kind::List(items), span)
    }

    /// A document marker (`---`, `...`) at the start of a line: the full parser's business.
    fn is_marker(&self, at: usize) -> bool {
        at == self.start && (self.current().starts_with("---") || self.current().starts_with("..."))
    }

    /// Where the key starting at `at` ends and its `:` is, when the line holds `key: ...`.
    fn key_end(&self, at: usize) -> Option<(usize, usize)> {
        if self.is_marker(at) {
            return None;
        }
        let bytes = self.text.as_bytes();
        let first = *bytes.get(at).filter(|_| at < self.end)?;
        let key_end = match first {
            b'"' | b'\'' => self.quoted_end(at)?,
            b if is_indicator(b) => return None,
            _ => {
                let mut i = at;
                loop {
                    if i >= self.end {
                        return None;
                    }
                    match bytes[i] {
                        b':' if matches!(self.byte(i + 1), None | Some(b' ')) => break,
                        b'#' if bytes[i - 1] == b' ' => return None,
                        _ => i += 1,
                    }
                }
                let trimmed = self.text[at..i].trim_end_matches(' ');
                at + trimmed.len()
            }
        };
        let colon = key_end + self.text[key_end..self.end].bytes().take_while(|b| *b == b' ').count();
        (self.byte(colon) == Some(b':') && matches!(self.byte(colon + 1), None | Some(b' ')))
            .then_some((key_end, colon))
    }

    fn mapping(&mut self, first_key: usize, depth: usize) -> Option<Value> {
        if depth >= self.limits.max_depth {
            return None;
        }
        let indent = first_key - self.start;
        let span = self.span(first_key, first_key);
        let mark = self.entries.len();
        let mut seen: Option<HashSet<CompactString>> = None;
        let mut key_at = first_key;
        loop {
            let (key_end, colon) = self.key_end(key_at)?;
            let key = self.key(key_at, key_end)?;
            let duplicate = match &mut seen {
                Some(seen) => !seen.insert(key.name.clone()),
                None => self.entries[mark..].iter().any(|(k, _)| k.name == key.name),
            };
            if duplicate || key.name == "<<" {
                return None;
            }
            let value_at = colon + 1 + self.text[colon + 1..self.end].bytes().take_while(|b| *b == b' ').count();
            let value = if value_at >= self.end || self.byte(value_at) == Some(b'#') {
                let empty = self.span(colon, colon);
                self.next_line();
                self.skip_blank_lines();
                let nested = !self.eof()
                    && (self.indent() > indent || (self.indent() == indent && self.is_dash(self.start + indent)));
                if nested { self.block_node(self.indent(), depth + 1)? } else { self.node(Kind::Null, empty)? }
            } else {
                let (value, end) = self.inline(value_at, depth + 1)?;
                self.finish_line(end)?;
                value
            };
            self.entries.push((key, value));
            if seen.is_none() && self.entries.len() - mark > 16 {
                seen = Some(self.entries[mark..].iter().map(|(k, _)| k.name.clone()).collect());
            }
            self.skip_blank_lines();
            if self.eof() || self.indent() < indent {
                break;
            }
            if self.indent() > indent {
                return None;
            }
            key_at = self.start + indent;
        }
        let entries = self.entries.split_off(mark);
        self.node(Kind::Map(Map { entries }), span)
    }

    /// A mapping key as the full parser makes it: quoted keys are strings, plain keys are
    /// resolved like values and written back as text; a null key is not this path's business.
    fn key(&mut self, at: usize, end: usize) -> Option<Key> {
        let span = self.span(at, end);
        let name = match self.byte(at)? {
            b'"' | b'\'' => self.unquote(at, end)?,
            _ => {
                let text = &self.text[at..end];
                match resolve_plain(text) {
                    None if looks_like_int(text) => return None,
                    None => text.to_owned(),
                    Some(Kind::Int(i)) => i.to_string(),
                    Some(Kind::Bool(b)) => b.to_string(),
                    Some(Kind::Float(x)) => x.to_string(),
                    Some(_) => return None,
                }
            }
        };
        self.nodes += 1;
        Some(Key { name: name.into(), span })
    }

    /// A value on the current line from `at`: returns it and where it ends.
    fn inline(&mut self, at: usize, depth: usize) -> Option<(Value, usize)> {
        if self.is_marker(at) {
            return None;
        }
        match self.byte(at)? {
            b'"' | b'\'' => {
                let end = self.quoted_end(at)?;
                let text = self.unquote(at, end)?;
                let span = self.span(at, end);
                Some((self.node(Kind::Str(text.into()), span)?, end))
            }
            b'[' => self.flow_sequence(at, depth),
            b'{' => self.flow_mapping(at, depth),
            // `-`, `?` and `:` start a plain scalar when a non-space follows (`-1`, `::1`).
            b'-' | b'?' | b':' if self.byte(at + 1).is_some_and(|b| b != b' ') => self.plain_block(at),
            b if is_indicator(b) => None,
            _ => self.plain_block(at),
        }
    }

    /// A plain scalar in block context: the rest of the line, up to a comment.
    fn plain_block(&mut self, at: usize) -> Option<(Value, usize)> {
        let bytes = self.text.as_bytes();
        let mut end = at;
        let mut i = at;
        while i < self.end {
            match bytes[i] {
                b'#' if bytes[i - 1] == b' ' => break,
                b':' if matches!(self.byte(i + 1), None | Some(b' ')) => return None,
                b' ' => {}
                _ => end = i + 1,
            }
            i += 1;
        }
        self.scalar(at, end).map(|v| (v, end))
    }

    fn scalar(&mut self, at: usize, end: usize) -> Option<Value> {
        let text = &self.text[at..end];
        let kind = match resolve_plain(text) {
            Some(kind) => kind,
            None if looks_like_int(text) => return None,
            None => Kind::Str(text.into()),
        };
        let span = self.span(at, end);
        self.node(kind, span)
    }

    /// The end (after the closing quote) of a quoted scalar starting at `at`, on this line.
    fn quoted_end(&self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let quote = bytes[at];
        let mut i = at + 1;
        while i < self.end {
            match bytes[i] {
                b'\\' if quote == b'"' => i += 2,
                b'\'' if quote == b'\'' && self.byte(i + 1) == Some(b'\'') => i += 2,
                b if b == quote => return Some(i + 1),
                _ => i += 1,
            }
        }
        None
    }

    /// The content of the quoted scalar `text[at..end]` with escapes applied.
    fn unquote(&self, at: usize, end: usize) -> Option<String> {
        let inner = &self.text[at + 1..end - 1];
        if self.text.as_bytes()[at] == b'\'' {
            return Some(inner.replace("''", "'"));
        }
        if !inner.contains('\\') {
            return Some(inner.to_owned());
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = match chars.next()? {
                '0' => '\0',
                'a' => '\u{7}',
                'b' => '\u{8}',
                't' => '\t',
                'n' => '\n',
                'v' => '\u{b}',
                'f' => '\u{c}',
                'r' => '\r',
                'e' => '\u{1b}',
                ' ' => ' ',
                '"' => '"',
                '/' => '/',
                '\\' => '\\',
                'N' => '\u{85}',
                '_' => '\u{a0}',
                'L' => '\u{2028}',
                'P' => '\u{2029}',
                kind @ ('x' | 'u' | 'U') => {
                    let digits = match kind {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex: String = chars.by_ref().take(digits).collect();
                    if hex.len() != digits {
                        return None;
                    }
                    char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                }
                _ => return None,
            };
            out.push(escaped);
        }
        Some(out)
    }

    fn skip_spaces(&self, mut at: usize) -> usize {
        while self.byte(at) == Some(b' ') {
            at += 1;
        }
        at
    }

    /// A value inside a flow collection.
    fn flow_node(&mut self, at: usize, depth: usize) -> Option<(Value, usize)> {
        match self.byte(at)? {
            b'[' => self.flow_sequence(at, depth),
            b'{' => self.flow_mapping(at, depth),
            b'"' | b'\'' => self.inline(at, depth),
            b'-' | b'?' | b':' if self.byte(at + 1).is_some_and(|b| b != b' ' && !is_flow_indicator(b)) => {
                self.flow_plain(at)
            }
            b if is_indicator(b) => None,
            _ => self.flow_plain(at),
        }
    }

    /// A plain scalar inside a flow collection: up to `,`, a bracket or the line's end.
    fn flow_plain(&mut self, at: usize) -> Option<(Value, usize)> {
        let bytes = self.text.as_bytes();
        let mut end = at;
        let mut i = at;
        while i < self.end {
            match bytes[i] {
                b if is_flow_indicator(b) => break,
                b'#' if bytes[i - 1] == b' ' => return None,
                // `:` followed by a space or a flow indicator makes a key: not this path's.
                b':' if self.byte(i + 1).is_none_or(|n| n == b' ' || is_flow_indicator(n)) => return None,
                b' ' => {}
                _ => end = i + 1,
            }
            i += 1;
        }
        self.scalar(at, end).map(|v| (v, end))
    }

    fn flow_sequence(&mut self, at: usize, depth: usize) -> Option<(Value, usize)> {
        if depth >= self.limits.max_depth {
            return None;
        }
        let span = self.span(at, at + 1);
        let mark = self.items.len();
        let mut i = self.skip_spaces(at + 1);
        if self.byte(i) != Some(b']') {
            loop {
                let (item, end) = self.flow_node(i, depth + 1)?;
                self.items.push(item);
                i = self.skip_spaces(end);
                match self.byte(i)? {
                    b',' => i = self.skip_spaces(i + 1),
                    b']' => break,
                    _ => return None,
                }
                if self.byte(i) == Some(b']') {
                    return None;
                }
            }
        }
        let items = self.items.split_off(mark);
        Some((self.node(Kind::List(items), span)?, i + 1))
    }

    fn flow_mapping(&mut self, at: usize, depth: usize) -> Option<(Value, usize)> {
        if depth >= self.limits.max_depth {
            return None;
        }
        let span = self.span(at, at + 1);
        let mark = self.entries.len();
        // As in block mappings: a scan while small, a set once not (a one-line mapping of many
        // keys must not cost keys² comparisons).
        let mut seen: Option<HashSet<CompactString>> = None;
        let mut i = self.skip_spaces(at + 1);
        if self.byte(i) != Some(b'}') {
            loop {
                // Key: quoted, or plain up to `:`.
                let key_end = match self.byte(i)? {
                    b'"' | b'\'' => self.quoted_end(i)?,
                    b if is_indicator(b) => return None,
                    _ => {
                        let rest = &self.text[i..self.end];
                        let colon = rest.find(':')?;
                        if rest[..colon].bytes().any(|b| is_flow_indicator(b) || b == b'#') {
                            return None;
                        }
                        i + rest[..colon].trim_end_matches(' ').len()
                    }
                };
                let key = self.key(i, key_end)?;
                let colon = self.skip_spaces(key_end);
                if self.byte(colon) != Some(b':') || self.byte(colon + 1) != Some(b' ') {
                    return None;
                }
                let duplicate = match &mut seen {
                    Some(seen) => !seen.insert(key.name.clone()),
                    None => self.entries[mark..].iter().any(|(k, _)| k.name == key.name),
                };
                if key.name == "<<" || duplicate {
                    return None;
                }
                if seen.is_none() && self.entries.len() - mark >= 16 {
                    let mut set: HashSet<CompactString> =
                        self.entries[mark..].iter().map(|(k, _)| k.name.clone()).collect();
                    set.insert(key.name.clone());
                    seen = Some(set);
                }
                let (value, end) = self.flow_node(self.skip_spaces(colon + 1), depth + 1)?;
                self.entries.push((key, value));
                i = self.skip_spaces(end);
                match self.byte(i)? {
                    b',' => i = self.skip_spaces(i + 1),
                    b'}' => break,
                    _ => return None,
                }
                if self.byte(i) == Some(b'}') {
                    return None;
                }
            }
        }
        let entries = self.entries.split_off(mark);
        Some((self.node(Kind::Map(Map { entries }), span)?, i + 1))
    }
}

#[cfg(test)]
mod tests {
    //! Differential tests: whatever the fast path accepts, it must build exactly the tree the full
    //! parser builds: same kinds, values, keys and positions (collections may differ in column,
    //! as the full parser places some block sequences at their first item rather than at the
    //! dash, and underline widths may differ).

    use proptest::prelude::*;

    use super::*;
    use crate::yaml::full_parse;

    fn same(fast: &Value, full: &Value) -> Result<(), String> {
        let differ = || Err(format!("fast {fast:?}\nfull {full:?}"));
        match (&fast.kind, &full.kind) {
            (Kind::List(a), Kind::List(b)) => {
                if a.len() != b.len() || fast.span.line != full.span.line {
                    return differ();
                }
                a.iter().zip(b).try_for_each(|(x, y)| same(x, y))
            }
            (Kind::Map(a), Kind::Map(b)) => {
                if a.len() != b.len() || fast.span.line != full.span.line {
                    return differ();
                }
                a.entries.iter().zip(&b.entries).try_for_each(|((ka, va), (kb, vb))| {
                    if ka != kb {
                        return Err(format!("keys differ: fast {ka:?}, full {kb:?}"));
                    }
                    same(va, vb)
                })
            }
            (Kind::Float(a), Kind::Float(b)) if a.is_nan() && b.is_nan() => Ok(()),
            // Underline widths may differ: the full parser stretches a quoted scalar over a
            // trailing comment.
            (a, b)
                if a == b
                    && (fast.span.file, fast.span.line, fast.span.column)
                        == (full.span.file, full.span.line, full.span.column) =>
            {
                Ok(())
            }
            _ => differ(),
        }
    }

    /// Checks the fast path against the full parser; returns whether the fast path accepted.
    fn check(text: &str) -> Result<bool, TestCaseError> {
        let file = Some(FileId::intern("t.yaml"));
        let Some(fast) = parse(text, file, Limits::default()) else { return Ok(false) };
        match full_parse(text, file, Limits::default()) {
            Ok(full) => same(&fast, &full).map_err(|e| TestCaseError::fail(format!("{e}\n--- text:\n{text}")))?,
            Err(report) => {
                return Err(TestCaseError::fail(format!(
                    "fast path accepted what the full parser refuses: {report}\n--- text:\n{text}"
                )));
            }
        }
        Ok(true)
    }

    #[test]
    fn examples() {
        let accepted = [
            "a: 1\nb:\n  - x\n  - k: \"q\\u00e9\"\n    j: 'it''s'\n  -\n    z: [1, {c: d}, []]\ne:\nf: end # c\n",
            "--- # doc\nk:\n- a\n- b\nz: 1\n",
            "- a\n-\n- [x, 'y', \"z\"]\n- {}\n",
            "\"k y\": v\nb:\nc:    w  # x\n",
            "hello\n",
            "a: é\nb: ñandú # ok\nc: [é, {ü: x}]\n",
            "true: 1\n53: x\n1.5: y\n",
            "url: http://example.com/a#b\nneg: -1\nt: a-b\n",
        ];
        for text in accepted {
            assert!(check(text).unwrap(), "declined: {text}");
        }
        let declined = [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  text\n",
            "a: b\n  c\n",
            "a:\tb\n",
            "a: 1\r\n",
            "a: 1\na: 2\n",
            "a: 1\n---\nb: 2\n",
            "",
            "~: x\n",
            "<<: {a: 1}\n",
            "a: [1,\n 2]\n",
            "a: b: c\n",
            "- - x\n",
            "a: 99999999999999999999\n",
            "? a\n: b\n",
            "a: 'open\n",
            "[a: b]\n",
        ];
        for text in declined {
            assert!(!check(text).unwrap(), "accepted: {text:?}");
        }
    }

    fn word() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "a",
            "b",
            "size-max",
            "key_2",
            "true",
            "null",
            "~",
            "53",
            "-7",
            "1.5",
            "0x1f",
            ".inf",
            "yes",
            "é",
            "a b",
            "x-y.z",
            "-x",
            "http://h/p",
            "a#b",
            "100M",
            "127.0.0.1@53",
            "::1",
            "2001:db8::1",
            "a: b",
            "a,b",
            "[x]",
            "{y}",
            "#c",
            "'q'",
            "\"d\"",
            "back\\slash",
            "",
            " lead",
            "trail ",
            "&anchor",
            "*alias",
            "!tag",
            "%p",
            "@at",
            "`t",
            "|",
            ">",
            "?",
            "-",
            ":",
            "ü ñ",
        ])
        .prop_map(str::to_owned)
    }

    #[derive(Clone, Debug)]
    enum Tree {
        Scalar(String, u8),
        List(Vec<Tree>, bool),
        Map(Vec<(String, u8, Tree)>, bool),
    }

    fn tree() -> impl Strategy<Value = Tree> {
        let leaf = (word(), 0u8..3).prop_map(|(w, style)| Tree::Scalar(w, style));
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..5), any::<bool>())
                    .prop_map(|(items, flow)| Tree::List(items, flow)),
                (prop::collection::vec((word(), 0u8..3, inner), 0..5), any::<bool>())
                    .prop_map(|(entries, flow)| Tree::Map(entries, flow)),
            ]
        })
    }

    /// Writes a scalar plain (style 0), single- (1) or double-quoted (2).
    fn scalar(text: &str, style: u8) -> String {
        match style {
            0 => text.to_owned(),
            1 => format!("'{}'", text.replace('\'', "''")),
            _ => format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")),
        }
    }

    fn flow(tree: &Tree) -> String {
        match tree {
            Tree::Scalar(w, s) => scalar(w, *s),
            Tree::List(items, _) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
            Tree::Map(entries, _) => {
                format!(
                    "{{{}}}",
                    entries
                        .iter()
                        .map(|(k, s, v)| format!("{}: {}", scalar(k, *s), flow(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        }
    }

    fn block(tree: &Tree, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match tree {
            Tree::List(items, false) if !items.is_empty() => {
                for item in items {
                    match item {
                        Tree::Scalar(..) | Tree::List(_, true) | Tree::Map(_, true) => {
                            out.push_str(&format!("{pad}- {}\n", flow(item)))
                        }
                        _ => {
                            out.push_str(&format!("{pad}-\n"));
                            block(item, indent + 2, out);
                        }
                    }
                }
            }
            Tree::Map(entries, false) if !entries.is_empty() => {
                for (k, s, v) in entries {
                    match v {
                        Tree::Scalar(..) | Tree::List(_, true) | Tree::Map(_, true) => {
                            out.push_str(&format!("{pad}{}: {}  # note\n", scalar(k, *s), flow(v)))
                        }
                        Tree::List(items, _) if items.is_empty() => out.push_str(&format!("{pad}{}:\n", scalar(k, *s))),
                        _ => {
                            out.push_str(&format!("{pad}{}:\n\n", scalar(k, *s)));
                            block(v, indent + 2, out);
                        }
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", flow(other))),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn fast_path_agrees_with_the_full_parser(tree in tree()) {
            let mut text = String::new();
            block(&tree, 0, &mut text);
            check(&text)?;
        }
    }

    /// Token soup: whatever of it the fast path accepts must agree too.
    fn soup() -> impl Strategy<Value = String> {
        let token = prop::sample::select(vec![
            "a", "b", "53", "true", ": ", ":", "- ", "-", "\n", "\n  ", "\n    ", "[", "]", "{", "}", ", ", ",", "'",
            "\"", "\\", "#", " #", "---", "...", " ", "é", "::1", "a:b", "?x", "-1", "~", "null", "x y", "&a ", "*a",
            "!t ", "|", ">", "?", "<<",
        ]);
        prop::collection::vec(token, 0..40).prop_map(|t| t.concat().replace("\\n", "\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn token_soup_agrees_where_accepted(text in soup()) {
            check(&text)?;
        }
    }

    /// The generated documents must mostly take the fast path, or the agreement above would be
    /// about nothing.
    #[test]
    fn generated_documents_mostly_take_the_fast_path() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = tree();
        let total = 1000;
        let mut accepted = 0;
        for _ in 0..total {
            let mut text = String::new();
            block(&strategy.new_tree(&mut runner).expect("a tree").current(), 0, &mut text);
            if check(&text).expect("agreement") {
                accepted += 1;
            }
        }
        assert!(accepted > total / 4, "only {accepted} of {total} generated documents took the fast path");
    }

    /// The CPU time this thread has used: what the "not quadratic" tests bound, since the wall
    /// clock runs on when other tests share the cores.
    fn cpu_time() -> std::time::Duration {
        nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
            .map_or(std::time::Duration::ZERO, std::time::Duration::from)
    }

    #[test]
    fn long_flow_mappings_are_not_quadratic() {
        // A one-line mapping of 20,000 keys took 12 s (debug): every key was compared with
        // every earlier one.
        let keys: Vec<String> = (0..20_000).map(|i| format!("k{i}: {i}")).collect();
        let text = format!("{{{}}}\n", keys.join(", "));
        let started = cpu_time();
        let value = parse(&text, None, Limits::default()).expect("the fast path takes it");
        let used = cpu_time() - started;
        assert!(used < std::time::Duration::from_secs(2), "{used:?}");
        assert_eq!(value.as_map().unwrap().len(), 20_000);
        // Duplicates are still noticed beyond the first 16 keys.
        let text = format!("{{{}, k19000: again}}\n", keys.join(", "));
        assert!(parse(&text, None, Limits::default()).is_none());
    }

    #[test]
    fn long_non_ascii_lines_are_not_quadratic() {
        // Columns of a non-ASCII line were counted from the line's start for every node:
        // 200,000 items on one line took about 7 s (debug).
        let text = format!("a: [{}]\n", vec!["é"; 200_000].join(", "));
        let started = cpu_time();
        let value = parse(&text, None, Limits::default()).expect("the fast path takes it");
        let used = cpu_time() - started;
        assert!(used < std::time::Duration::from_secs(3), "{used:?}");
        let Kind::List(items) = &value.as_map().unwrap().get("a").unwrap().kind else { panic!("a list") };
        assert_eq!(items[199_999].span.column, 5 + 3 * 199_999);
        // Columns stay right when positions go back on a line and across lines.
        assert!(check("é: [é, {ü: ñ}, 'é é']\nñ: {a: [ü]}\n").unwrap());
    }

    /// Documents written in the usual way (plain keys and values) must take the fast path, or it
    /// would be fast for nothing.
    #[test]
    fn ordinary_documents_take_the_fast_path() {
        let text = "# config\nworkers: 4\nnetwork:\n  listen:\n    - interface: [127.0.0.1@53, '::1@53']\n      kind: dns\ncache:\n  size-max: 100M\n  prefetch: {enabled: true}\n";
        assert!(check(text).unwrap());
    }
}
