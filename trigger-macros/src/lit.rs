//! Parsing of `key = value` pairs into spanned arguments, shared by both macros.

use proc_macro2::{Span, TokenTree};
use syn::parse::ParseStream;
use syn::{LitBool, LitStr, Token};

use crate::diag::Errors;

/// Declares a macro's arguments, one line each, and generates from that one table both the
/// struct that holds them (each value with its key's span, see [`Arg`]) and its `Parse` impl,
/// which peeks each keyword in turn and lists them all in the "unknown argument" error.
///
/// A line is `field: ValueType = "written" keyword,`, where `keyword` is a
/// `syn::custom_keyword!` from `kw`, or a `syn::token` type such as `syn::token::Crate`.
macro_rules! arguments {
    (
        $(#[$attr:meta])*
        $vis:vis struct $name:ident {
            $($field:ident: $ty:ty = $key:literal $token:path,)*
        }
    ) => {
        $(#[$attr])*
        #[derive(Default)]
        $vis struct $name {
            $(pub(crate) $field: ::core::option::Option<$crate::lit::Arg<$ty>>,)*
            /// Unknown, malformed and duplicate arguments: reported with the validation errors.
            pub(crate) errors: $crate::diag::Errors,
            /// An argument could not be parsed, so missing arguments are not reported.
            pub(crate) malformed: bool,
        }

        impl ::syn::parse::Parse for $name {
            fn parse(input: ::syn::parse::ParseStream<'_>) -> ::syn::Result<Self> {
                let mut args = Self::default();
                let list = $crate::lit::parse_list(input, |input, errors| {
                    let span = input.span();
                    $(
                        if input.peek($token) {
                            input.parse::<$token>()?;
                            return $crate::lit::assign(input, &mut args.$field, span, $key, errors);
                        }
                    )*
                    $crate::lit::unknown(input, &[$($key),*])
                });
                args.errors = list.errors;
                args.malformed = list.malformed;
                Ok(args)
            }
        }
    };
}

pub(crate) use arguments;

/// One argument value, kept with the key's span so duplicates point at the second key.
pub(crate) struct Arg<T> {
    pub(crate) key_span: Span,
    pub(crate) value: T,
}

/// What parsing an argument list found wrong, beside the arguments themselves.
#[derive(Default)]
pub(crate) struct ListErrors {
    /// Unknown keys, malformed values and duplicates, in source order.
    pub(crate) errors: Errors,
    /// An argument could not be parsed (an unknown key, a malformed value): a "missing argument"
    /// error would then most likely be a consequence of it, so it is not reported.
    pub(crate) malformed: bool,
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
        errors.at(
            key_span,
            format_args!("duplicate argument `{key}`; remove this one"),
        );
    } else {
        *slot = Some(Arg { key_span, value });
    }
    Ok(())
}

/// The error on an argument that is none of `expected`, listing them.
pub(crate) fn unknown(input: ParseStream<'_>, expected: &[&str]) -> syn::Result<()> {
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    // A fork: the argument is skipped up to the next comma, which may be this very token.
    let found = input.fork().parse::<TokenTree>()?;
    Err(syn::Error::new(
        found.span(),
        format!("unknown argument `{found}`; expected one of {list}"),
    ))
}

/// The value of a required argument, or the error `missing()` that says it is missing. The error
/// is reported too, unless an argument failed to parse (`malformed`): that one was reported, and
/// most likely is why this one is missing.
pub(crate) fn required<T>(
    value: Option<T>,
    malformed: bool,
    errors: &mut Errors,
    missing: impl FnOnce() -> syn::Error,
) -> syn::Result<T> {
    match value {
        Some(value) => Ok(value),
        None if malformed => Err(missing()),
        None => errors.fail(missing()),
    }
}

/// The required `id` argument, checked by `check`; `missing` when it is absent.
pub(crate) fn required_id(
    arg: Option<Arg<LitStr>>,
    malformed: bool,
    errors: &mut Errors,
    missing: &'static str,
    check: fn(&LitStr, &mut Errors),
) -> syn::Result<LitStr> {
    let id = required(arg.map(|a| a.value), malformed, errors, || {
        syn::Error::new(Span::call_site(), missing)
    });
    if let Ok(id) = &id {
        check(id, errors);
    }
    id
}

/// The value of a boolean argument.
pub(crate) fn boolean(arg: Option<&Arg<LitBool>>, default: bool) -> bool {
    arg.map_or(default, |a| a.value.value)
}

/// Parses a comma-separated argument list, calling `one` for each argument. An argument that
/// fails to parse is reported and skipped, so that every mistake in the list is reported at once.
pub(crate) fn parse_list(
    input: ParseStream<'_>,
    mut one: impl FnMut(ParseStream<'_>, &mut Errors) -> syn::Result<()>,
) -> ListErrors {
    let mut list = ListErrors::default();
    while !input.is_empty() {
        let parsed = one(input, &mut list.errors).and_then(|()| {
            if input.is_empty() {
                Ok(())
            } else {
                input.parse::<Token![,]>().map(drop)
            }
        });
        if let Err(error) = parsed {
            list.errors.push(error);
            list.malformed = true;
            // Skip the rest of this argument.
            while !input.is_empty() && !input.peek(Token![,]) {
                let _ = input.parse::<TokenTree>();
            }
            let _ = input.parse::<Option<Token![,]>>();
        }
    }
    list
}

/// Milliseconds in a duration literal: `"500ms"`, `"30s"`, `"5m"`, `"1h"`.
pub(crate) fn duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// A positive integer argument, or an error on it saying what it means.
pub(crate) fn positive(arg: &Arg<syn::LitInt>, meaning: &str, errors: &mut Errors) -> Option<u32> {
    match arg.value.base10_parse::<u32>() {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            errors.spanned(
                &arg.value,
                format_args!("{meaning}; write a whole number from 1, like `3`"),
            );
            None
        }
    }
}
