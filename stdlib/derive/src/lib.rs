//! `#[derive(Component)]`: turns a documented Rust struct into a sam3c component signature.
//!
//! (Skeleton: accepts the attributes; the signature generation lands with the catalog.)

use proc_macro::TokenStream;

#[proc_macro_derive(Component, attributes(component, param))]
pub fn derive_component(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}

#[proc_macro_derive(DslEnum, attributes(dsl))]
pub fn derive_dsl_enum(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
