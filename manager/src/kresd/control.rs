//! The kresd control-socket client (to be written).
