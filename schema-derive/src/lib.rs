//! `#[derive(Schema)]`: one struct or enum definition gives the mapping from a document (pass 1),
//! the resolved form (pass 2), JSON Schema, reference docs and a `Serialize` implementation.
//!
//! # Theory of operation
//!
//! The derive is a pipeline of named phases, each in its own module, with different types before
//! and after the checks:
//!
//! 1. [`attr`]: read `#[schema(...)]` attributes and `///` docs into plain data;
//! 2. [`ast`]: build the internal view of the input (keys renamed to kebab-case here, once);
//! 3. [`check`]: judge it; every misuse is reported at once, spanned on its token ([`ctxt`]);
//! 4. [`expand`]: generate code, only from input that passed.
//!
//! When phase 3 finds errors, stub impls are emitted beside them so that one mistake does not
//! cascade into "trait not implemented" errors elsewhere.
//!
//! See `docs/schema-dsl.md` in the repository for the attribute reference and a worked example.

mod ast;
mod attr;
mod case;
mod check;
mod ctxt;
mod expand;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `schema_core::Schema`, `schema_core::Resolve` and `serde::Serialize` (and `Default`
/// when every field has a default). See the crate docs of `schema_core` for the attributes.
#[proc_macro_derive(Schema, attributes(schema))]
pub fn derive_schema(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let cx = ctxt::Ctxt::default();
    let container = ast::Container::from_ast(&cx, &input);
    if let Some(container) = &container {
        check::check(&cx, container);
    }
    let expanded = match &container {
        Some(container) if !cx.has_errors() => Some(expand::expand(container)),
        _ => None,
    };
    match (cx.finish(), expanded) {
        (Ok(()), Some(tokens)) => tokens.into(),
        (result, _) => {
            let mut tokens = result.err().map(|errors| errors.to_compile_error()).unwrap_or_default();
            tokens.extend(expand::stubs(&input, container.as_ref()));
            tokens.into()
        }
    }
}
