//! Compile-time diagnostics of `#[derive(Schema)]`, checked with trybuild on the stable
//! toolchain: every misuse in `ui/compile-fail` must be reported clearly and on its token (the
//! expected output is the reviewed `.stderr` beside each case), and every correct use in
//! `ui/compile-pass` must compile and map a document as its `main` asserts.
//!
//! Regenerate the expected output after a deliberate change of a message with
//! `TRYBUILD=overwrite cargo test -p kres-tests --test ui`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/compile-fail/*.rs");
    t.pass("ui/compile-pass/*.rs");
}
