//! Error accumulation: every problem is reported, each on its own token.

use proc_macro2::TokenStream;
use quote::ToTokens;

/// Collects errors so one expansion can report all of them at once.
#[derive(Default)]
pub(crate) struct Errors {
    inner: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.inner {
            Some(existing) => existing.combine(error),
            None => self.inner = Some(error),
        }
    }

    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub(crate) fn at(&mut self, span: proc_macro2::Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.inner.map_or(Ok(()), Err)
    }
}

/// The user's item followed by the errors, so that other diagnostics about the item stay sane.
pub(crate) fn with_item(item: TokenStream, error: &syn::Error) -> TokenStream {
    let mut out = item;
    out.extend(error.to_compile_error());
    out
}

/// Prints the expansion when `TRIGGER_MACROS_DEBUG` is set, to debug generated code.
pub(crate) fn debug(macro_name: &str, tokens: &TokenStream) {
    if std::env::var_os("TRIGGER_MACROS_DEBUG").is_some() {
        eprintln!("#[{macro_name}] expansion:\n{tokens}\n");
    }
}
