// A `pattern` that is not a valid regular expression is rejected when the derive expands, not
// when the first document is loaded.

use schema_core::Schema;

#[derive(Schema)]
struct Server {
    #[schema(pattern = "^[a-z0-9-+$")]
    nsid: String,
}

fn main() {}
