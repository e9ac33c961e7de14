//! Phase 1: reading `#[schema(...)]` attributes into plain data. Every keyword is a constant
//! here; an unknown keyword, a value of the wrong kind or a repeated keyword is reported on its
//! token and reading goes on, so all mistakes are reported together.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, Lit, LitStr};

use crate::case::RenameRule;
use crate::ctxt::Ctxt;

pub const SCHEMA: &str = "schema";
pub const RENAME: &str = "rename";
pub const RENAME_ALL: &str = "rename_all";
pub const DEFAULT: &str = "default";
pub const MIN: &str = "min";
pub const MAX: &str = "max";
pub const MIN_LEN: &str = "min_len";
pub const MAX_LEN: &str = "max_len";
pub const PATTERN: &str = "pattern";
pub const MIN_ITEMS: &str = "min_items";
pub const MAX_ITEMS: &str = "max_items";
pub const VALIDATE: &str = "validate";
pub const RESOLVE: &str = "resolve";
pub const INTO: &str = "into";
pub const RESOLVED: &str = "resolved";

const CONTAINER_KEYWORDS: &[&str] = &[RENAME_ALL, VALIDATE, RESOLVED];
const FIELD_KEYWORDS: &[&str] =
    &[RENAME, DEFAULT, MIN, MAX, MIN_LEN, MAX_LEN, PATTERN, MIN_ITEMS, MAX_ITEMS, VALIDATE, RESOLVE, INTO];
const VARIANT_KEYWORDS: &[&str] = &[RENAME];

/// An attribute value with the span of its keyword, for errors about the attribute as a whole,
/// and the tokens of the value as written (the keyword's when it has no value), for errors
/// about the value itself (`-1` in `min = -1`).
#[derive(Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
    pub lit: TokenStream,
}

impl<T> Spanned<T> {
    /// An error spanned on the value as written.
    pub fn lit_error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.lit, message)
    }
}

/// A literal bound or default: a document literal (string, integer, float, boolean).
#[derive(Clone)]
pub enum Literal {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

#[derive(Clone)]
pub enum Default {
    /// `default`: `Default::default()`.
    Trait,
    /// `default = "100M"`: a document literal mapped like user input.
    Literal(Literal),
    /// `default = path::to::function`.
    Function(syn::Path),
}

#[derive(Default)]
pub struct ContainerAttrs {
    pub rename_all: Option<Spanned<RenameRule>>,
    pub validate: Option<Spanned<syn::Path>>,
    pub resolved: Option<Spanned<syn::Ident>>,
}

#[derive(Default)]
pub struct FieldAttrs {
    pub rename: Option<Spanned<String>>,
    pub default: Option<Spanned<Default>>,
    pub min: Option<Spanned<Literal>>,
    pub max: Option<Spanned<Literal>>,
    pub min_len: Option<Spanned<usize>>,
    pub max_len: Option<Spanned<usize>>,
    pub pattern: Option<Spanned<String>>,
    pub min_items: Option<Spanned<usize>>,
    pub max_items: Option<Spanned<usize>>,
    pub validate: Option<Spanned<syn::Path>>,
    pub resolve: Option<Spanned<syn::Path>>,
    pub into: Option<Spanned<syn::Type>>,
}

#[derive(Default)]
pub struct VariantAttrs {
    pub rename: Option<Spanned<String>>,
}

/// Runs `each` on every keyword of every `#[schema(...)]` attribute, reporting unknown keywords
/// against `allowed` (with `where_` naming the place, e.g. "on a field").
fn for_each_meta(
    cx: &Ctxt,
    attrs: &[Attribute],
    allowed: &[&str],
    where_: &str,
    mut each: impl FnMut(&str, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    for attr in attrs {
        if !attr.path().is_ident(SCHEMA) {
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let keyword = keyword(&meta);
            if !allowed.contains(&keyword.as_str()) {
                let list = allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown schema attribute `{keyword}` {where_}; expected one of {list}"),
                );
                // Skip the value so the remaining keywords are still read.
                if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                } else if meta.input.peek(syn::token::Paren) {
                    let _ = meta.parse_nested_meta(|_| Ok(()));
                }
                return Ok(());
            }
            if let Err(error) = each(&keyword, &meta) {
                cx.syn_error(error);
                // Keep going after a bad value.
                if meta.input.peek(syn::Token![=]) {
                    let _: Option<Expr> = meta.value().ok().and_then(|v| v.parse().ok());
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
}

fn set<T>(cx: &Ctxt, slot: &mut Option<Spanned<T>>, value: T, meta: &ParseNestedMeta<'_>) {
    set_lit(cx, slot, value, meta.path.to_token_stream(), meta);
}

/// [`set`], keeping the tokens of the value as written for errors about it.
fn set_lit<T>(cx: &Ctxt, slot: &mut Option<Spanned<T>>, value: T, lit: TokenStream, meta: &ParseNestedMeta<'_>) {
    let span = meta.path.get_ident().map_or_else(Span::call_site, syn::Ident::span);
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, format!("duplicate schema attribute `{}`", keyword(meta)));
        return;
    }
    *slot = Some(Spanned { value, span, lit });
}

fn string_value(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => Ok(s),
        other => Err(syn::Error::new_spanned(other, format!("`{}` takes a string literal", keyword(meta)))),
    }
}

fn usize_value(meta: &ParseNestedMeta<'_>) -> syn::Result<usize> {
    let expr: Expr = meta.value()?.parse()?;
    match &expr {
        Expr::Lit(syn::ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse(),
        other => {
            Err(syn::Error::new_spanned(other, format!("`{}` takes a non-negative integer literal", keyword(meta))))
        }
    }
}

fn path_value(meta: &ParseNestedMeta<'_>) -> syn::Result<syn::Path> {
    let expr: Expr = meta.value()?.parse()?;
    match expr {
        Expr::Path(p) => Ok(p.path),
        Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }) => s.parse(),
        other => Err(syn::Error::new_spanned(other, format!("`{}` takes a path to a function", keyword(meta)))),
    }
}

/// A literal value and its tokens as written.
fn literal_value(meta: &ParseNestedMeta<'_>) -> syn::Result<(Literal, TokenStream)> {
    let expr: Expr = meta.value()?.parse()?;
    match literal_from_expr(&expr) {
        Some(literal) => Ok((literal, expr.into_token_stream())),
        None => Err(syn::Error::new_spanned(
            &expr,
            format!("`{}` takes a literal: a string, a number or a boolean", keyword(meta)),
        )),
    }
}

fn literal_from_expr(expr: &Expr) -> Option<Literal> {
    match expr {
        Expr::Lit(syn::ExprLit { lit, .. }) => match lit {
            Lit::Str(s) => Some(Literal::Str(s.value())),
            Lit::Int(i) => i.base10_parse().ok().map(Literal::Int),
            Lit::Float(f) => f.base10_parse().ok().map(Literal::Float),
            Lit::Bool(b) => Some(Literal::Bool(b.value)),
            _ => None,
        },
        Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr, .. }) => match literal_from_expr(expr)? {
            Literal::Int(i) => Some(Literal::Int(-i)),
            Literal::Float(f) => Some(Literal::Float(-f)),
            _ => None,
        },
        _ => None,
    }
}

/// The keyword as written: an identifier, or a path (`serde::rename`) for an unknown one.
fn keyword(meta: &ParseNestedMeta<'_>) -> String {
    let path = &meta.path;
    let segments = path.segments.iter().map(|s| s.ident.to_string()).collect::<Vec<_>>().join("::");
    if path.leading_colon.is_some() { format!("::{segments}") } else { segments }
}

pub fn container(cx: &Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for_each_meta(cx, attrs, CONTAINER_KEYWORDS, "on a type", |keyword, meta| {
        match keyword {
            RENAME_ALL => {
                let name = string_value(meta)?;
                match RenameRule::from_str(&name.value()) {
                    Some(rule) => set(cx, &mut out.rename_all, rule, meta),
                    None => cx.error_spanned_by(
                        &name,
                        format!(
                            "unknown rename rule {:?}; expected one of {}",
                            name.value(),
                            RenameRule::NAMES.join(", ")
                        ),
                    ),
                }
            }
            VALIDATE => set(cx, &mut out.validate, path_value(meta)?, meta),
            RESOLVED => {
                let path = path_value(meta)?;
                match path.get_ident() {
                    Some(ident) => set_lit(cx, &mut out.resolved, ident.clone(), ident.to_token_stream(), meta),
                    None => cx.error_spanned_by(&path, "`resolved` takes the name of the struct to generate"),
                }
            }
            _ => {}
        }
        Ok(())
    });
    out
}

pub fn field(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for_each_meta(cx, attrs, FIELD_KEYWORDS, "on a field", |keyword, meta| {
        match keyword {
            RENAME => set(cx, &mut out.rename, string_value(meta)?.value(), meta),
            DEFAULT => {
                if meta.input.peek(syn::Token![=]) {
                    let expr: Expr = meta.value()?.parse()?;
                    let default = match (&expr, literal_from_expr(&expr)) {
                        (_, Some(literal)) => Default::Literal(literal),
                        (Expr::Path(p), None) => Default::Function(p.path.clone()),
                        _ => {
                            return Err(syn::Error::new_spanned(
                                expr,
                                "`default` takes a literal (\"100M\", 53, true) or a path to a function",
                            ));
                        }
                    };
                    set_lit(cx, &mut out.default, default, expr.into_token_stream(), meta);
                } else {
                    set(cx, &mut out.default, Default::Trait, meta);
                }
            }
            MIN => {
                let (literal, lit) = literal_value(meta)?;
                set_lit(cx, &mut out.min, literal, lit, meta);
            }
            MAX => {
                let (literal, lit) = literal_value(meta)?;
                set_lit(cx, &mut out.max, literal, lit, meta);
            }
            MIN_LEN => set(cx, &mut out.min_len, usize_value(meta)?, meta),
            MAX_LEN => set(cx, &mut out.max_len, usize_value(meta)?, meta),
            MIN_ITEMS => set(cx, &mut out.min_items, usize_value(meta)?, meta),
            MAX_ITEMS => set(cx, &mut out.max_items, usize_value(meta)?, meta),
            PATTERN => {
                let pattern = string_value(meta)?;
                if let Err(error) = regex::Regex::new(&pattern.value()) {
                    cx.error_spanned_by(&pattern, format!("invalid `pattern`: {error}"));
                }
                set(cx, &mut out.pattern, pattern.value(), meta);
            }
            VALIDATE => set(cx, &mut out.validate, path_value(meta)?, meta),
            RESOLVE => set(cx, &mut out.resolve, path_value(meta)?, meta),
            INTO => {
                // A type, generic ones included (`into = Option<String>`), or the same in a string.
                let value = meta.value()?;
                let ty: syn::Type =
                    if value.peek(syn::LitStr) { value.parse::<LitStr>()?.parse()? } else { value.parse()? };
                set(cx, &mut out.into, ty, meta);
            }
            _ => {}
        }
        Ok(())
    });
    out
}

pub fn variant(cx: &Ctxt, attrs: &[Attribute]) -> VariantAttrs {
    let mut out = VariantAttrs::default();
    for_each_meta(cx, attrs, VARIANT_KEYWORDS, "on a variant", |keyword, meta| {
        if keyword == RENAME {
            set(cx, &mut out.rename, string_value(meta)?.value(), meta);
        }
        Ok(())
    });
    out
}

/// The `///` doc comment of an item, one string with lines joined by newlines.
pub fn doc(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(syn::MetaNameValue {
            value: Expr::Lit(syn::ExprLit { lit: Lit::Str(s), .. }),
            ..
        }) = &attr.meta
        {
            let line = s.value();
            lines.push(line.strip_prefix(' ').unwrap_or(&line).trim_end().to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}
