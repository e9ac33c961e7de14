//! The value types a config is made of.

/// Implements `Schema` and `FromStr` for a type written in documents as a string: parsed by its
/// `parse(&str) -> Result<Self, String>`, written back with `Display`. `title` names the type in
/// the JSON Schema and the reference docs, `expecting` in error messages.
macro_rules! parsed_from_string {
    ($name:ty, title: $title:expr, expecting: $expecting:expr, pattern: $pattern:expr) => {
        impl crate::map::Schema for $name {
            fn map<'v>(value: &'v crate::value::Value, cx: &mut crate::map::MapCx<'v>) -> Option<$name> {
                match &value.kind {
                    crate::value::Kind::Str(s) => {
                        <$name>::parse(s).map_err(|message| cx.error(&value.span, message)).ok()
                    }
                    _ => {
                        cx.mismatch::<$name>(value);
                        None
                    }
                }
            }
            fn json_schema(_: &mut crate::json_schema::SchemaGen) -> serde_json::Value {
                serde_json::json!({"type": "string", "pattern": $pattern, "title": $title})
            }
            fn to_json(&self) -> serde_json::Value {
                serde_json::Value::String(self.to_string())
            }
            fn expecting() -> String {
                String::from($expecting)
            }
            fn accepts(kind: &crate::value::Kind) -> bool {
                matches!(kind, crate::value::Kind::Str(_))
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<$name, String> {
                <$name>::parse(s)
            }
        }
    };
}

pub mod auto;
pub mod builtin;
pub mod net;
pub mod paths;
pub mod serialize;
pub mod units;
