// A Schema enum's variants are string constants (unit) or union members (one wrapped type).

use schema_core::Schema;

#[derive(Schema)]
enum Upstream {
    System,
    Pair(String, u16),
    Named { address: String, port: u16 },
}

fn main() {}
