// Document integers are 64-bit signed: a literal above `i64::MAX` is an error on the literal,
// also on types the derive does not know by name (it used to wrap around to a negative number).

use schema_core::{Auto, Schema};

#[derive(Schema)]
struct Big {
    #[schema(max = 18446744073709551615)]
    count: u64,
    #[schema(default = 9223372036854775808)]
    workers: Auto<u64>,
}

fn main() {}
