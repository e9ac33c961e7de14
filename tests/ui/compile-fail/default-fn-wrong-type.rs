// A default function returning the wrong type: one error, on the function's path.

use schema_core::Schema;

#[derive(Schema)]
struct Listen {
    #[schema(default = default_name)]
    port: u16,
}

fn default_name() -> String {
    "main".to_owned()
}

fn main() {}
