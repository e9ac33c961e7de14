// `resolved` names the struct to generate, which cannot be the struct deriving it.

use schema_core::Schema;

#[derive(Schema)]
#[schema(resolved = Server)]
struct Server {
    workers: u16,
}

fn main() {}
