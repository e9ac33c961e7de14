// Two fields mapped from the same key: one by `rename`, one by the default kebab-case.

use schema_core::Schema;

#[derive(Schema)]
struct Cache {
    size_max: u64,
    #[schema(rename = "size-max")]
    max_size: u64,
}

fn main() {}
