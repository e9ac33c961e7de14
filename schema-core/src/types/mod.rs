//! The value types a config is made of.

pub mod auto;
pub mod builtin;
pub mod net;
pub mod paths;
pub mod serialize;
pub mod units;
