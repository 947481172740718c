//! `#[http_endpoint(...)]` arguments.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{LitBool, LitStr, Token};

use crate::kw;
use crate::lit::arguments;

arguments! {
    /// Everything written inside `#[http_endpoint(...)]`, each value with its key's span.
    pub(crate) struct EndpointArgs {
        id:               LitStr      = "id"               kw::id,
        source:           LitStr      = "source"           kw::source,
        icon:             LitStr      = "icon"             kw::icon,
        title:            LitStr      = "title"            kw::title,
        enabled:          LitBool     = "enabled"          kw::enabled,
        preset:           LitStr      = "preset"           kw::preset,
        header:           LitStr      = "header"           kw::header,
        algorithm:        LitStr      = "algorithm"        kw::algorithm,
        encoding:         LitStr      = "encoding"         kw::encoding,
        prefix:           LitStr      = "prefix"           kw::prefix,
        signed:           LitStr      = "signed"           kw::signed,
        timestamp_header: LitStr      = "timestamp_header" kw::timestamp_header,
        tolerance:        LitStr      = "tolerance"        kw::tolerance,
        secret:           SecretNames = "secret"           kw::secret,
        verify_token:     LitStr      = "verify_token"     kw::verify_token,
        respond_with:     syn::Path   = "respond_with"     kw::respond_with,
        krate:            syn::Path   = "crate"            syn::token::Crate,
    }
}

/// `secret = "NAME"`, or `secret = ["NEW", "OLD"]` during a rotation: the environment variables
/// that hold the secret, the current one first.
pub(crate) enum SecretNames {
    /// One name.
    One(LitStr),
    /// A list, maybe empty (an error reported by validation, on the brackets).
    List {
        bracket: syn::token::Bracket,
        names: Punctuated<LitStr, Token![,]>,
    },
}

impl SecretNames {
    /// The names, in the order written.
    pub(crate) fn names(&self) -> Vec<&LitStr> {
        match self {
            Self::One(name) => vec![name],
            Self::List { names, .. } => names.iter().collect(),
        }
    }
}

impl Parse for SecretNames {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return input.parse().map(Self::One);
        }
        if !input.peek(syn::token::Bracket) {
            return Err(input.error(
                "expected the name of the secret's environment variable, `secret = \"MY_SECRET\"`, \
                 or a list of them, `secret = [\"NEW_SECRET\", \"OLD_SECRET\"]`",
            ));
        }
        let content;
        let bracket = syn::bracketed!(content in input);
        let names = Punctuated::parse_terminated(&content)?;
        Ok(Self::List { bracket, names })
    }
}
