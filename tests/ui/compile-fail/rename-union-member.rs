// A union member (a variant wrapping a type) is matched by its type, never by a name, so a
// `rename` on it would be silently ignored.

use schema_core::{AddrPort, Schema};

#[derive(Schema)]
enum Upstream {
    #[schema(rename = "sys")]
    System,
    #[schema(rename = "address")]
    Address(AddrPort),
}

fn main() {}
