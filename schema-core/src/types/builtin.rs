//! [`Schema`] for Rust's own types: strict booleans, integers and floats with their natural
//! ranges, strings, `Option`, `Vec` and string-keyed maps.

use std::collections::BTreeMap;

use serde_json::json;

use crate::json_schema::SchemaGen;
use crate::map::{MapCx, PathStep, Schema};
use crate::value::{Kind, Value, quote_for_message};

impl Schema for bool {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<bool> {
        match &value.kind {
            Kind::Bool(b) => Some(*b),
            Kind::Str(s) if is_yaml11_bool(s) => {
                cx.error(
                    &value.span,
                    format!(
                        "expected a boolean (true or false), found the string {}; YAML 1.1 words such as yes/no/on/off are not booleans here",
                        quote_for_message(s)
                    ),
                );
                None
            }
            _ => {
                cx.mismatch::<bool>(value);
                None
            }
        }
    }
    fn json_schema(_: &mut SchemaGen) -> serde_json::Value {
        json!({"type": "boolean"})
    }
    fn to_json(&self) -> serde_json::Value {
        json!(self)
    }
    fn expecting() -> String {
        "a boolean (true or false)".into()
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Bool(_))
    }
}

fn is_yaml11_bool(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "on" | "off" | "y" | "n")
}

macro_rules! integer_schema {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<$t> {
                match &value.kind {
                    Kind::Int(i) => match <$t>::try_from(*i) {
                        Ok(v) => Some(v),
                        Err(_) => {
                            cx.error(&value.span, format!("{i} is out of range {}..={}", <$t>::MIN, <$t>::MAX));
                            None
                        }
                    },
                    // JSON has one number type: `3.0` is the integer 3 (as in JSON Schema).
                    Kind::Float(x) if x.fract() == 0.0 && x.is_finite() => {
                        let i = *x as i64;
                        match <$t>::try_from(i) {
                            Ok(v) if i as f64 == *x => Some(v),
                            _ => {
                                cx.error(&value.span, format!("{x} is out of range {}..={}", <$t>::MIN, <$t>::MAX));
                                None
                            }
                        }
                    }
                    _ => {
                        cx.mismatch::<$t>(value);
                        None
                    }
                }
            }
            fn json_schema(_: &mut SchemaGen) -> serde_json::Value {
                json!({"type": "integer", "minimum": <$t>::MIN, "maximum": <$t>::MAX})
            }
            fn to_json(&self) -> serde_json::Value {
                json!(self)
            }
            fn expecting() -> String {
                "an integer".into()
            }
            fn accepts(kind: &Kind) -> bool {
                matches!(kind, Kind::Int(_)) || matches!(kind, Kind::Float(x) if x.fract() == 0.0)
            }
        }
        impl crate::constraint::RangeConstraint for $t {
            fn range_schema(schema: &mut serde_json::Map<String, serde_json::Value>, min: Option<&Self>, max: Option<&Self>) {
                if let Some(min) = min { schema.insert("minimum".into(), json!(min)); }
                if let Some(max) = max { schema.insert("maximum".into(), json!(max)); }
            }
        }
    )*};
}

integer_schema!(i8, i16, i32, i64, u8, u16, u32, u64, usize);

macro_rules! float_schema {
    ($($t:ty),*) => {$(
        impl Schema for $t {
            fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<$t> {
                match &value.kind {
                    Kind::Float(x) if x.is_finite() => Some(*x as $t),
                    Kind::Float(x) => {
                        cx.error(&value.span, format!("{x} is not a finite number"));
                        None
                    }
                    Kind::Int(i) => Some(*i as $t),
                    _ => {
                        cx.mismatch::<$t>(value);
                        None
                    }
                }
            }
            fn json_schema(_: &mut SchemaGen) -> serde_json::Value {
                json!({"type": "number"})
            }
            fn to_json(&self) -> serde_json::Value {
                serde_json::Number::from_f64(f64::from(*self)).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            fn expecting() -> String {
                "a number".into()
            }
            fn accepts(kind: &Kind) -> bool {
                matches!(kind, Kind::Int(_) | Kind::Float(_))
            }
        }
        impl crate::constraint::RangeConstraint for $t {
            fn range_schema(schema: &mut serde_json::Map<String, serde_json::Value>, min: Option<&Self>, max: Option<&Self>) {
                if let Some(min) = min { schema.insert("minimum".into(), json!(min)); }
                if let Some(max) = max { schema.insert("maximum".into(), json!(max)); }
            }
        }
    )*};
}

float_schema!(f32, f64);

impl Schema for String {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<String> {
        match &value.kind {
            Kind::Str(s) => Some(s.to_string()),
            _ => {
                cx.mismatch::<String>(value);
                None
            }
        }
    }
    fn json_schema(_: &mut SchemaGen) -> serde_json::Value {
        json!({"type": "string"})
    }
    fn to_json(&self) -> serde_json::Value {
        json!(self)
    }
    fn expecting() -> String {
        "a string".into()
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Str(_))
    }
}

impl<T: Schema> Schema for Option<T> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Option<T>> {
        match &value.kind {
            Kind::Null => Some(None),
            _ => T::map(value, cx).map(Some),
        }
    }
    fn when_missing() -> Option<Self> {
        Some(None)
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        json!({"anyOf": [T::json_schema(generator), {"type": "null"}]})
    }
    fn to_json(&self) -> serde_json::Value {
        self.as_ref().map_or(serde_json::Value::Null, T::to_json)
    }
    fn expecting() -> String {
        format!("{} or null", T::expecting())
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Null) || T::accepts(kind)
    }
}

impl<T: Schema> Schema for Vec<T> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Vec<T>> {
        let Kind::List(items) = &value.kind else {
            cx.mismatch::<Vec<T>>(value);
            return None;
        };
        map_items(items, cx)
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        json!({"type": "array", "items": T::json_schema(generator)})
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.iter().map(T::to_json).collect())
    }
    fn expecting() -> String {
        format!("a list of {}", strip_article(&T::expecting()))
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::List(_))
    }
}

/// Maps every item (all of them, even after a failure, to report every problem).
pub(crate) fn map_items<'v, T: Schema>(items: &'v [Value], cx: &mut MapCx<'v>) -> Option<Vec<T>> {
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match cx.at(PathStep::Index(i), |cx| T::map(item, cx)) {
            Some(v) if ok => out.push(v),
            Some(_) => {}
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// "an integer" → "integer", for composing "a list of integers"-style descriptions.
pub(crate) fn strip_article(text: &str) -> &str {
    text.strip_prefix("a ").or_else(|| text.strip_prefix("an ")).unwrap_or(text)
}

/// A map key type: parsed from the key string, written back as one.
pub trait KeySchema: Sized + Ord {
    fn parse_key(key: &str) -> Result<Self, String>;
    fn key_string(&self) -> String;
    /// JSON Schema for `propertyNames`.
    fn key_schema() -> serde_json::Value {
        json!({"type": "string"})
    }
}

impl KeySchema for String {
    fn parse_key(key: &str) -> Result<String, String> {
        Ok(key.to_owned())
    }
    fn key_string(&self) -> String {
        self.clone()
    }
}

impl<K: KeySchema, V: Schema> Schema for BTreeMap<K, V> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<BTreeMap<K, V>> {
        let Kind::Map(map) = &value.kind else {
            cx.mismatch::<BTreeMap<K, V>>(value);
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (key, item) in &map.entries {
            cx.at(PathStep::Key(&key.name), |cx| {
                let parsed =
                    K::parse_key(&key.name).map_err(|message| cx.error(&key.span, format!("invalid key: {message}")));
                let mapped = V::map(item, cx);
                match (parsed, mapped) {
                    (Ok(k), Some(v)) => {
                        out.insert(k, v);
                    }
                    _ => ok = false,
                }
            });
        }
        ok.then_some(out)
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        let mut schema = json!({"type": "object", "additionalProperties": V::json_schema(generator)});
        let names = K::key_schema();
        if names != json!({"type": "string"}) {
            schema["propertyNames"] = names;
        }
        schema
    }
    fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.iter().map(|(k, v)| (k.key_string(), v.to_json())).collect())
    }
    fn expecting() -> String {
        format!("a mapping of names to {}", strip_article(&V::expecting()))
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Map(_))
    }
}

impl<T: Schema> Schema for Box<T> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Box<T>> {
        T::map(value, cx).map(Box::new)
    }
    fn when_missing() -> Option<Self> {
        T::when_missing().map(Box::new)
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        T::json_schema(generator)
    }
    fn to_json(&self) -> serde_json::Value {
        T::to_json(self)
    }
    fn expecting() -> String {
        T::expecting()
    }
    fn accepts(kind: &Kind) -> bool {
        T::accepts(kind)
    }
}

/// The message for a string that is none of the allowed names, with a suggestion when one is
/// close.
pub fn unknown_choice(found: &str, names: &[&str]) -> String {
    let listed = names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    match crate::report::suggest(found, names.iter().copied()) {
        Some(close) => format!("{} is not one of {listed}; did you mean \"{close}\"?", quote_for_message(found)),
        None => format!("{} is not one of {listed}", quote_for_message(found)),
    }
}
