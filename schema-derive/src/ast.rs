//! Phase 2: the derive input as the expansion sees it: keys already renamed, docs extracted,
//! attributes read. Built from `syn` without judging anything; `check` judges.

use syn::{Data, DeriveInput, Fields, Ident, Type, Visibility};

use crate::attr::{self, ContainerAttrs, FieldAttrs, VariantAttrs};
use crate::case::RenameRule;
use crate::ctxt::Ctxt;

pub struct Container<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub generics: &'a syn::Generics,
    pub doc: String,
    pub attrs: ContainerAttrs,
    pub data: Body<'a>,
}

pub enum Body<'a> {
    Struct(Vec<Field<'a>>),
    Enum(Vec<Variant<'a>>),
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub key: String,
    pub doc: String,
    pub attrs: FieldAttrs,
}

impl Field<'_> {
    /// The type inside `Option<...>`, if the field is optional.
    pub fn option_inner(&self) -> Option<&Type> {
        option_inner(self.ty)
    }

    /// The type constraints apply to: the field type, or the type inside `Option`.
    pub fn constrained_ty(&self) -> &Type {
        self.option_inner().unwrap_or(self.ty)
    }

    /// Whether the key may be missing: the field has a `default` or is an `Option`.
    pub fn has_default(&self) -> bool {
        self.attrs.default.is_some() || self.option_inner().is_some()
    }
}

pub struct Variant<'a> {
    pub ident: &'a Ident,
    pub name: String,
    pub doc: String,
    /// `None` for a unit variant (a string constant), the wrapped type for a newtype variant.
    pub ty: Option<&'a Type>,
    pub attrs: VariantAttrs,
    pub original: &'a syn::Variant,
}

impl<'a> Container<'a> {
    /// Reads the input; shapes we cannot derive for are reported and give `None`.
    pub fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Option<Container<'a>> {
        let attrs = attr::container(cx, &input.attrs);
        let rule = attrs.rename_all.as_ref().map_or(RenameRule::KebabCase, |r| r.value);
        let data = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => Body::Struct(
                    named
                        .named
                        .iter()
                        .map(|field| {
                            let ident = field.ident.as_ref().expect("named fields have names");
                            let attrs = attr::field(cx, &field.attrs);
                            let key = match &attrs.rename {
                                Some(rename) => rename.value.clone(),
                                None => rule.apply_to_field(&ident.unraw().to_string()),
                            };
                            Field { ident, ty: &field.ty, key, doc: attr::doc(&field.attrs), attrs }
                        })
                        .collect(),
                ),
                Fields::Unnamed(_) | Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(Schema)] on a struct needs named fields (a config section is a mapping of keys)",
                    );
                    return None;
                }
            },
            Data::Enum(data) => Body::Enum(
                data.variants
                    .iter()
                    .map(|variant| {
                        let attrs = attr::variant(cx, &variant.attrs);
                        let name = match &attrs.rename {
                            Some(rename) => rename.value.clone(),
                            None => rule.apply_to_variant(&variant.ident.to_string()),
                        };
                        let ty = match &variant.fields {
                            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => Some(&fields.unnamed[0].ty),
                            _ => None,
                        };
                        Variant {
                            ident: &variant.ident,
                            name,
                            doc: attr::doc(&variant.attrs),
                            ty,
                            attrs,
                            original: variant,
                        }
                    })
                    .collect(),
            ),
            Data::Union(_) => {
                cx.error_spanned_by(&input.ident, "#[derive(Schema)] does not support Rust unions; use an enum");
                return None;
            }
        };
        Some(Container {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            doc: attr::doc(&input.attrs),
            attrs,
            data,
        })
    }
}

trait Unraw {
    fn unraw(&self) -> Ident;
}

impl Unraw for Ident {
    fn unraw(&self) -> Ident {
        let text = self.to_string();
        match text.strip_prefix("r#") {
            Some(plain) => Ident::new(plain, self.span()),
            None => self.clone(),
        }
    }
}

/// `Option<T>` → `T` (matching `Option`, `std::option::Option`, `core::option::Option`).
pub fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

/// The last path segment's name of a type (`u16`, `String`, `Vec`), for syntactic checks.
pub fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}
