// A keyword from another library (`minimum` is JSON Schema's spelling, `min` is ours): the error
// lists the keywords valid in that place.

use schema_core::Schema;

#[derive(Schema)]
struct Listen {
    #[schema(default = 53, minimum = 1)]
    port: u16,
}

#[derive(Schema)]
#[schema(deny_unknown_fields)]
struct Cache {
    size: u32,
}

fn main() {}
