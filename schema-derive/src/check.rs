//! Phase 3: judging the parsed input. Every misuse found is reported on its token; expansion
//! only runs on input that passed, so generated code can rely on what is checked here.

use std::collections::BTreeMap;

use crate::ast::{Body, Container, Field, type_name};
use crate::attr::{self, Literal};
use crate::ctxt::Ctxt;

const NUMBERS: &[&str] = &["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "f32", "f64", "Port"];
const STRINGS: &[&str] = &["String"];
const COLLECTIONS: &[&str] = &["Vec", "BTreeMap", "OneOrMany"];
const RANGED: &[&str] = &["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "f32", "f64", "Size", "Duration"];

pub fn check(cx: &Ctxt, container: &Container<'_>) {
    if !container.generics.params.is_empty() {
        cx.error_spanned_by(container.generics, "#[derive(Schema)] does not support generic types");
    }
    match &container.data {
        Body::Struct(fields) => check_struct(cx, container, fields),
        Body::Enum(variants) => {
            if let Some(validate) = &container.attrs.validate {
                cx.syn_error(syn::Error::new(validate.span, "`validate` is only supported on structs"));
            }
            if let Some(resolved) = &container.attrs.resolved {
                cx.syn_error(syn::Error::new(resolved.span, "`resolved` is only supported on structs; an enum resolves to itself"));
            }
            if variants.is_empty() {
                cx.error_spanned_by(container.ident, "an enum deriving Schema needs at least one variant");
            }
            let mut seen = BTreeMap::new();
            for variant in variants {
                let shape_ok = matches!(variant.original.fields, syn::Fields::Unit) || variant.ty.is_some();
                if !shape_ok {
                    cx.error_spanned_by(
                        variant.original,
                        "a Schema enum variant must be a unit variant (a string value) or wrap exactly one type (a union member)",
                    );
                }
                if variant.ty.is_none() {
                    if let Some(previous) = seen.insert(variant.name.clone(), variant.ident) {
                        cx.error_spanned_by(
                            variant.ident,
                            format!("variant `{}` has the same name {:?} as variant `{previous}`", variant.ident, variant.name),
                        );
                    }
                }
            }
        }
    }
}

fn check_struct(cx: &Ctxt, container: &Container<'_>, fields: &[Field<'_>]) {
    let mut keys = BTreeMap::new();
    for field in fields {
        if let Some(previous) = keys.insert(field.key.clone(), field.ident) {
            cx.error_spanned_by(field.ident, format!("field `{}` has the same key {:?} as field `{previous}`", field.ident, field.key));
        }
        check_field(cx, container, field);
    }
}

fn check_field(cx: &Ctxt, container: &Container<'_>, field: &Field<'_>) {
    let attrs = &field.attrs;
    let name = type_name(field.constrained_ty()).unwrap_or_default();
    let known = |list: &[&str]| list.contains(&name.as_str());
    let is_known_type = known(NUMBERS) || known(STRINGS) || known(COLLECTIONS) || known(RANGED) || name == "bool";

    // Constraints on types they cannot apply to, when the type is one we know by name. Other
    // types are checked by trait bounds in the generated code.
    let wrong = |span: proc_macro2::Span, keyword: &str, applies: &str| {
        cx.syn_error(syn::Error::new(span, format!("`{keyword}` applies to {applies}, not to `{name}`")));
    };
    for (slot, keyword) in [(&attrs.min, attr::MIN), (&attrs.max, attr::MAX)] {
        if let Some(bound) = slot {
            if is_known_type && !known(RANGED) {
                wrong(bound.span, keyword, "numbers, sizes and durations");
            }
            if matches!(bound.value, Literal::Bool(_)) {
                cx.syn_error(syn::Error::new(bound.span, format!("`{keyword}` cannot be a boolean")));
            }
        }
    }
    for (slot, keyword) in [(&attrs.min_len, attr::MIN_LEN), (&attrs.max_len, attr::MAX_LEN)] {
        if let Some(bound) = slot {
            if is_known_type && !known(STRINGS) {
                wrong(bound.span, keyword, "strings");
            }
        }
    }
    if let Some(pattern) = &attrs.pattern {
        if is_known_type && !known(STRINGS) {
            wrong(pattern.span, attr::PATTERN, "strings");
        }
    }
    for (slot, keyword) in [(&attrs.min_items, attr::MIN_ITEMS), (&attrs.max_items, attr::MAX_ITEMS)] {
        if let Some(bound) = slot {
            if is_known_type && !known(COLLECTIONS) {
                wrong(bound.span, keyword, "lists and mappings");
            }
        }
    }

    // Bounds that contradict each other.
    if let (Some(min), Some(max)) = (&attrs.min, &attrs.max) {
        let as_number = |l: &Literal| match l {
            Literal::Int(i) => Some(*i as f64),
            Literal::Float(f) => Some(*f),
            _ => None,
        };
        if let (Some(lo), Some(hi)) = (as_number(&min.value), as_number(&max.value)) {
            if lo > hi {
                cx.syn_error(syn::Error::new(max.span, "`max` is smaller than `min`"));
            }
        }
    }
    for (min, max, keyword) in [(&attrs.min_len, &attrs.max_len, attr::MAX_LEN), (&attrs.min_items, &attrs.max_items, attr::MAX_ITEMS)] {
        if let (Some(min), Some(max)) = (min, max) {
            if min.value > max.value {
                cx.syn_error(syn::Error::new(max.span, format!("`{keyword}` is smaller than its minimum")));
            }
        }
    }

    // Pass-2 attributes.
    if let Some(into) = &attrs.into {
        if attrs.resolve.is_none() {
            cx.syn_error(syn::Error::new(into.span, "`into` needs `resolve = function` that produces the new type"));
        }
    }
    if let Some(resolve) = &attrs.resolve {
        if container.attrs.resolved.is_none() {
            cx.syn_error(syn::Error::new(
                resolve.span,
                "`resolve` needs `#[schema(resolved = Name)]` on the struct: the resolved form is a generated struct",
            ));
        }
    }
}
