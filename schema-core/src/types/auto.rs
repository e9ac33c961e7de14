//! Generic shapes of config values: `auto` or a value, one value or a list of them.

use serde_json::json;

use crate::json_schema::SchemaGen;
use crate::map::{MapCx, Schema};
use crate::types::builtin::{map_items, strip_article};
use crate::value::{Kind, Value};

/// `"auto"` or a `T`. Pass 2 decides what `auto` means (with a field resolver), e.g.
/// `workers: auto` becomes the CPU count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Auto<T> {
    Auto,
    Value(T),
}

impl<T> Auto<T> {
    /// The explicit value, or what `auto` resolves to.
    pub fn resolve_with(&self, auto: impl FnOnce() -> T) -> T
    where
        T: Clone,
    {
        match self {
            Auto::Auto => auto(),
            Auto::Value(v) => v.clone(),
        }
    }

    pub fn is_auto(&self) -> bool {
        matches!(self, Auto::Auto)
    }
}

impl<T: Schema> Schema for Auto<T> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<Auto<T>> {
        match &value.kind {
            Kind::Str(s) if s == "auto" => Some(Auto::Auto),
            kind if !T::accepts(kind) => {
                cx.mismatch::<Auto<T>>(value);
                None
            }
            _ => T::map(value, cx).map(Auto::Value),
        }
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        json!({"anyOf": [{"const": "auto"}, T::json_schema(generator)]})
    }
    fn to_json(&self) -> serde_json::Value {
        match self {
            Auto::Auto => json!("auto"),
            Auto::Value(v) => v.to_json(),
        }
    }
    fn expecting() -> String {
        format!("\"auto\" or {}", T::expecting())
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::Str(_)) || T::accepts(kind)
    }
}

/// One `T` or a list of them (`interface: lo` or `interface: [lo, eth0]`). Remembers which form
/// was written so the document round-trips.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }

    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v],
            OneOrMany::Many(v) => v,
        }
    }
}

impl<T: Schema> Schema for OneOrMany<T> {
    fn map<'v>(value: &'v Value, cx: &mut MapCx<'v>) -> Option<OneOrMany<T>> {
        match &value.kind {
            Kind::List(items) if !T::accepts(&value.kind) => map_items(items, cx).map(OneOrMany::Many),
            _ => T::map(value, cx).map(OneOrMany::One),
        }
    }
    fn json_schema(generator: &mut SchemaGen) -> serde_json::Value {
        let item = T::json_schema(generator);
        json!({"anyOf": [item.clone(), {"type": "array", "items": item}]})
    }
    fn to_json(&self) -> serde_json::Value {
        match self {
            OneOrMany::One(v) => v.to_json(),
            OneOrMany::Many(v) => serde_json::Value::Array(v.iter().map(T::to_json).collect()),
        }
    }
    fn expecting() -> String {
        let one = T::expecting();
        format!("{one} or a list of {}", strip_article(&one))
    }
    fn accepts(kind: &Kind) -> bool {
        matches!(kind, Kind::List(_)) || T::accepts(kind)
    }
}

impl<T> crate::constraint::ItemsConstraint for OneOrMany<T> {
    fn item_count(&self) -> usize {
        self.as_slice().len()
    }
}
