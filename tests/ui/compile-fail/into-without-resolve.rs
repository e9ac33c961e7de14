// `into` changes the type of the field in the resolved struct, which only a resolver can produce.

use schema_core::{Auto, Schema};

#[derive(Schema)]
#[schema(resolved = Server)]
struct ServerRaw {
    #[schema(default = "auto", into = u16)]
    workers: Auto<u16>,
}

fn main() {}
