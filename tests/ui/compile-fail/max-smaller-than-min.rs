// Bounds that no value can satisfy.

use schema_core::Schema;

#[derive(Schema)]
struct Listen {
    #[schema(min = 1024, max = 53)]
    port: u16,
    #[schema(min_len = 8, max_len = 4)]
    name: String,
    #[schema(min_items = 2, max_items = 1)]
    addresses: Vec<String>,
}

fn main() {}
