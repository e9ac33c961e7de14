// `validate` and `resolved` are struct features: an enum resolves to itself.

use schema_core::Schema;

#[derive(Schema)]
#[schema(validate = check_level, resolved = Level)]
enum LogLevel {
    Notice,
    Debug,
}

fn check_level(_: &LogLevel, _: &mut schema_core::Checks) {}

fn main() {}
