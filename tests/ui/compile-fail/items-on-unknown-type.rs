// `min_items`/`max_items` and `min_len`/`pattern` on types the derive cannot judge by name: the
// trait bound in the generated code reports each misuse once per field, on its first keyword.

use schema_core::Schema;

#[derive(Schema, Debug, Clone, PartialEq)]
struct Tags {
    items: Vec<String>,
}

#[derive(Schema)]
struct Section {
    #[schema(min_items = 1, max_items = 3)]
    tags: Tags,
    #[schema(min_len = 1, pattern = "^[a-z]+$")]
    name: Tags,
}

fn main() {}
