// String constraints on a number type the derive knows by name: reported syntactically, on the
// keyword, naming the type. Item counts on a string likewise.

use schema_core::Schema;

#[derive(Schema)]
struct Listen {
    #[schema(pattern = "^[0-9]+$")]
    port: u16,
    #[schema(min_len = 1, max_len = 5)]
    weight: Option<u32>,
    #[schema(min_items = 1)]
    name: String,
}

fn main() {}
