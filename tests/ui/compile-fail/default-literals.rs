// A literal `default` judged against the field's type when the type is known by name (inside
// `Option` too): it used to compile and then fail when the default was first used.

use schema_core::{DomainName, Duration, Port, Schema, Size};

#[derive(Schema)]
struct Defaults {
    #[schema(default = "abc")]
    port: u16,
    #[schema(default = 256)]
    small: Option<u8>,
    #[schema(default = 1)]
    enabled: bool,
    #[schema(default = 5)]
    name: String,
    #[schema(default = "5")]
    size: Size,
    #[schema(default = 10)]
    timeout: Duration,
    #[schema(default = 70000)]
    listen: Port,
    #[schema(default = true)]
    ratio: f32,
    #[schema(default = 1.5)]
    zone: DomainName,
    // Right literals: no error.
    #[schema(default = "1024K")]
    ok_size: Size,
    #[schema(default = 2)]
    ok_ratio: f64,
    #[schema(default = "example.com")]
    ok_zone: Option<DomainName>,
}

fn main() {}
