//! `#[http_endpoint(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitStr, Token};

use crate::diag::Errors;
use crate::kw;
use crate::lit::{Arg, assign, parse_list, unknown};

const EXPECTED: &[&str] = &[
    "id",
    "source",
    "icon",
    "title",
    "enabled",
    "header",
    "algorithm",
    "encoding",
    "prefix",
    "secret",
    "crate",
];

/// Everything written inside `#[http_endpoint(...)]`, each value with its key's span.
#[derive(Default)]
pub(crate) struct EndpointArgs {
    pub(crate) id: Option<Arg<LitStr>>,
    pub(crate) source: Option<Arg<LitStr>>,
    pub(crate) icon: Option<Arg<LitStr>>,
    pub(crate) title: Option<Arg<LitStr>>,
    pub(crate) enabled: Option<Arg<LitBool>>,
    pub(crate) header: Option<Arg<LitStr>>,
    pub(crate) algorithm: Option<Arg<LitStr>>,
    pub(crate) encoding: Option<Arg<LitStr>>,
    pub(crate) prefix: Option<Arg<LitStr>>,
    pub(crate) secret: Option<Arg<LitStr>>,
    pub(crate) krate: Option<Arg<syn::Path>>,
    /// Unknown, malformed and duplicate arguments: reported with the validation errors.
    pub(crate) errors: Errors,
    /// An argument could not be parsed, so missing arguments are not reported.
    pub(crate) malformed: bool,
}

impl Parse for EndpointArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Self::default();
        let list = parse_list(input, |input, e| {
            let span = input.span();
            if input.peek(kw::id) {
                input.parse::<kw::id>()?;
                assign(input, &mut args.id, span, "id", e)
            } else if input.peek(kw::source) {
                input.parse::<kw::source>()?;
                assign(input, &mut args.source, span, "source", e)
            } else if input.peek(kw::icon) {
                input.parse::<kw::icon>()?;
                assign(input, &mut args.icon, span, "icon", e)
            } else if input.peek(kw::title) {
                input.parse::<kw::title>()?;
                assign(input, &mut args.title, span, "title", e)
            } else if input.peek(kw::enabled) {
                input.parse::<kw::enabled>()?;
                assign(input, &mut args.enabled, span, "enabled", e)
            } else if input.peek(kw::header) {
                input.parse::<kw::header>()?;
                assign(input, &mut args.header, span, "header", e)
            } else if input.peek(kw::algorithm) {
                input.parse::<kw::algorithm>()?;
                assign(input, &mut args.algorithm, span, "algorithm", e)
            } else if input.peek(kw::encoding) {
                input.parse::<kw::encoding>()?;
                assign(input, &mut args.encoding, span, "encoding", e)
            } else if input.peek(kw::prefix) {
                input.parse::<kw::prefix>()?;
                assign(input, &mut args.prefix, span, "prefix", e)
            } else if input.peek(kw::secret) {
                input.parse::<kw::secret>()?;
                assign(input, &mut args.secret, span, "secret", e)
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
