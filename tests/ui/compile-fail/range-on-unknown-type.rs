// `min`/`max` on types the derive cannot judge by name (a user enum, a user list type): the
// trait bound in the generated code reports it through `#[diagnostic::on_unimplemented]`, with a
// message naming the attributes and the type.
//
// KNOWN DEFECT pinned by the .stderr: each misuse is reported twice (once for the check in
// `map`, once for the JSON Schema keywords) and on the field's type rather than on the `min`/`max`
// keyword. When the expansion is fixed, regenerate the .stderr: one error per field, on `min`/`max`.

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
