//! Shared fixtures for the workspace's cross-crate tests (in `tests/tests/`), and the home of the
//! doc tests of `docs/schema-dsl.md` (included below so its examples are compiled and run).

pub mod agree;
pub mod demo;
pub mod http;
pub mod knotd;
pub mod kresd;
pub mod service;
pub mod soak;
pub mod stream;

#[doc = include_str!("../../docs/schema-dsl.md")]
#[allow(rustdoc::broken_intra_doc_links)]
pub mod schema_dsl_guide {}
