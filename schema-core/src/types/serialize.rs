//! `serde::Serialize` for the value types, as their document form, so resolved structs (which
//! derive `Serialize`) can hand a config to templates.

use serde::{Serialize, Serializer};

use crate::map::Schema;

macro_rules! serialize_as_document {
    ($($t:ty),* $(,)?) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                Schema::to_json(self).serialize(serializer)
            }
        }
    )*};
}

serialize_as_document!(
    crate::types::units::Size,
    crate::types::units::Duration,
    crate::types::net::Port,
    crate::types::net::IpNet,
    crate::types::net::AddrPort,
    crate::types::net::InterfacePort,
    crate::types::net::DomainName,
    crate::types::paths::FilePath,
    crate::types::paths::DirPath,
);

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
