// serde's `camelCase` is not one of our rules; the error lists the rules.

use schema_core::Schema;

#[derive(Schema)]
#[schema(rename_all = "camelCase")]
struct Cache {
    size_max: u64,
}

fn main() {}
