//! RFC 6901 JSON pointers: the one way every part of the project names a place in a config
//! (`/network/listen/0/port`). `~` is written `~0` and `/` is written `~1`.

use std::fmt;

use crate::value::{Kind, Value};

/// One step of a pointer: a mapping key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed JSON pointer. The empty pointer names the whole document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pointer(pub Vec<Segment>);

/// Why a string is not a JSON pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointerSyntaxError(pub String);

impl fmt::Display for PointerSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PointerSyntaxError {}

impl Pointer {
    pub fn root() -> Pointer {
        Pointer(Vec::new())
    }

    /// Parses `""`, `"/a/0/b~1c"`. Segments made only of digits are kept as keys here and
    /// interpreted as indices when they meet a list; `parse` cannot know which they are.
    pub fn parse(text: &str) -> Result<Pointer, PointerSyntaxError> {
        if text.is_empty() {
            return Ok(Pointer::root());
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerSyntaxError(format!(
                "a JSON pointer must be empty or start with '/', got {}",
                crate::value::quote_for_message(text)
            )));
        };
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            segments.push(Segment::Key(unescape(raw)?));
        }
        Ok(Pointer(segments))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn child(&self, segment: Segment) -> Pointer {
        let mut segments = self.0.clone();
        segments.push(segment);
        Pointer(segments)
    }

    pub fn key(&self, key: &str) -> Pointer {
        self.child(Segment::Key(key.to_owned()))
    }

    pub fn index(&self, index: usize) -> Pointer {
        self.child(Segment::Index(index))
    }

    pub fn join(&self, other: &Pointer) -> Pointer {
        let mut segments = self.0.clone();
        segments.extend(other.0.iter().cloned());
        Pointer(segments)
    }

    pub fn parent(&self) -> Option<Pointer> {
        let mut segments = self.0.clone();
        segments.pop()?;
        Some(Pointer(segments))
    }

    pub fn last(&self) -> Option<&Segment> {
        self.0.last()
    }

    /// True when `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &Pointer) -> bool {
        self.0.len() >= other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.to_string() == b.to_string())
    }

    /// The node this pointer names inside `value`, if any.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut node = value;
        for segment in &self.0 {
            node = match (&node.kind, segment) {
                (Kind::Map(map), seg) => map.get(&seg.to_string())?,
                (Kind::List(items), Segment::Index(i)) => items.get(*i)?,
                (Kind::List(items), Segment::Key(k)) => items.get(parse_index(k)?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The deepest node on the way to this pointer: where to point when the pointer itself names
    /// something missing.
    pub fn nearest<'v>(&self, value: &'v Value) -> &'v Value {
        let mut node = value;
        for len in 1..=self.0.len() {
            match Pointer(self.0[..len].to_vec()).lookup(value) {
                Some(found) => node = found,
                None => break,
            }
        }
        node
    }
}

/// A list index as RFC 6901 allows it: digits, no leading zero.
pub fn parse_index(segment: &str) -> Option<usize> {
    if segment.is_empty() || (segment.len() > 1 && segment.starts_with('0')) {
        return None;
    }
    if !segment.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    segment.parse().ok()
}

fn unescape(raw: &str) -> Result<String, PointerSyntaxError> {
    if !raw.contains('~') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => {
                    return Err(PointerSyntaxError(format!(
                        "'~' in a JSON pointer must be followed by 0 or 1 (in segment {})",
                        crate::value::quote_for_message(raw)
                    )));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Writes one segment with `~0`/`~1` escaping.
pub fn escape_into(out: &mut impl fmt::Write, segment: &str) -> fmt::Result {
    for c in segment.chars() {
        match c {
            '~' => out.write_str("~0")?,
            '/' => out.write_str("~1")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(k) => f.write_str(k),
            Segment::Index(i) => write!(f, "{i}"),
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.0 {
            f.write_str("/")?;
            match segment {
                Segment::Key(k) => escape_into(f, k)?,
                Segment::Index(i) => write!(f, "{i}")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Pointer {
    type Err = PointerSyntaxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Pointer::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        let p = Pointer::parse("/a~1b/c~0d/0").unwrap();
        assert_eq!(p.0[0], Segment::Key("a/b".into()));
        assert_eq!(p.0[1], Segment::Key("c~d".into()));
        assert_eq!(p.to_string(), "/a~1b/c~0d/0");
    }

    #[test]
    fn rejects_bad_pointers() {
        assert!(Pointer::parse("a/b").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("/a~").is_err());
    }

    #[test]
    fn index_rules() {
        assert_eq!(parse_index("0"), Some(0));
        assert_eq!(parse_index("12"), Some(12));
        assert_eq!(parse_index("01"), None);
        assert_eq!(parse_index("-"), None);
    }
}
