//! The plan: which changes are hot, rolling or need a service restart (to be written).
