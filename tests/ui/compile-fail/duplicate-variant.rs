// Two string values with the same document name: one by `rename`, and two Rust names that
// kebab-case to the same name (`TLSForward` and `TlsForward` both give `tls-forward`).

use schema_core::Schema;

#[derive(Schema)]
enum Transport {
    Dns,
    #[schema(rename = "dns")]
    PlainDns,
    TLSForward,
    TlsForward,
}

fn main() {}
