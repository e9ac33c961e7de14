// Generic sections are not supported; the error is on the generics, and it is the only one: the
// error-path stub impls carry the type's generics.

use schema_core::Schema;

#[derive(Schema)]
struct Section<T> {
    value: T,
}

fn main() {}
