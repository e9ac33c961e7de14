//! The runtime of kres-manager's schema DSL. It knows nothing about DNS.
//!
//! # Theory of operation
//!
//! Input (a YAML or JSON file, or an API body) is parsed into a [`Value`] tree in which every node
//! carries its [`Span`] (file, line, column). Types implementing [`Schema`] (most of them through
//! `#[derive(Schema)]`) map that tree in **pass 1**: pure, no I/O, collecting every problem in a
//! [`Report`] instead of stopping at the first one; each problem names its place with an RFC 6901
//! [`Pointer`] and, when known, its source position. **Pass 2** ([`Resolve`]) turns the mapped
//! ("raw") value into its resolved form; it is the only place where facts about the machine enter,
//! through the [`System`] trait that tests fake.
//!
//! From the same type definitions come the JSON Schema ([`json_schema::schema_for`]) and the
//! Markdown reference ([`docs::markdown`]), so validator, schema and docs cannot disagree.
//!
//! ```
//! use schema_core::{Schema, Size, load};
//!
//! /// The cache.
//! #[derive(Schema, Debug, PartialEq)]
//! struct Cache {
//!     /// Largest size of the cache.
//!     #[schema(default = "100M", min = "1M")]
//!     size_max: Size,
//! }
//!
//! let cache: Cache = load("size-max: 1024K", Some("c.yaml")).unwrap();
//! assert_eq!(cache.size_max, Size::parse("1M").unwrap());
//! let report = load::<Cache>("size-mux: 1G", Some("c.yaml")).unwrap_err();
//! assert_eq!(report.to_string(), "/size-mux: unknown key `size-mux`; did you mean `size-max`? (at c.yaml:1:1)");
//! ```

pub mod constraint;
pub mod docs;
pub mod json;
pub mod json_schema;
pub mod map;
pub mod pointer;
pub mod report;
pub mod resolve;
pub mod types;
pub mod value;
pub mod yaml;

pub use map::{Checks, MapCx, PathStep, Schema, map_document};
pub use pointer::{Pointer, Segment};
pub use report::{Level, Problem, Report};
pub use resolve::{
    FakeSystem, FileKind, RealSystem, Resolve, ResolveCx, ResolveOptions, System, Version, resolve_document,
};
pub use schema_derive::Schema;
pub use types::auto::{Auto, OneOrMany};
pub use types::builtin::KeySchema;
pub use types::net::{AddrPort, DomainName, InterfacePort, InterfaceTarget, IpAddrExact, IpNet, Port};
pub use types::paths::{DirPath, FilePath};
pub use types::units::{Duration, Size};
pub use value::{FileId, Kind, Span, Value};

/// The syntax of a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// From a file name: `.json` is JSON, anything else YAML (which also reads JSON).
    pub fn from_path(path: &str) -> Format {
        if path.ends_with(".json") { Format::Json } else { Format::Yaml }
    }

    /// From an HTTP `Content-Type`: JSON for `application/json` and `+json` types, YAML for
    /// YAML types; `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" | "text/json" => Some(Format::Json),
            e if e.ends_with("+json") => Some(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// Parses a document of the given format into a [`Value`] tree.
pub fn parse(text: &str, file: Option<&str>, format: Format) -> Result<Value, Report> {
    match format {
        Format::Yaml => yaml::parse(text, file),
        Format::Json => json::parse(text, file),
    }
}

/// Parses (YAML, or JSON by `.json` file name) and maps a document in one call (pass 1 only).
pub fn load<T: Schema>(text: &str, file: Option<&str>) -> Result<T, Report> {
    let format = file.map_or(Format::Yaml, Format::from_path);
    let value = parse(text, file, format)?;
    map_document(&value)
}

#[doc(hidden)]
pub mod __private {
    pub use regex::Regex;
    pub use serde;
    pub use serde_json;
    pub use std::sync::OnceLock;
}
