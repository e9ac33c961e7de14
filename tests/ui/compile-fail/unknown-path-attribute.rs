// A keyword written as a path is not one of ours either: the error shows the path.

use schema_core::Schema;

#[derive(Schema)]
struct Listen {
    #[schema(serde::rename = "p")]
    port: u16,
}

fn main() {}
