//! Field constraints declared as attributes (`min`, `max`, `min_len`, `max_len`, `pattern`,
//! `min_items`, `max_items`). Each is a trait, so putting one on a type it cannot apply to is a
//! compile error that names the attribute; each check returns the message for the field.

use std::fmt::Display;

use regex::Regex;
use serde_json::{Map, Value as Json, json};

use crate::map::Schema;
use crate::value::quote_for_message;

/// Types that `min`/`max` apply to: numbers, sizes, durations. Bounds compare by value
/// (`1024K == 1M`).
#[diagnostic::on_unimplemented(
    message = "`min`/`max` do not apply to `{Self}`",
    label = "`min`/`max` apply to numbers, sizes and durations",
    note = "implement `schema_core::constraint::RangeConstraint` for `{Self}` to allow it"
)]
pub trait RangeConstraint: Schema + PartialOrd + Display {
    /// Adds the JSON Schema keywords expressing the bounds, where JSON Schema can express them.
    fn range_schema(schema: &mut Map<String, Json>, min: Option<&Self>, max: Option<&Self>);
}

/// Types that `min_len`/`max_len`/`pattern` apply to: strings.
#[diagnostic::on_unimplemented(
    message = "`min_len`/`max_len`/`pattern` do not apply to `{Self}`",
    label = "string constraints apply to strings only"
)]
pub trait TextConstraint {
    fn text(&self) -> &str;
}

impl TextConstraint for String {
    fn text(&self) -> &str {
        self
    }
}

/// Types that `min_items`/`max_items` apply to: lists and maps.
#[diagnostic::on_unimplemented(
    message = "`min_items`/`max_items` do not apply to `{Self}`",
    label = "item-count constraints apply to lists and mappings"
)]
pub trait ItemsConstraint {
    fn item_count(&self) -> usize;
    /// JSON Schema keywords for the count (`minItems` or `minProperties`).
    fn count_keywords() -> (&'static str, &'static str) {
        ("minItems", "maxItems")
    }
}

impl<T> ItemsConstraint for Vec<T> {
    fn item_count(&self) -> usize {
        self.len()
    }
}

impl<K, V> ItemsConstraint for std::collections::BTreeMap<K, V> {
    fn item_count(&self) -> usize {
        self.len()
    }
    fn count_keywords() -> (&'static str, &'static str) {
        ("minProperties", "maxProperties")
    }
}

/// Builds a bound from the literal written in the attribute, using the type's own parser
/// (`min = "10M"` on a size). A literal the type rejects is a bug in the schema definition.
pub fn bound<T: Schema>(literal: Json) -> T {
    let value = crate::value::Value::from_json(&literal);
    let mut cx = crate::map::MapCx::new();
    match T::map(&value, &mut cx) {
        Some(bound) => bound,
        None => panic!("invalid bound {literal} in a #[schema] attribute: {}", cx.into_report()),
    }
}

pub fn check_range<T: RangeConstraint>(value: &T, min: Option<&T>, max: Option<&T>) -> Result<(), String> {
    let below = min.is_some_and(|min| value < min);
    let above = max.is_some_and(|max| value > max);
    if !(below || above) {
        return Ok(());
    }
    Err(match (min, max) {
        (Some(min), Some(max)) => format!("{value} is out of range {min}..={max}"),
        (Some(min), None) => format!("{value} is less than the minimum {min}"),
        (None, Some(max)) => format!("{value} is greater than the maximum {max}"),
        (None, None) => unreachable!("a bound was exceeded"),
    })
}

pub fn check_len<T: TextConstraint>(value: &T, min: Option<usize>, max: Option<usize>) -> Result<(), String> {
    let len = value.text().chars().count();
    if min.is_some_and(|min| len < min) {
        return Err(format!("{} is shorter than {} characters", quote_for_message(value.text()), min.unwrap_or(0)));
    }
    if max.is_some_and(|max| len > max) {
        return Err(format!("{} is longer than {} characters", quote_for_message(value.text()), max.unwrap_or(0)));
    }
    Ok(())
}

/// Checks `pattern` the way JSON Schema does: the regex is searched, not anchored, so write
/// `^…$` to match the whole string.
pub fn check_pattern<T: TextConstraint>(value: &T, regex: &Regex) -> Result<(), String> {
    if regex.is_match(value.text()) {
        Ok(())
    } else {
        Err(format!("{} does not match the pattern {}", quote_for_message(value.text()), regex.as_str()))
    }
}

pub fn check_items<T: ItemsConstraint>(value: &T, min: Option<usize>, max: Option<usize>) -> Result<(), String> {
    let count = value.item_count();
    if min.is_some_and(|min| count < min) {
        return Err(format!("has {count} items, at least {} required", min.unwrap_or(0)));
    }
    if max.is_some_and(|max| count > max) {
        return Err(format!("has {count} items, at most {} allowed", max.unwrap_or(0)));
    }
    Ok(())
}

/// Adds constraint keywords to a field's schema. When the field's schema is a reference or a
/// combination, the keywords go into an `allOf` beside it so they still apply.
pub fn add_keywords(schema: &mut Json, keywords: Map<String, Json>) {
    if keywords.is_empty() {
        return;
    }
    // Optional fields are `anyOf: [T, null]`: constrain the T branch.
    if let Some(branches) = schema.get_mut("anyOf").and_then(Json::as_array_mut)
        && branches.len() == 2
        && branches[1] == json!({"type": "null"})
    {
        add_keywords(&mut branches[0], keywords);
        return;
    }
    if let Some(object) = schema.as_object_mut()
        && !object.contains_key("$ref")
        && !object.contains_key("anyOf")
    {
        object.extend(keywords);
        return;
    }
    let inner = std::mem::take(schema);
    *schema = json!({"allOf": [inner, Json::Object(keywords)]});
}

pub fn range_keywords<T: RangeConstraint>(min: Option<&T>, max: Option<&T>) -> Map<String, Json> {
    let mut keywords = Map::new();
    T::range_schema(&mut keywords, min, max);
    keywords
}

pub fn len_keywords(min: Option<usize>, max: Option<usize>) -> Map<String, Json> {
    let mut keywords = Map::new();
    if let Some(min) = min {
        keywords.insert("minLength".into(), json!(min));
    }
    if let Some(max) = max {
        keywords.insert("maxLength".into(), json!(max));
    }
    keywords
}

pub fn pattern_keywords(pattern: &str) -> Map<String, Json> {
    let mut keywords = Map::new();
    keywords.insert("pattern".into(), json!(pattern));
    keywords
}

pub fn items_keywords<T: ItemsConstraint>(min: Option<usize>, max: Option<usize>) -> Map<String, Json> {
    let (min_key, max_key) = T::count_keywords();
    let mut keywords = Map::new();
    if let Some(min) = min {
        keywords.insert(min_key.into(), json!(min));
    }
    if let Some(max) = max {
        keywords.insert(max_key.into(), json!(max));
    }
    keywords
}
