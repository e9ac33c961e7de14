//! Phase 3: judging the parsed input. Every misuse found is reported on its token; expansion
//! only runs on input that passed, so generated code can rely on what is checked here.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::ast::{Body, Container, Field, type_name};
use crate::attr::{self, Literal};
use crate::ctxt::Ctxt;

const NUMBERS: &[&str] = &["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "f32", "f64", "Port"];
const STRINGS: &[&str] = &["String"];
const COLLECTIONS: &[&str] = &["Vec", "BTreeMap", "OneOrMany"];
/// `schema_core` types parsed from a string, whose literal default must be a string.
const PARSED_FROM_STRINGS: &[&str] =
    &["IpAddr", "IpAddress", "IpNet", "AddrPort", "InterfacePort", "DomainName", "FilePath", "DirPath"];
const RANGED: &[&str] =
    &["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "usize", "f32", "f64", "Port", "Size", "Duration"];

/// A quantity written `<digits><unit>`, with the grammar and units of `schema_core`'s type of
/// the same name (`types/units.rs`), so bounds and defaults are judged as the loader would.
struct Quantity {
    what: &'static str,
    example: &'static str,
    units: &'static [(&'static str, u64)],
}

const SIZE: Quantity =
    Quantity { what: "size", example: "100M", units: &[("B", 1), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)] };
const DURATION: Quantity = Quantity {
    what: "duration",
    example: "10s",
    units: &[
        ("us", 1),
        ("ms", 1_000),
        ("s", 1_000_000),
        ("m", 60_000_000),
        ("h", 3_600_000_000),
        ("d", 86_400_000_000),
    ],
};

impl Quantity {
    fn unit_list(&self) -> String {
        self.units.iter().map(|(u, _)| *u).collect::<Vec<_>>().join(", ")
    }

    /// The amount in the smallest unit, or why the text is not a quantity.
    fn parse(&self, text: &str) -> Result<u64, String> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let unit = &text[digits..];
        let factor = self.units.iter().find(|(u, _)| *u == unit).map(|(_, f)| *f);
        match factor {
            Some(factor) if digits > 0 => text[..digits]
                .parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(factor))
                .ok_or_else(|| format!("{text:?} is too large for a {}", self.what)),
            _ => Err(format!(
                "{text:?} is not a {}: expected digits and a unit ({}), e.g. \"{}\"",
                self.what,
                self.unit_list(),
                self.example
            )),
        }
    }
}

/// What a literal (a bound or a default) must be for a type known by name.
enum Expect {
    /// An integer in this range, which is never wider than a document integer (`i64`).
    Int(i128, i128),
    Number,
    Quantity(&'static Quantity),
    Str,
    Bool,
}

fn expect(name: &str) -> Option<Expect> {
    let int = |min: i128, max: i128| Some(Expect::Int(min.max(i64::MIN.into()), max.min(i64::MAX.into())));
    match name {
        "i8" => int(i8::MIN.into(), i8::MAX.into()),
        "i16" => int(i16::MIN.into(), i16::MAX.into()),
        "i32" => int(i32::MIN.into(), i32::MAX.into()),
        "i64" => int(i64::MIN.into(), i64::MAX.into()),
        "u8" => int(0, u8::MAX.into()),
        "u16" => int(0, u16::MAX.into()),
        "u32" => int(0, u32::MAX.into()),
        "u64" | "usize" => int(0, u64::MAX.into()),
        "Port" => int(1, u16::MAX.into()),
        "f32" | "f64" => Some(Expect::Number),
        "Size" => Some(Expect::Quantity(&SIZE)),
        "Duration" => Some(Expect::Quantity(&DURATION)),
        "String" => Some(Expect::Str),
        "bool" => Some(Expect::Bool),
        _ => None,
    }
}

/// A literal's value, for comparing `min` with `max`.
#[derive(Clone, Copy, PartialEq)]
enum Amount {
    Int(i128),
    Float(f64),
}

impl PartialOrd for Amount {
    fn partial_cmp(&self, other: &Amount) -> Option<Ordering> {
        match (*self, *other) {
            (Amount::Int(a), Amount::Int(b)) => a.partial_cmp(&b),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl Amount {
    fn as_f64(self) -> f64 {
        match self {
            Amount::Int(i) => i as f64,
            Amount::Float(f) => f,
        }
    }
}

/// Judges `literal` against what the type `name` needs; `Ok` carries its value when it is a
/// number or a quantity.
fn judge(expect: &Expect, literal: &Literal, keyword: &str, name: &str) -> Result<Option<Amount>, String> {
    match (expect, literal) {
        (Expect::Int(min, max), Literal::Int(i)) if (min..=max).contains(&i) => Ok(Some(Amount::Int(*i))),
        (Expect::Int(min, max), _) => Err(format!("`{keyword}` for `{name}` must be an integer from {min} to {max}")),
        (Expect::Number, Literal::Int(i)) => judge_int(*i).map(|()| Some(Amount::Int(*i))),
        (Expect::Number, Literal::Float(f)) => Ok(Some(Amount::Float(*f))),
        (Expect::Number, _) => Err(format!("`{keyword}` for `{name}` must be a number")),
        (Expect::Quantity(quantity), Literal::Str(text)) => quantity.parse(text).map(|n| Some(Amount::Int(n.into()))),
        (Expect::Quantity(quantity), _) => Err(format!(
            "`{keyword}` for `{name}` must be a {} string such as \"{}\" (digits and a unit: {})",
            quantity.what,
            quantity.example,
            quantity.unit_list()
        )),
        (Expect::Str, Literal::Str(_)) | (Expect::Bool, Literal::Bool(_)) => Ok(None),
        (Expect::Str, _) => Err(format!("`{keyword}` for `{name}` must be a string literal")),
        (Expect::Bool, _) => Err(format!("`{keyword}` for `{name}` must be `true` or `false`")),
    }
}

/// Document integers are `i64`: a literal beyond cannot be a value of any type.
fn judge_int(i: i128) -> Result<(), String> {
    if i64::try_from(i).is_ok() {
        Ok(())
    } else {
        Err(format!("integer literal out of range: document integers are from {} to {}", i64::MIN, i64::MAX))
    }
}

/// Judges a literal when the type is not known by name: only what no type accepts.
fn judge_unknown(literal: &Literal, keyword: &str) -> Result<Option<Amount>, String> {
    match literal {
        Literal::Int(i) => judge_int(*i).map(|()| Some(Amount::Int(*i))),
        Literal::Float(f) => Ok(Some(Amount::Float(*f))),
        Literal::Bool(_) if keyword != attr::DEFAULT => Err(format!("`{keyword}` cannot be a boolean")),
        Literal::Str(_) | Literal::Bool(_) => Ok(None),
    }
}

pub fn check(cx: &Ctxt, container: &Container<'_>) {
    if !container.generics.params.is_empty() {
        cx.error_spanned_by(container.generics, "#[derive(Schema)] does not support generic types");
    }
    match &container.data {
        Body::Struct(fields) => {
            let ident = container.ident;
            if let Some(resolved) = &container.attrs.resolved
                && resolved.value == *ident
            {
                let message =
                    format!("`resolved` must name a new struct, not `{ident}` (e.g. `resolved = {ident}Resolved`)");
                cx.syn_error(resolved.lit_error(message));
            }
            check_struct(cx, container, fields);
        }
        Body::Enum(variants) => {
            if let Some(validate) = &container.attrs.validate {
                cx.syn_error(syn::Error::new(validate.span, "`validate` is only supported on structs"));
            }
            if let Some(resolved) = &container.attrs.resolved {
                cx.syn_error(syn::Error::new(
                    resolved.span,
                    "`resolved` is only supported on structs; an enum resolves to itself",
                ));
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
                if let (Some(_), Some(rename)) = (variant.ty, &variant.attrs.rename) {
                    cx.syn_error(syn::Error::new(
                        rename.span,
                        "`rename` has no effect on a union member (a variant wrapping a type): it is matched by its type, not by a name",
                    ));
                }
                if variant.ty.is_none()
                    && let Some(previous) = seen.insert(variant.name.clone(), variant.ident)
                {
                    cx.error_spanned_by(
                        variant.ident,
                        format!(
                            "variant `{}` has the same name {:?} as variant `{previous}`",
                            variant.ident, variant.name
                        ),
                    );
                }
            }
        }
    }
}

fn check_struct(cx: &Ctxt, container: &Container<'_>, fields: &[Field<'_>]) {
    let mut keys = BTreeMap::new();
    for field in fields {
        if let Some(previous) = keys.insert(field.key.clone(), field.ident) {
            cx.error_spanned_by(
                field.ident,
                format!("field `{}` has the same key {:?} as field `{previous}`", field.ident, field.key),
            );
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
    // Literals of the wrong kind or out of range for the type, when it is known by name.
    let expected = expect(&name);
    let judged = |literal: &Literal, written: &proc_macro2::TokenStream, keyword: &str| {
        let result = match &expected {
            Some(expected) => judge(expected, literal, keyword, &name),
            None => judge_unknown(literal, keyword),
        };
        result.unwrap_or_else(|message| {
            cx.error_spanned_by(written, message);
            None
        })
    };
    let mut amounts = [None, None];
    for ((slot, keyword), amount) in [(&attrs.min, attr::MIN), (&attrs.max, attr::MAX)].into_iter().zip(&mut amounts) {
        if let Some(bound) = slot {
            if is_known_type && !known(RANGED) {
                wrong(bound.span, keyword, "numbers, sizes and durations");
            } else {
                *amount = judged(&bound.value, &bound.lit, keyword);
            }
        }
    }
    if let Some(default) = &attrs.default
        && let attr::Default::Literal(literal) = &default.value
    {
        if known(PARSED_FROM_STRINGS) && !matches!(literal, Literal::Str(_)) {
            cx.error_spanned_by(&default.lit, format!("`default` for `{name}` must be a string literal"));
        } else {
            judged(literal, &default.lit, attr::DEFAULT);
        }
    }
    for (slot, keyword) in [(&attrs.min_len, attr::MIN_LEN), (&attrs.max_len, attr::MAX_LEN)] {
        if let Some(bound) = slot
            && is_known_type
            && !known(STRINGS)
        {
            wrong(bound.span, keyword, "strings");
        }
    }
    if let Some(pattern) = &attrs.pattern
        && is_known_type
        && !known(STRINGS)
    {
        wrong(pattern.span, attr::PATTERN, "strings");
    }
    for (slot, keyword) in [(&attrs.min_items, attr::MIN_ITEMS), (&attrs.max_items, attr::MAX_ITEMS)] {
        if let Some(bound) = slot
            && is_known_type
            && !known(COLLECTIONS)
        {
            wrong(bound.span, keyword, "lists and mappings");
        }
    }

    // Bounds that contradict each other (sizes and durations compare by value: 1024K == 1M).
    if let ([Some(lo), Some(hi)], Some(max)) = (amounts, &attrs.max)
        && lo > hi
    {
        cx.syn_error(syn::Error::new(max.span, "`max` is smaller than `min`"));
    }
    for (min, max, keyword) in
        [(&attrs.min_len, &attrs.max_len, attr::MAX_LEN), (&attrs.min_items, &attrs.max_items, attr::MAX_ITEMS)]
    {
        if let (Some(min), Some(max)) = (min, max)
            && min.value > max.value
        {
            cx.syn_error(syn::Error::new(max.span, format!("`{keyword}` is smaller than its minimum")));
        }
    }

    // Pass-2 attributes.
    if let Some(into) = &attrs.into
        && attrs.resolve.is_none()
    {
        cx.syn_error(syn::Error::new(into.span, "`into` needs `resolve = function` that produces the new type"));
    }
    if let Some(resolve) = &attrs.resolve
        && container.attrs.resolved.is_none()
    {
        cx.syn_error(syn::Error::new(
            resolve.span,
            "`resolve` needs `#[schema(resolved = Name)]` on the struct: the resolved form is a generated struct",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_as_schema_core_does() {
        assert_eq!(SIZE.parse("1M"), Ok(1 << 20));
        assert_eq!(SIZE.parse("1024K"), SIZE.parse("1M"));
        assert_eq!(DURATION.parse("1m"), Ok(60_000_000));
        assert_eq!(DURATION.parse("1500ms"), Ok(1_500_000));
        for bad in ["100", "M", "10 M", "10T", "-1M", ""] {
            assert!(SIZE.parse(bad).unwrap_err().contains("is not a size"), "{bad}");
        }
        assert!(DURATION.parse("10sec").is_err());
        assert!(SIZE.parse("18446744073709551615G").unwrap_err().contains("too large"));
        assert!(SIZE.parse("99999999999999999999B").unwrap_err().contains("too large"));
    }

    #[test]
    fn literals_are_judged_by_type() {
        let judge_on = |name: &str, literal: Literal| judge(&expect(name).unwrap(), &literal, "min", name);
        assert!(judge_on("u8", Literal::Int(255)).is_ok());
        assert!(judge_on("u8", Literal::Int(256)).is_err());
        assert!(judge_on("u16", Literal::Int(-1)).is_err());
        assert!(judge_on("u16", Literal::Float(1.5)).is_err());
        assert!(judge_on("i64", Literal::Int(i128::from(i64::MIN))).is_ok());
        assert!(judge_on("u64", Literal::Int(i128::from(u64::MAX))).is_err());
        assert!(judge_on("Port", Literal::Int(0)).is_err());
        assert!(judge_on("f64", Literal::Int(1)).is_ok());
        assert!(judge_on("f64", Literal::Str("1".into())).is_err());
        assert!(judge_on("bool", Literal::Int(1)).is_err());
        assert!(judge_on("String", Literal::Str("x".into())).is_ok());
        assert!(judge_unknown(&Literal::Int(i128::from(i64::MAX) + 1), "max").is_err());
        assert!(judge_unknown(&Literal::Bool(true), "max").is_err());
        assert!(judge_unknown(&Literal::Bool(true), "default").is_ok());
    }

    #[test]
    fn amounts_compare_across_kinds() {
        assert!(Amount::Int(2) > Amount::Float(1.5));
        assert!(Amount::Int(i128::from(i64::MAX)) > Amount::Int(i128::from(i64::MAX) - 1));
    }
}
