//! Error accumulation: every problem is reported, each on its own token.

use proc_macro2::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};

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

    /// Reports `error` and returns it, as the result of a check whose value cannot be had.
    /// Validation goes on to report every mistake; the caller's `?` on that result comes after
    /// [`finish`](Self::finish), which returns `error` with the others.
    pub(crate) fn fail<T>(&mut self, error: syn::Error) -> syn::Result<T> {
        self.push(error.clone());
        Err(error)
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

/// `tokens` respanned onto the user's tokens that spanned `first..last` (see [`first_last`]):
/// each token list gets `first` except its last token, which gets `last`. An expression like
/// `path(arg)` then spans exactly the user's tokens, so that a type error in generated code
/// underlines them, without a note about the macro (stable Rust cannot join spans).
pub(crate) fn respan(tokens: TokenStream, (first, last): (Span, Span)) -> TokenStream {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let count = tokens.len();
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let span = if i + 1 == count { last } else { first };
            match token {
                TokenTree::Group(group) => {
                    let stream = respan(group.stream(), (first, last));
                    let mut new = Group::new(group.delimiter(), stream);
                    new.set_span(span);
                    TokenTree::Group(new)
                }
                mut other => {
                    other.set_span(span);
                    other
                }
            }
        })
        .collect()
}

/// `(binding,).0`, the value of a generated binding, spanned like [`respan`] so that a type
/// error underlines the user's tokens `first..last`; the binding itself keeps its span, and so
/// its hygiene (see [`binding`]).
pub(crate) fn spanned_value(binding: &Ident, (first, last): (Span, Span)) -> TokenStream {
    let mut comma = Punct::new(',', Spacing::Alone);
    comma.set_span(first);
    let mut tuple = Group::new(Delimiter::Parenthesis, quote!(#binding #comma));
    tuple.set_span(first);
    let mut dot = Punct::new('.', Spacing::Alone);
    dot.set_span(first);
    let mut field = Literal::usize_unsuffixed(0);
    field.set_span(last);
    quote!(#tuple #dot #field)
}

/// A binding of generated code (a parameter or a local), which the user's tokens cannot name
/// and which cannot name the user's items: a private name, with `mixed_site` hygiene. A user's
/// fn named `request` then stays callable, and a user's static named `io` is not shadowed
/// (a binding cannot shadow a static).
pub(crate) fn binding(name: &str) -> Ident {
    Ident::new(&format!("__trigger_{name}"), Span::mixed_site())
}

/// The spans of the first and last tokens of `tokens`.
pub(crate) fn first_last(tokens: impl ToTokens) -> (Span, Span) {
    let mut spans = tokens.into_token_stream().into_iter().map(|t| t.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    (first, spans.last().unwrap_or(first))
}

/// Prints the expansion when `TRIGGER_MACROS_DEBUG` is set, to debug generated code.
pub(crate) fn debug(macro_name: &str, tokens: &TokenStream) {
    if std::env::var_os("TRIGGER_MACROS_DEBUG").is_some() {
        eprintln!("#[{macro_name}] expansion:\n{tokens}\n");
    }
}
