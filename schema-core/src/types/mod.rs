//! The value types a config is made of.

/// Implements `Schema`, `FromStr`, `Serialize` and (unless `custom_resolve` is given) an
/// identity `Resolve` for a type written in documents as a string: parsed by its
/// `parse(&str) -> Result<Self, String>`, written back with `Display`. `title` names the type in
/// the JSON Schema and the reference docs, `expecting` in error messages, `pattern` is the JSON
/// Schema pattern that accepts exactly what `parse` accepts.
///
/// ```
/// use std::fmt;
///
/// /// A lowercase word.
/// #[derive(Clone, Debug, PartialEq)]
/// pub struct Word(String);
///
/// impl Word {
///     pub fn parse(text: &str) -> Result<Word, String> {
///         if !text.is_empty() && text.bytes().all(|b| b.is_ascii_lowercase()) {
///             Ok(Word(text.to_owned()))
///         } else {
///             Err(format!("{text:?} is not a lowercase word"))
///         }
///     }
/// }
///
/// impl fmt::Display for Word {
///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
///         f.write_str(&self.0)
///     }
/// }
///
/// schema_core::string_value!(Word, title: "word", expecting: "a lowercase word", pattern: "^[a-z]+$");
///
/// let word: Word = schema_core::load("hello", None).unwrap();
/// assert_eq!(word, Word("hello".into()));
/// ```
#[macro_export]
macro_rules! string_value {
    ($name:ty, title: $title:expr, expecting: $expecting:expr, pattern: $pattern:expr) => {
        $crate::string_value!($name, title: $title, expecting: $expecting, pattern: $pattern, custom_resolve);

        impl $crate::Resolve for $name {
            type Output = $name;
            fn resolve(&self, _: &mut $crate::ResolveCx<'_>) -> ::core::option::Option<$name> {
                ::core::option::Option::Some(::core::clone::Clone::clone(self))
            }
        }
    };
    ($name:ty, title: $title:expr, expecting: $expecting:expr, pattern: $pattern:expr, custom_resolve) => {
        impl $crate::Schema for $name {
            fn map<'v>(value: &'v $crate::Value, cx: &mut $crate::MapCx<'v>) -> ::core::option::Option<$name> {
                match &value.kind {
                    $crate::Kind::Str(s) => {
                        <$name>::parse(s).map_err(|message| cx.error(&value.span, message)).ok()
                    }
                    _ => {
                        cx.mismatch::<$name>(value);
                        ::core::option::Option::None
                    }
                }
            }
            fn json_schema(_: &mut $crate::json_schema::SchemaGen) -> $crate::__private::serde_json::Value {
                $crate::__private::serde_json::json!({"type": "string", "pattern": $pattern, "title": $title})
            }
            fn to_json(&self) -> $crate::__private::serde_json::Value {
                $crate::__private::serde_json::Value::String(::std::string::ToString::to_string(self))
            }
            fn expecting() -> ::std::string::String {
                ::std::string::String::from($expecting)
            }
            fn accepts(kind: &$crate::Kind) -> bool {
                ::core::matches!(kind, $crate::Kind::Str(_))
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::string::String;
            fn from_str(s: &str) -> ::core::result::Result<$name, ::std::string::String> {
                <$name>::parse(s)
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self)
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
