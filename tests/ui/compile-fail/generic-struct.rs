// Generic sections are not supported; the error is on the generics.
//
// KNOWN DEFECT pinned by the .stderr: the second error (E0107 "missing generics", with the
// nonsensical help `Section<T><T>`) comes from the derive's error-path stub impl, which is
// written `impl Schema for Section` without the generics. When the stub is fixed, regenerate the
// .stderr: only the first error should remain.

use schema_core::Schema;

#[derive(Schema)]
struct Section<T> {
    value: T,
}

fn main() {}
