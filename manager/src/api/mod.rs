//! The management HTTP API (to be written).
