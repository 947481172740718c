//! `#[job(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitInt, LitStr, Token};

use crate::diag::Errors;
use crate::kw;
use crate::lit::{Arg, assign, parse_list, unknown};

const EXPECTED: &[&str] = &[
    "id",
    "name",
    "version",
    "enabled",
    "trigger",
    "retries",
    "backoff",
    "timeout",
    "concurrency",
    "crate",
];

/// Everything written inside `#[job(...)]`, each value with its key's span.
#[derive(Default)]
pub(crate) struct JobArgs {
    pub(crate) id: Option<Arg<LitStr>>,
    pub(crate) name: Option<Arg<LitStr>>,
    pub(crate) version: Option<Arg<LitStr>>,
    pub(crate) enabled: Option<Arg<LitBool>>,
    pub(crate) trigger: Option<Arg<syn::Path>>,
    pub(crate) retries: Option<Arg<LitInt>>,
    pub(crate) backoff: Option<Arg<LitStr>>,
    pub(crate) timeout: Option<Arg<LitStr>>,
    pub(crate) concurrency: Option<Arg<LitInt>>,
    pub(crate) krate: Option<Arg<syn::Path>>,
    /// Unknown, malformed and duplicate arguments: reported with the validation errors.
    pub(crate) errors: Errors,
    /// An argument could not be parsed, so missing arguments are not reported.
    pub(crate) malformed: bool,
}

impl Parse for JobArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        let list = parse_list(input, |input, e| {
            let span = input.span();
            if input.peek(kw::id) {
                input.parse::<kw::id>()?;
                assign(input, &mut args.id, span, "id", e)
            } else if input.peek(kw::name) {
                input.parse::<kw::name>()?;
                assign(input, &mut args.name, span, "name", e)
            } else if input.peek(kw::version) {
                input.parse::<kw::version>()?;
                assign(input, &mut args.version, span, "version", e)
            } else if input.peek(kw::enabled) {
                input.parse::<kw::enabled>()?;
                assign(input, &mut args.enabled, span, "enabled", e)
            } else if input.peek(kw::trigger) {
                input.parse::<kw::trigger>()?;
                assign(input, &mut args.trigger, span, "trigger", e)
            } else if input.peek(kw::retries) {
                input.parse::<kw::retries>()?;
                assign(input, &mut args.retries, span, "retries", e)
            } else if input.peek(kw::backoff) {
                input.parse::<kw::backoff>()?;
                assign(input, &mut args.backoff, span, "backoff", e)
            } else if input.peek(kw::timeout) {
                input.parse::<kw::timeout>()?;
                assign(input, &mut args.timeout, span, "timeout", e)
            } else if input.peek(kw::concurrency) {
                input.parse::<kw::concurrency>()?;
                assign(input, &mut args.concurrency, span, "concurrency", e)
            } else if input.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                assign(input, &mut args.krate, span, "crate", e)
            } else {
                Err(unknown(input, EXPECTED))
            }
        });
        args.errors = list.errors;
        args.malformed = list.malformed;
        Ok(args)
    }
}
