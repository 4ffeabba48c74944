//! Derives that turn documented Rust types into sam3c signatures, so that one struct is the single source of
//! truth of a component: the compiler reads its signature (names, types, units, defaults, ranges, docs, upstream
//! target), the runtime deserializes its configuration into it.
//!
//! * `#[derive(Component)]` on a struct with named fields:
//!   `#[component(kind = "transform", name = "pad", domain = "any", upstream = "sam3....PadToSizeAPI")]` on the
//!   struct; `#[param(positional, variadic, default = "1008px", range = "0..=1", upstream = "size")]` on fields.
//!   The doc comments become the documentation. Field types give the parameter types (`DslType`).
//! * `#[derive(DslUnion)]` on an enum whose variants each hold one value: a value of any of those types.
//! * `#[derive(DslEnum)]` on an enum of unit variants: one of these words (spelled as serde spells them).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::{parse_macro_input, Attribute, Data, DeriveInput, Expr, Fields, Lit, Meta};

#[proc_macro_derive(Component, attributes(component, param))]
pub fn derive_component(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match component(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[proc_macro_derive(DslUnion)]
pub fn derive_dsl_union(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match union(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

#[proc_macro_derive(DslEnum, attributes(dsl))]
pub fn derive_dsl_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match dsl_enum(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The doc comments of an item, joined; blank doc lines become paragraph breaks.
fn docs(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(syn::ExprLit {
                lit: Lit::Str(s), ..
            }) = &nv.value
            {
                let v = s.value();
                lines.push(v.strip_prefix(' ').unwrap_or(&v).to_string());
            }
        }
    }
    // Join wrapped lines into paragraphs; keep blank lines as paragraph breaks.
    let mut out = String::new();
    for line in lines {
        if line.trim().is_empty() {
            out.push_str("\n\n");
        } else {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push(if line.starts_with("* ") || line.starts_with("- ") {
                    '\n'
                } else {
                    ' '
                });
            }
            out.push_str(line.trim_end());
        }
    }
    out.trim().to_string()
}

#[derive(Default)]
struct KeyValues {
    strings: Vec<(String, String, proc_macro2::Span)>,
    flags: Vec<(String, proc_macro2::Span)>,
}

impl KeyValues {
    fn get(&self, key: &str) -> Option<&str> {
        self.strings
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.as_str())
    }

    fn flag(&self, key: &str) -> bool {
        self.flags.iter().any(|(k, _)| k == key)
    }

    fn check(&self, allowed_strings: &[&str], allowed_flags: &[&str]) -> syn::Result<()> {
        for (k, _, span) in &self.strings {
            if !allowed_strings.contains(&k.as_str()) {
                return Err(syn::Error::new(
                    *span,
                    format!("unknown key `{k}`; expected one of {allowed_strings:?}"),
                ));
            }
        }
        for (k, span) in &self.flags {
            if !allowed_flags.contains(&k.as_str()) {
                return Err(syn::Error::new(
                    *span,
                    format!("unknown flag `{k}`; expected one of {allowed_flags:?}"),
                ));
            }
        }
        Ok(())
    }
}

/// Parse `#[name(key = "value", flag, ...)]` attributes.
fn key_values(attrs: &[Attribute], name: &str) -> syn::Result<KeyValues> {
    let mut kv = KeyValues::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let span = meta
                .path
                .get_ident()
                .map(|i| i.span())
                .unwrap_or_else(proc_macro2::Span::call_site);
            if meta.input.peek(syn::Token![=]) {
                let value: syn::LitStr = meta.value()?.parse()?;
                kv.strings.push((key, value.value(), span));
            } else {
                kv.flags.push((key, span));
            }
            Ok(())
        })?;
    }
    Ok(kv)
}

fn opt(v: Option<&str>) -> TokenStream2 {
    match v {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

fn component(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let attrs = key_values(&input.attrs, "component")?;
    attrs.check(&["kind", "name", "domain", "upstream"], &[])?;
    let err = |m: &str| syn::Error::new_spanned(ident, m.to_string());
    let name = attrs
        .get("name")
        .ok_or_else(|| err("#[component(name = \"...\")] is required"))?;
    let kind = attrs
        .get("kind")
        .ok_or_else(|| err("#[component(kind = \"...\")] is required"))?;
    let domain = attrs.get("domain").unwrap_or("any");
    const KINDS: &[&str] = &[
        "dataset",
        "sampler",
        "transform",
        "model",
        "loss",
        "loss_term",
        "matcher",
        "optimizer",
        "schedule",
        "meter",
        "postprocess",
        "value",
        "stage",
        "evaluation",
        "experiment",
        "resources",
        "cluster",
    ];
    if !KINDS.contains(&kind) {
        return Err(err(&format!(
            "unknown kind `{kind}`; expected one of {KINDS:?}"
        )));
    }
    if !["image", "video", "any"].contains(&domain) {
        return Err(err("domain must be \"image\", \"video\" or \"any\""));
    }
    let upstream = opt(attrs.get("upstream"));
    let doc = docs(&input.attrs);
    if doc.is_empty() {
        return Err(err(
            "a component needs a doc comment: it is the user's documentation",
        ));
    }
    let Data::Struct(data) = &input.data else {
        return Err(err("#[derive(Component)] needs a struct"));
    };
    let mut params = Vec::new();
    let mut seen_named = false;
    match &data.fields {
        Fields::Named(fields) => {
            for f in &fields.named {
                let fname = f.ident.as_ref().unwrap().to_string();
                let p = key_values(&f.attrs, "param")?;
                p.check(
                    &["default", "range", "upstream"],
                    &["positional", "variadic"],
                )?;
                let fdoc = docs(&f.attrs);
                if fdoc.is_empty() {
                    return Err(syn::Error::new_spanned(
                        f,
                        "every parameter needs a doc comment",
                    ));
                }
                let positional = p.flag("positional") || p.flag("variadic");
                if positional && seen_named {
                    return Err(syn::Error::new_spanned(
                        f,
                        "positional parameters must come first",
                    ));
                }
                seen_named |= !positional;
                let ty = &f.ty;
                let default = opt(p.get("default"));
                let range = opt(p.get("range"));
                let up = opt(p.get("upstream"));
                let variadic = p.flag("variadic");
                params.push(quote! {
                    ::sam3c_stdlib::catalog::ParamSig {
                        name: #fname,
                        ty: <#ty as ::sam3c_stdlib::catalog::DslType>::desc(),
                        default: #default,
                        range: #range,
                        doc: #fdoc,
                        upstream: #up,
                        positional: #positional,
                        variadic: #variadic,
                    }
                });
            }
        }
        Fields::Unit => {}
        Fields::Unnamed(_) => return Err(err("#[derive(Component)] needs named fields")),
    }
    let kind_ident = syn::Ident::new(&camel(kind), proc_macro2::Span::call_site());
    let domain_ident = syn::Ident::new(&camel(domain), proc_macro2::Span::call_site());
    let rust_type = ident.to_string();
    Ok(quote! {
        impl ::sam3c_stdlib::catalog::Component for #ident {
            fn signature() -> ::sam3c_stdlib::catalog::ComponentSig {
                ::sam3c_stdlib::catalog::ComponentSig {
                    name: #name,
                    kind: ::sam3c_stdlib::catalog::Kind::#kind_ident,
                    domain: ::sam3c_stdlib::catalog::Domain::#domain_ident,
                    upstream: #upstream,
                    doc: #doc,
                    params: ::std::vec![#(#params),*],
                    rust_type: #rust_type,
                }
            }
        }
        impl ::sam3c_stdlib::catalog::DslType for #ident {
            fn desc() -> ::sam3c_stdlib::catalog::TypeDesc {
                ::sam3c_stdlib::catalog::TypeDesc::Component { name: #name }
            }
        }
    })
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn union(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            "#[derive(DslUnion)] needs an enum",
        ));
    };
    let name = ident.to_string();
    let mut alts = Vec::new();
    for v in &data.variants {
        let Fields::Unnamed(f) = &v.fields else {
            return Err(syn::Error::new_spanned(
                v,
                "each variant of a DslUnion holds exactly one value",
            ));
        };
        if f.unnamed.len() != 1 {
            return Err(syn::Error::new_spanned(
                v,
                "each variant of a DslUnion holds exactly one value",
            ));
        }
        let vname = v.ident.to_string();
        let ty = &f.unnamed[0].ty;
        alts.push(quote!((#vname, <#ty as ::sam3c_stdlib::catalog::DslType>::desc())));
    }
    Ok(quote! {
        impl ::sam3c_stdlib::catalog::DslType for #ident {
            fn desc() -> ::sam3c_stdlib::catalog::TypeDesc {
                ::sam3c_stdlib::catalog::TypeDesc::Union { name: #name, alternatives: ::std::vec![#(#alts),*] }
            }
        }
    })
}

fn dsl_enum(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let ident = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            "#[derive(DslEnum)] needs an enum",
        ));
    };
    // Spell the words as serde does, so that the runtime deserializes what the compiler accepts.
    let mut rename_all: Option<String> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let v: syn::LitStr = meta.value()?.parse()?;
                rename_all = Some(v.value());
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::LitStr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    let mut words = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(
                v,
                "#[derive(DslEnum)] needs unit variants",
            ));
        }
        let mut word = v.ident.to_string();
        match rename_all.as_deref() {
            Some("lowercase") => word = word.to_lowercase(),
            Some("snake_case") => word = snake(&word),
            None => {}
            Some(other) => {
                return Err(syn::Error::new_spanned(
                    ident,
                    format!("serde rename_all = {other:?} is not supported"),
                ))
            }
        }
        for attr in v.attrs.iter().filter(|a| a.path().is_ident("serde")) {
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    let v: syn::LitStr = meta.value()?.parse()?;
                    word = v.value();
                }
                Ok(())
            });
        }
        words.push(word);
    }
    let name = ident.to_string();
    Ok(quote! {
        impl ::sam3c_stdlib::catalog::DslType for #ident {
            fn desc() -> ::sam3c_stdlib::catalog::TypeDesc {
                ::sam3c_stdlib::catalog::TypeDesc::Enum { name: #name, variants: ::std::vec![#(#words),*] }
            }
        }
    })
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
