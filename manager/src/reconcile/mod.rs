//! Keeping the running workers equal to the config: the plan (a pure function from the running
//! config and a new one to what must be done) and the apply pipeline that executes it.

pub mod apply;
pub mod drain;
pub mod plan;
pub mod reload;
pub mod store;
pub mod task;
