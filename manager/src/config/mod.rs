//! The configuration model, compatible with Knot Resolver 6's format: one module per top-level
//! section, each defined with the schema DSL (`#[derive(Schema)]`). Pass 1 maps and validates;
//! pass 2 resolves `auto` and computed values and checks what the installed kresd (5.6) can do.
//!
//! The top-level struct that ties the sections together is assembled once every section exists.

pub mod basics;
pub mod cache;
pub mod defer;
pub mod dns64;
pub mod dnssec;
pub mod fallback;
pub mod forward;
pub mod local_data;
pub mod logging;
pub mod lua;
pub mod management;
pub mod monitoring;
pub mod network;
pub mod options;
pub mod rate_limiting;
pub mod views;
