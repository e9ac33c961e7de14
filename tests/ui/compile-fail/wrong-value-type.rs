// Attribute values of the wrong kind: a length must be an integer literal, a rename a string.

use schema_core::Schema;

#[derive(Schema)]
struct Server {
    #[schema(min_len = "x")]
    name: String,
    #[schema(rename = id)]
    identifier: u32,
    #[schema(max_items = -1)]
    tags: Vec<String>,
}

fn main() {}
