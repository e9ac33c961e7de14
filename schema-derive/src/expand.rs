//! Phase 4: code generation from checked input. Generated code calls small functions of
//! `schema_core` rather than inlining logic, so it stays short and the logic is tested once.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};

use crate::ast::{Body, Container, Field, Variant};
use crate::attr::{Default, Literal, Spanned};

pub fn expand(container: &Container<'_>) -> TokenStream {
    match &container.data {
        Body::Struct(fields) => expand_struct(container, fields),
        Body::Enum(variants) => expand_enum(container, variants),
    }
}

/// Stub impls emitted when the input has errors, so that one mistake does not also produce a
/// cascade of "trait not implemented" errors wherever the type is used: everything the real
/// expansion would implement (`Default` by the same rule), and a placeholder for the `resolved`
/// struct. `container` is `None` when the input could not even be read.
pub fn stubs(input: &syn::DeriveInput, container: Option<&Container<'_>>) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (unreachable, serde) = (quote!(::core::unreachable!()), quote!(::schema_core::__private::serde));
    let resolved = container.and_then(|c| c.attrs.resolved.as_ref()).map(|r| &r.value).filter(|name| *name != ident);
    let placeholder = resolved.map(|name| {
        let vis = &input.vis;
        quote! {
            /// Placeholder for the resolved struct of a `#[derive(Schema)]` with errors.
            #[allow(dead_code)]
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, #serde::Serialize)]
            #[serde(crate = "::schema_core::__private::serde")]
            #vis struct #name;
        }
    });
    let output = match (&input.data, resolved) {
        (syn::Data::Struct(_), Some(name)) => quote!(#name),
        _ => quote!(Self),
    };
    let default = container
        .is_some_and(|c| matches!(&c.data, Body::Struct(fields) if fields.iter().all(Field::has_default)))
        .then(|| {
            quote! {
                impl #impl_generics ::core::default::Default for #ident #ty_generics #where_clause {
                    fn default() -> Self { #unreachable }
                }
            }
        });
    let names = matches!(input.data, syn::Data::Enum(_)).then(|| {
        quote! {
            impl #impl_generics #ident #ty_generics #where_clause {
                pub const NAMES: &'static [&'static str] = &[];
            }
        }
    });
    quote! {
        impl #impl_generics ::schema_core::Schema for #ident #ty_generics #where_clause {
            fn map<'v>(_: &'v ::schema_core::Value, _: &mut ::schema_core::MapCx<'v>) -> ::core::option::Option<Self> { #unreachable }
            fn json_schema(_: &mut ::schema_core::json_schema::SchemaGen) -> ::schema_core::__private::serde_json::Value { #unreachable }
            fn to_json(&self) -> ::schema_core::__private::serde_json::Value { #unreachable }
            fn expecting() -> ::std::string::String { #unreachable }
        }
        impl #impl_generics ::schema_core::Resolve for #ident #ty_generics #where_clause {
            type Output = #output;
            fn resolve(&self, _: &mut ::schema_core::ResolveCx<'_>) -> ::core::option::Option<#output> { #unreachable }
        }
        impl #impl_generics #serde::Serialize for #ident #ty_generics #where_clause {
            fn serialize<__S: #serde::Serializer>(&self, _: __S) -> ::core::result::Result<__S::Ok, __S::Error> { #unreachable }
        }
        #default
        #names
        #placeholder
    }
}

/// A literal as a JSON value for the runtime. Integers beyond `i64` are refused by `check`;
/// should one get here, it is a compile error on the literal rather than a wrapped number.
fn literal_json(literal: &Literal, lit: &TokenStream) -> TokenStream {
    let json = quote!(::schema_core::__private::serde_json::json);
    match literal {
        Literal::Str(s) => quote!(#json!(#s)),
        Literal::Int(i) => match i64::try_from(*i) {
            Ok(i) => quote!(#json!(#i)),
            Err(_) => syn::Error::new_spanned(lit, "integer literal out of the range of document integers (i64)")
                .to_compile_error(),
        },
        Literal::Float(f) => quote!(#json!(#f)),
        Literal::Bool(b) => quote!(#json!(#b)),
    }
}

/// `tokens` with every token (inside groups too) spanned at `span`: a type named in generated
/// code this way is reported on the attribute keyword rather than on the field's type.
fn respan(tokens: impl ToTokens, span: Span) -> TokenStream {
    tokens
        .into_token_stream()
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

/// The span of the first of the given attributes that is present.
fn first_span<T>(slots: [&Option<Spanned<T>>; 2]) -> Span {
    slots.into_iter().flatten().next().map_or_else(Span::call_site, |s| s.span)
}

/// The bounded helpers that `json_schema` calls for `min`/`max` and `min_items`/`max_items`,
/// with the constrained type spanned on the keyword. `map` names the same helper, with the
/// same tokens, before its own checks: a type lacking the trait is then reported once, on the
/// keyword (rustc drops the identical error of the second body, and in each body the later
/// errors for the same bound at the same place).
fn range_helper(field: &Field<'_>) -> Option<TokenStream> {
    let attrs = &field.attrs;
    (attrs.min.is_some() || attrs.max.is_some()).then(|| {
        let ty = respan(field.constrained_ty(), first_span([&attrs.min, &attrs.max]));
        quote!(::schema_core::constraint::range_keywords::<#ty>)
    })
}

fn items_helper(field: &Field<'_>) -> Option<TokenStream> {
    let attrs = &field.attrs;
    (attrs.min_items.is_some() || attrs.max_items.is_some()).then(|| {
        let ty = respan(field.constrained_ty(), first_span([&attrs.min_items, &attrs.max_items]));
        quote!(::schema_core::constraint::items_keywords::<#ty>)
    })
}

/// A `default = function` called as a value of the field's type, every token spanned on the
/// path: a function of the wrong type is one error on it, as `map` and `json_schema` emit the
/// same tokens.
fn default_call(path: &syn::Path, ty: &syn::Type) -> TokenStream {
    let span = path.segments.last().map_or_else(Span::call_site, |s| s.ident.span());
    let ty = respan(ty, span);
    quote_spanned!(span=> { let default: fn() -> #ty = #path; default() })
}

fn option_usize(value: Option<usize>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// The statements checking one field's constraints and validator on `value: &FieldType`.
/// Each check names the constrained type spanned on its keyword, so a type the constraint does
/// not apply to is reported there.
fn field_checks(field: &Field<'_>) -> TokenStream {
    let attrs = &field.attrs;
    let inner = field.constrained_ty();
    let mut checks = Vec::new();
    if let Some(helper) = range_helper(field) {
        let span = first_span([&attrs.min, &attrs.max]);
        let ty = respan(inner, span);
        let bound = |b: &Option<Spanned<Literal>>| match b {
            Some(b) => {
                let json = literal_json(&b.value, &b.lit);
                quote!(::core::option::Option::Some(::schema_core::constraint::bound::<#inner>(#json)))
            }
            None => quote!(::core::option::Option::None),
        };
        let (min, max) = (bound(&attrs.min), bound(&attrs.max));
        checks.push(quote_spanned! {span=>
            {
                let _ = #helper;
                let min: ::core::option::Option<#inner> = #min;
                let max: ::core::option::Option<#inner> = #max;
                ::schema_core::constraint::check_range::<#ty>(value, min.as_ref(), max.as_ref())?;
            }
        });
    }
    // `min_len`/`max_len` and `pattern` share one bound: a type lacking it is reported once,
    // on the first of them.
    let text_span =
        attrs.min_len.as_ref().or(attrs.max_len.as_ref()).map(|b| b.span).or(attrs.pattern.as_ref().map(|p| p.span));
    if attrs.min_len.is_some() || attrs.max_len.is_some() {
        let span = first_span([&attrs.min_len, &attrs.max_len]);
        let ty = respan(inner, span);
        let (min, max) = (
            option_usize(attrs.min_len.as_ref().map(|b| b.value)),
            option_usize(attrs.max_len.as_ref().map(|b| b.value)),
        );
        checks.push(quote_spanned! {span=> ::schema_core::constraint::check_len::<#ty>(value, #min, #max)?; });
    }
    if let Some(pattern) = &attrs.pattern {
        let text = &pattern.value;
        let ty = respan(inner, text_span.unwrap_or(pattern.span));
        checks.push(quote_spanned! {pattern.span=>
            {
                static PATTERN: ::schema_core::__private::OnceLock<::schema_core::__private::Regex> = ::schema_core::__private::OnceLock::new();
                let regex = PATTERN.get_or_init(|| ::schema_core::__private::Regex::new(#text).expect("checked when the derive expanded"));
                ::schema_core::constraint::check_pattern::<#ty>(value, regex)?;
            }
        });
    }
    if let Some(helper) = items_helper(field) {
        let span = first_span([&attrs.min_items, &attrs.max_items]);
        let ty = respan(inner, span);
        let (min, max) = (
            option_usize(attrs.min_items.as_ref().map(|b| b.value)),
            option_usize(attrs.max_items.as_ref().map(|b| b.value)),
        );
        checks.push(quote_spanned! {span=>
            let _ = #helper;
            ::schema_core::constraint::check_items::<#ty>(value, #min, #max)?;
        });
    }
    let constraints = if checks.is_empty() {
        quote!()
    } else if field.option_inner().is_some() {
        quote!(if let ::core::option::Option::Some(value) = value { #(#checks)* })
    } else {
        quote!(#(#checks)*)
    };
    let validator = attrs.validate.as_ref().map(|v| {
        let path = &v.value;
        quote_spanned!(v.span=> #path(value)?;)
    });
    quote! { #constraints #validator }
}

/// JSON Schema keywords for a field's constraints, as statements adding them to `schema`.
fn field_keywords(field: &Field<'_>) -> TokenStream {
    let attrs = &field.attrs;
    let inner = field.constrained_ty();
    let mut parts = Vec::new();
    if let Some(helper) = range_helper(field) {
        let bound = |b: &Option<Spanned<Literal>>| match b {
            Some(b) => {
                let json = literal_json(&b.value, &b.lit);
                quote!(::core::option::Option::Some(&::schema_core::constraint::bound::<#inner>(#json)))
            }
            None => quote!(::core::option::Option::None),
        };
        let (min, max) = (bound(&attrs.min), bound(&attrs.max));
        parts.push(quote!(#helper(#min, #max)));
    }
    if attrs.min_len.is_some() || attrs.max_len.is_some() {
        let (min, max) = (
            option_usize(attrs.min_len.as_ref().map(|b| b.value)),
            option_usize(attrs.max_len.as_ref().map(|b| b.value)),
        );
        parts.push(quote!(::schema_core::constraint::len_keywords(#min, #max)));
    }
    if let Some(pattern) = &attrs.pattern {
        let text = &pattern.value;
        parts.push(quote!(::schema_core::constraint::pattern_keywords(#text)));
    }
    if let Some(helper) = items_helper(field) {
        let (min, max) = (
            option_usize(attrs.min_items.as_ref().map(|b| b.value)),
            option_usize(attrs.max_items.as_ref().map(|b| b.value)),
        );
        parts.push(quote!(#helper(#min, #max)));
    }
    quote! { #( ::schema_core::constraint::add_keywords(&mut schema, #parts); )* }
}

fn expand_struct(container: &Container<'_>, fields: &[Field<'_>]) -> TokenStream {
    let ident = container.ident;
    let ident_text = ident.to_string();
    let description = &container.doc;
    let keys: Vec<&str> = fields.iter().map(|f| f.key.as_str()).collect();
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| f.ident).collect();
    let tys: Vec<&syn::Type> = fields.iter().map(|f| f.ty).collect();

    let map_fields = fields.iter().map(|field| {
        let (name, ty, key) = (field.ident, field.ty, &field.key);
        let default = match &field.attrs.default {
            None => quote!(::core::option::Option::None),
            Some(default) => match &default.value {
                Default::Trait => quote!(::core::option::Option::Some(&|_| ::core::option::Option::Some(<#ty as ::core::default::Default>::default()))),
                Default::Function(path) => {
                    let call = default_call(path, ty);
                    quote!(::core::option::Option::Some(&|_| ::core::option::Option::Some(#call)))
                }
                Default::Literal(literal) => {
                    let json = literal_json(literal, &default.lit);
                    quote!(::core::option::Option::Some(&|cx: &mut ::schema_core::MapCx<'v>| cx.literal_default::<#ty>(#json)))
                }
            },
        };
        let checks = field_checks(field);
        quote! {
            let #name = cx.field::<#ty>(map, value, #key, #default, &|value: &#ty| -> ::core::result::Result<(), ::std::string::String> {
                let _ = value;
                #checks
                ::core::result::Result::Ok(())
            });
        }
    });

    let container_check = container.attrs.validate.as_ref().map(|v| {
        let path = &v.value;
        quote_spanned! {v.span=>
            if !cx.container_check(value, &result, #path) {
                return ::core::option::Option::None;
            }
        }
    });

    let schema_fields = fields.iter().map(|field| {
        let (ty, key, doc) = (field.ty, &field.key, &field.doc);
        let default = match &field.attrs.default {
            // An optional field without a declared default is null when absent: say so.
            None if field.option_inner().is_some() => {
                quote!(::core::option::Option::Some(::schema_core::__private::serde_json::Value::Null))
            }
            None => quote!(::core::option::Option::None),
            Some(default) => match &default.value {
                Default::Trait => quote!(::core::option::Option::Some(<#ty as ::schema_core::Schema>::to_json(&<#ty as ::core::default::Default>::default()))),
                Default::Function(path) => {
                    let call = default_call(path, ty);
                    quote!(::core::option::Option::Some(<#ty as ::schema_core::Schema>::to_json(&#call)))
                }
                Default::Literal(literal) => {
                    let json = literal_json(literal, &default.lit);
                    quote!(::core::option::Option::Some(#json))
                }
            },
        };
        let keywords = field_keywords(field);
        quote! {
            {
                let mut schema = <#ty as ::schema_core::Schema>::json_schema(generator);
                #keywords
                ::schema_core::json_schema::annotate(&mut schema, #doc, #default);
                properties.insert(#key.into(), schema);
            }
        }
    });
    let required: Vec<&str> = fields.iter().filter(|f| !f.has_default()).map(|f| f.key.as_str()).collect();

    let default_impl = fields.iter().all(Field::has_default).then(|| {
        quote! {
            /// Every field at its default: what an empty mapping maps to.
            impl ::core::default::Default for #ident {
                fn default() -> Self {
                    let empty = ::schema_core::Value::new(::schema_core::Kind::Map(::core::default::Default::default()));
                    match ::schema_core::map_document::<Self>(&empty) {
                        ::core::result::Result::Ok(value) => value,
                        ::core::result::Result::Err(report) => ::core::panic!("invalid declared defaults of {}: {}", #ident_text, report),
                    }
                }
            }
        }
    });

    let resolve = expand_struct_resolve(container, fields);
    let serialize = serialize_via_to_json(ident);

    quote! {
        impl ::schema_core::Schema for #ident {
            fn map<'v>(value: &'v ::schema_core::Value, cx: &mut ::schema_core::MapCx<'v>) -> ::core::option::Option<Self> {
                const FIELDS: &[&str] = &[#(#keys),*];
                let map = cx.struct_map::<Self>(value, FIELDS)?;
                #(#map_fields)*
                let (#(::core::option::Option::Some(#idents),)*) = (#(#idents,)*) else {
                    return ::core::option::Option::None;
                };
                let result = #ident { #(#idents),* };
                #container_check
                ::core::option::Option::Some(result)
            }

            fn json_schema(generator: &mut ::schema_core::json_schema::SchemaGen) -> ::schema_core::__private::serde_json::Value {
                generator.definition(#ident_text, |generator| {
                    let mut properties = ::schema_core::__private::serde_json::Map::new();
                    #(#schema_fields)*
                    let mut object = ::schema_core::__private::serde_json::Map::new();
                    object.insert("type".into(), "object".into());
                    if !#description.is_empty() {
                        object.insert("description".into(), #description.into());
                    }
                    object.insert("properties".into(), ::schema_core::__private::serde_json::Value::Object(properties));
                    let required: &[&str] = &[#(#required),*];
                    if !required.is_empty() {
                        object.insert("required".into(), required.iter().map(|k| ::schema_core::__private::serde_json::Value::from(*k)).collect());
                    }
                    object.insert("additionalProperties".into(), false.into());
                    ::schema_core::__private::serde_json::Value::Object(object)
                })
            }

            fn to_json(&self) -> ::schema_core::__private::serde_json::Value {
                let mut object = ::schema_core::__private::serde_json::Map::new();
                #( object.insert(#keys.into(), <#tys as ::schema_core::Schema>::to_json(&self.#idents)); )*
                ::schema_core::__private::serde_json::Value::Object(object)
            }

            fn expecting() -> ::std::string::String {
                "a mapping".into()
            }

            fn accepts(kind: &::schema_core::Kind) -> bool {
                ::core::matches!(kind, ::schema_core::Kind::Map(_))
            }
        }
        #default_impl
        #resolve
        #serialize
    }
}

fn serialize_via_to_json(ident: &syn::Ident) -> TokenStream {
    quote! {
        impl ::schema_core::__private::serde::Serialize for #ident {
            fn serialize<S: ::schema_core::__private::serde::Serializer>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error> {
                ::schema_core::__private::serde::Serialize::serialize(&<Self as ::schema_core::Schema>::to_json(self), serializer)
            }
        }
    }
}

/// Pass 2 for a struct: each field resolves (through its resolver, or its type's own
/// `Resolve`), every problem is collected, and the resolved struct is built.
fn expand_struct_resolve(container: &Container<'_>, fields: &[Field<'_>]) -> TokenStream {
    let ident = container.ident;
    let (output, generated) = match &container.attrs.resolved {
        None => (quote!(#ident), quote!()),
        Some(resolved) => {
            let name = &resolved.value;
            let vis = container.vis;
            let doc = format!("Resolved form of [`{ident}`] (generated by `#[derive(Schema)]`).");
            let field_defs = fields.iter().map(|field| {
                let (fname, ty, key) = (field.ident, field.ty, &field.key);
                let field_doc = &field.doc;
                let out_ty = match &field.attrs.into {
                    Some(into) => {
                        let t = &into.value;
                        quote!(#t)
                    }
                    None => quote!(<#ty as ::schema_core::Resolve>::Output),
                };
                quote! {
                    #[doc = #field_doc]
                    #[serde(rename = #key)]
                    pub #fname: #out_ty
                }
            });
            (
                quote!(#name),
                quote! {
                    #[doc = #doc]
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, ::schema_core::__private::serde::Serialize)]
                    #[serde(crate = "::schema_core::__private::serde")]
                    #vis struct #name {
                        #(#field_defs,)*
                    }
                },
            )
        }
    };
    let idents: Vec<&syn::Ident> = fields.iter().map(|f| f.ident).collect();
    let resolve_fields = fields.iter().map(|field| {
        let (fname, ty, key) = (field.ident, field.ty, &field.key);
        match &field.attrs.resolve {
            Some(resolver) => {
                let path = &resolver.value;
                quote_spanned! {resolver.span=>
                    let #fname = ::schema_core::resolve::resolve_field(cx, #key, &self.#fname, self, #path);
                }
            }
            None => quote! {
                let #fname = cx.at_key(#key, |cx| <#ty as ::schema_core::Resolve>::resolve(&self.#fname, cx));
            },
        }
    });
    let tmp: Vec<syn::Ident> = idents.iter().map(|i| format_ident!("{}", i)).collect();
    quote! {
        #generated
        impl ::schema_core::Resolve for #ident {
            type Output = #output;
            fn resolve(&self, cx: &mut ::schema_core::ResolveCx<'_>) -> ::core::option::Option<#output> {
                #(#resolve_fields)*
                let (#(::core::option::Option::Some(#tmp),)*) = (#(#tmp,)*) else {
                    return ::core::option::Option::None;
                };
                ::core::option::Option::Some(#output { #(#idents),* })
            }
        }
    }
}

fn expand_enum(container: &Container<'_>, variants: &[Variant<'_>]) -> TokenStream {
    let ident = container.ident;
    let description = &container.doc;
    let units: Vec<&Variant<'_>> = variants.iter().filter(|v| v.ty.is_none()).collect();
    let members: Vec<&Variant<'_>> = variants.iter().filter(|v| v.ty.is_some()).collect();
    let unit_names: Vec<&str> = units.iter().map(|v| v.name.as_str()).collect();
    let unit_idents: Vec<&syn::Ident> = units.iter().map(|v| v.ident).collect();
    let member_idents: Vec<&syn::Ident> = members.iter().map(|v| v.ident).collect();
    let member_tys: Vec<&syn::Type> = members.iter().filter_map(|v| v.ty).collect();

    let map_body = if members.is_empty() {
        quote! {
            match &value.kind {
                ::schema_core::Kind::Str(s) => match s.as_str() {
                    #( #unit_names => ::core::option::Option::Some(Self::#unit_idents), )*
                    other => {
                        cx.error(&value.span, ::schema_core::types::builtin::unknown_choice(other, NAMES));
                        ::core::option::Option::None
                    }
                },
                _ => {
                    cx.mismatch::<Self>(value);
                    ::core::option::Option::None
                }
            }
        }
    } else {
        quote! {
            if let ::schema_core::Kind::Str(s) = &value.kind {
                match s.as_str() {
                    #( #unit_names => return ::core::option::Option::Some(Self::#unit_idents), )*
                    _ => {}
                }
            }
            let mut blamed: ::core::option::Option<::std::vec::Vec<::schema_core::Problem>> = ::core::option::Option::None;
            #(
                if <#member_tys as ::schema_core::Schema>::accepts(&value.kind) {
                    let checkpoint = cx.checkpoint();
                    let mapped = <#member_tys as ::schema_core::Schema>::map(value, cx);
                    let problems = cx.rollback(checkpoint);
                    match mapped {
                        ::core::option::Option::Some(inner) if problems.is_empty() => return ::core::option::Option::Some(Self::#member_idents(inner)),
                        _ => if blamed.is_none() { blamed = ::core::option::Option::Some(problems); },
                    }
                }
            )*
            match blamed {
                ::core::option::Option::Some(problems) => cx.restore(problems),
                ::core::option::Option::None => cx.mismatch::<Self>(value),
            }
            ::core::option::Option::None
        }
    };

    let unit_docs: Vec<&str> = units.iter().map(|v| v.doc.as_str()).collect();
    let schema = if members.is_empty() {
        quote! {
            let mut object = ::schema_core::__private::serde_json::Map::new();
            object.insert("type".into(), "string".into());
            object.insert("enum".into(), NAMES.iter().map(|n| ::schema_core::__private::serde_json::Value::from(*n)).collect());
            if !#description.is_empty() {
                object.insert("description".into(), #description.into());
            }
            ::schema_core::__private::serde_json::Value::Object(object)
        }
    } else {
        quote! {
            let mut branches: ::std::vec::Vec<::schema_core::__private::serde_json::Value> = ::std::vec::Vec::new();
            #(
                {
                    let mut branch = ::schema_core::__private::serde_json::json!({"const": #unit_names});
                    if !#unit_docs.is_empty() {
                        branch["description"] = #unit_docs.into();
                    }
                    branches.push(branch);
                }
            )*
            #( branches.push(<#member_tys as ::schema_core::Schema>::json_schema(generator)); )*
            let mut object = ::schema_core::__private::serde_json::Map::new();
            object.insert("anyOf".into(), ::schema_core::__private::serde_json::Value::Array(branches));
            if !#description.is_empty() {
                object.insert("description".into(), #description.into());
            }
            ::schema_core::__private::serde_json::Value::Object(object)
        }
    };
    let expecting = if members.is_empty() {
        quote!(::std::format!(
            "one of {}",
            NAMES.iter().map(|n| ::std::format!("\"{n}\"")).collect::<::std::vec::Vec<_>>().join(", ")
        ))
    } else {
        quote! {
            {
                let mut options: ::std::vec::Vec<::std::string::String> = NAMES.iter().map(|n| ::std::format!("\"{n}\"")).collect();
                #( options.push(<#member_tys as ::schema_core::Schema>::expecting()); )*
                options.join(" or ")
            }
        }
    };
    let accepts = if members.is_empty() {
        quote!(::core::matches!(kind, ::schema_core::Kind::Str(_)))
    } else {
        let unit_accepts =
            if units.is_empty() { quote!(false) } else { quote!(::core::matches!(kind, ::schema_core::Kind::Str(_))) };
        quote!(#unit_accepts #( || <#member_tys as ::schema_core::Schema>::accepts(kind) )*)
    };
    let ident_text = ident.to_string();
    let serialize = serialize_via_to_json(ident);

    quote! {
        impl #ident {
            /// The document names of the string values of this type.
            pub const NAMES: &'static [&'static str] = &[#(#unit_names),*];
        }

        impl ::schema_core::Schema for #ident {
            fn map<'v>(value: &'v ::schema_core::Value, cx: &mut ::schema_core::MapCx<'v>) -> ::core::option::Option<Self> {
                const NAMES: &[&str] = &[#(#unit_names),*];
                let _ = NAMES;
                #map_body
            }

            fn json_schema(generator: &mut ::schema_core::json_schema::SchemaGen) -> ::schema_core::__private::serde_json::Value {
                const NAMES: &[&str] = &[#(#unit_names),*];
                generator.definition(#ident_text, |generator| {
                    let _ = &generator;
                    #schema
                })
            }

            fn to_json(&self) -> ::schema_core::__private::serde_json::Value {
                match self {
                    #( Self::#unit_idents => ::schema_core::__private::serde_json::Value::from(#unit_names), )*
                    #( Self::#member_idents(inner) => <#member_tys as ::schema_core::Schema>::to_json(inner), )*
                }
            }

            fn expecting() -> ::std::string::String {
                const NAMES: &[&str] = &[#(#unit_names),*];
                #expecting
            }

            fn accepts(kind: &::schema_core::Kind) -> bool {
                #accepts
            }
        }

        impl ::schema_core::Resolve for #ident {
            type Output = Self;
            fn resolve(&self, cx: &mut ::schema_core::ResolveCx<'_>) -> ::core::option::Option<Self> {
                let _ = &cx;
                match self {
                    #( Self::#unit_idents => ::core::option::Option::Some(Self::#unit_idents), )*
                    #( Self::#member_idents(inner) => <#member_tys as ::schema_core::Resolve>::resolve(inner, cx).map(Self::#member_idents), )*
                }
            }
        }

        #serialize
    }
}
