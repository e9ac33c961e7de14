// The same keyword twice on one field, in one attribute or across two: the second is reported.

use schema_core::Schema;

#[derive(Schema)]
struct Cache {
    #[schema(default = "100M")]
    #[schema(min = "1M", default = "1G")]
    size_max: schema_core::Size,
    #[schema(max = 10, max = 20)]
    retries: u8,
}

fn main() {}
