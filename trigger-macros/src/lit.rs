//! Parsing of `key = value` pairs into spanned arguments, shared by both macros.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::{LitBool, Token};

use crate::diag::Errors;

/// One argument value, kept with the key's span so duplicates point at the second key.
pub(crate) struct Arg<T> {
    pub(crate) key_span: Span,
    pub(crate) value: T,
}

/// Parses `= value` after a key and stores it, reporting a duplicate key on its second use.
pub(crate) fn assign<T: syn::parse::Parse>(
    input: ParseStream<'_>,
    slot: &mut Option<Arg<T>>,
    key_span: Span,
    key: &str,
    errors: &mut Errors,
) -> syn::Result<()> {
    input.parse::<Token![=]>()?;
    let value = input.parse::<T>()?;
    if slot.is_some() {
        errors.at(key_span, format_args!("`{key}` specified more than once"));
    } else {
        *slot = Some(Arg { key_span, value });
    }
    Ok(())
}

/// Builds the error listing the arguments that a macro accepts.
pub(crate) fn unknown(input: ParseStream<'_>, expected: &[&str]) -> syn::Error {
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let span = input.span();
    let found = input
        .fork()
        .parse::<proc_macro2::TokenTree>()
        .map(|t| t.to_string())
        .unwrap_or_default();
    if found.is_empty() {
        syn::Error::new(
            span,
            format!("expected an argument; expected one of {list}"),
        )
    } else {
        syn::Error::new(
            span,
            format!("unknown argument `{found}`; expected one of {list}"),
        )
    }
}

/// The value of a boolean argument.
pub(crate) fn boolean(arg: &Option<Arg<LitBool>>, default: bool) -> bool {
    arg.as_ref().map_or(default, |a| a.value.value)
}

/// Parses a comma-separated argument list, calling `one` for each argument.
pub(crate) fn parse_list(
    input: ParseStream<'_>,
    mut one: impl FnMut(ParseStream<'_>) -> syn::Result<()>,
) -> syn::Result<()> {
    while !input.is_empty() {
        one(input)?;
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}
