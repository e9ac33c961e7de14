// `min`/`max` on types the derive cannot judge by name (a user enum, a user list type): the
// trait bound in the generated code reports it through `#[diagnostic::on_unimplemented]`, with a
// message naming the attributes and the type, once per field (though both the check in `map`
// and the JSON Schema keywords need the bound), on the `min`/`max` keyword.

use schema_core::Schema;

#[derive(Schema, Debug, Clone, Copy, PartialEq, PartialOrd)]
enum LogLevel {
    Crit,
    Notice,
    Debug,
}

#[derive(Schema, Debug, Clone, PartialEq)]
struct Tags {
    items: Vec<String>,
}

#[derive(Schema)]
struct Logging {
    #[schema(min = "notice")]
    level: LogLevel,
    #[schema(max = 3)]
    tags: Tags,
}

fn main() {}
