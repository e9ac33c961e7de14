// A config section is a mapping of keys: tuple and unit structs cannot derive Schema.

use schema_core::Schema;

#[derive(Schema)]
struct Port(u16);

#[derive(Schema)]
struct Nothing;

fn main() {}
