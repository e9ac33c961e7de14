//! kres-manager: keeps a set of Knot Resolver (kresd) workers equal to one declarative config.
//!
//! # Theory of operation
//!
//! A config file (YAML or JSON) is parsed and mapped by the schema DSL (`schema-core`) into a raw
//! config (pass 1, pure), then resolved against the machine (pass 2: CPU count, hostname, the
//! installed kresd version). The resolved config is rendered into kresd Lua, and a reconcile task
//! drives supervisord so the running workers match it. See `docs/architecture.md`.
//!
//! Modules: `config` (the model, loading, JSON Patch), `render` (Lua), `reconcile` (the plan and
//! the task that applies it), `backend` (supervisord), `kresd` (control socket, stats), `daemon`
//! (service start, the supervised manager, the config store, file watching), `api` (HTTP),
//! `client` (kresctl's online commands).

pub mod api;
pub mod backend;
pub mod client;
pub mod config;
pub mod daemon;
pub mod kresd;
pub mod layout;
pub mod procfs;
pub mod reconcile;

/// The version of kres-manager, as shown by `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
