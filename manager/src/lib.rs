//! kres-manager: keeps a set of Knot Resolver (kresd) workers equal to one declarative config.
//!
//! # Theory of operation
//!
//! A config file (YAML or JSON) is parsed and mapped by the schema DSL (`schema-core`) into a raw
//! config (pass 1, pure), then resolved against the machine (pass 2: CPU count, hostname, the
//! installed kresd version). The resolved config is rendered into kresd Lua, and a reconcile task
//! drives supervisord so the running workers match it. See `docs/architecture.md`.
//!
//! This crate is at its first stage: the binaries exist and answer `--help` and `--version`; the
//! config model, rendering and orchestration arrive with the issues that build them.

pub mod api;
pub mod backend;
pub mod client;
pub mod config;
pub mod daemon;
pub mod kresd;
pub mod reconcile;
pub mod render;

/// The version of kres-manager, as shown by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
