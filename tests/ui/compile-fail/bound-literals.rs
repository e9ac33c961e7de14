// `min`/`max` literals judged against the field's type when the type is known by name: the
// wrong kind of literal, or a value outside the type's range, is an error on the literal (they
// used to compile and then panic when the document was loaded).

use schema_core::{Duration, Port, Schema, Size};

#[derive(Schema)]
struct Limits {
    #[schema(min = "x")]
    a: u16,
    #[schema(min = -1)]
    b: u16,
    #[schema(min = 1.5)]
    c: u16,
    #[schema(max = 300)]
    d: u8,
    #[schema(min = -129, max = 127)]
    e: Option<i8>,
    #[schema(min = "0.5")]
    ratio: f64,
    #[schema(min = 0)]
    port: Port,
    #[schema(max = 5)]
    size: Size,
    #[schema(min = "10X", max = "1 G")]
    cache: Size,
    #[schema(min = "1m", max = "10s")]
    timeout: Duration,
    #[schema(min = "1024K", max = "1M")]
    equal: Size,
    #[schema(max = "10sec")]
    interval: Option<Duration>,
    #[schema(max = "99999999999999999999G")]
    huge: Size,
}

fn main() {}
