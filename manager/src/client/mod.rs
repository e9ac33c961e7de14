//! kresctl's online commands: the HTTP client of the management API (to be written).
