//! `serde::Serialize` for the generic value types (string-valued types get theirs from
//! [`crate::string_value!`]), so resolved structs, which derive `Serialize`, can hand a config to
//! templates.

use serde::{Serialize, Serializer};

/// A port is a number in documents.
impl Serialize for crate::types::net::Port {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.0)
    }
}

impl<T: Serialize> Serialize for crate::types::auto::Auto<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            crate::types::auto::Auto::Auto => serializer.serialize_str("auto"),
            crate::types::auto::Auto::Value(v) => v.serialize(serializer),
        }
    }
}

/// Always a list: whoever consumes the serialized (resolved) form need not handle both shapes.
/// The document form, which keeps the written shape, is [`Schema::to_json`].
impl<T: Serialize> Serialize for crate::types::auto::OneOrMany<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}
