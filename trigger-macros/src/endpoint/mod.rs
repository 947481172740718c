//! `#[http_endpoint]`: parse → validate → expand.

mod args;
mod expand;
mod scheme;
mod verify;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Block, Ident, LitStr, Signature, Token, Visibility};

use self::args::{EndpointArgs, SecretNames};
use self::scheme::{Kind, Signed};
use crate::diag::{self, Errors};
use crate::lit;

/// Entry point: never panics; on error emits the errors beside a fallback endpoint.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: EndpointItem = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => return diag::with_item(item, &error),
    };
    let args = match syn::parse2::<EndpointArgs>(args) {
        Ok(args) => args,
        Err(error) => return expand::fallback(&default_crate(), &item, &error),
    };
    // The fallback names the runtime by the path given, if any, like the expansion.
    let krate = args
        .krate
        .as_ref()
        .map_or_else(default_crate, |k| k.value.to_token_stream());
    let tokens = match validate(args, &item) {
        Ok(plan) => expand::endpoint(&plan, &item),
        Err(error) => expand::fallback(&krate, &item, &error),
    };
    diag::debug("http_endpoint", &tokens);
    tokens
}

/// The runtime's path when the arguments give no `crate = path`.
fn default_crate() -> TokenStream {
    quote::quote!(::trigger_runtime)
}

/// `fn name();` or `async fn name(request: &Request, secret: &Secret) -> Verification { ... }`.
pub(crate) struct EndpointItem {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) body: Option<Block>,
}

impl Parse for EndpointItem {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig: Signature = input.parse()?;
        let lookahead = input.lookahead1();
        let body = if lookahead.peek(Token![;]) {
            input.parse::<Token![;]>()?;
            None
        } else if lookahead.peek(syn::token::Brace) {
            Some(input.parse()?)
        } else {
            return Err(lookahead.error());
        };
        Ok(Self {
            attrs,
            vis,
            sig,
            body,
        })
    }
}

/// How requests to the endpoint are verified.
pub(crate) enum Verifier {
    /// HMAC of the raw body, configured from the arguments.
    Hmac {
        header: LitStr,
        algorithm: Ident,
        encoding: Ident,
        prefix: Option<LitStr>,
        /// `signed` and `timestamp_header`, when given: the scheme is then a `Scheme`.
        signed: Option<Signed>,
    },
    /// `preset = "..."`: this `Preset` variant.
    Preset(Ident),
    /// The item's body is the verification.
    Custom(VerifyFnSpans),
}

/// The first and last spans of a verify fn's parameter and return types. The generated wrapper's
/// values are spanned on them, so that a type error underlines the user's type.
#[derive(Clone, Copy)]
pub(crate) struct VerifyFnSpans {
    pub(crate) request: (Span, Span),
    pub(crate) secret: (Span, Span),
    pub(crate) verdict: (Span, Span),
}

/// A validated endpoint, ready to expand.
pub(crate) struct Plan {
    pub(crate) krate: TokenStream,
    pub(crate) id: LitStr,
    pub(crate) source: Option<LitStr>,
    pub(crate) icon: Option<LitStr>,
    pub(crate) title: Option<LitStr>,
    pub(crate) enabled: bool,
    /// The secret's environment variables, the current one first; empty for a generated secret.
    pub(crate) secret: Vec<LitStr>,
    pub(crate) verifier: Verifier,
    /// `tolerance`, in milliseconds.
    pub(crate) tolerance_ms: Option<u64>,
    /// `respond_with`: the path of the user's async fn.
    pub(crate) respond_with: Option<syn::Path>,
    /// `verify_token`: the environment variable of Meta's verify token.
    pub(crate) verify_token: Option<LitStr>,
}

const MISSING_ID: &str = "missing argument `id`, the URL segment of `/endpoints/{id}`; write \
                          `#[http_endpoint(id = \"my-endpoint\", ...)]`";

fn validate(mut args: EndpointArgs, item: &EndpointItem) -> syn::Result<Plan> {
    let mut errors = std::mem::take(&mut args.errors);
    let id = lit::required_id(
        args.id.take(),
        args.malformed,
        &mut errors,
        MISSING_ID,
        check_id,
    );
    if let Some(arg) = &args.secret {
        check_secret_names(&arg.value, &mut errors);
    }
    let preset = args
        .preset
        .as_ref()
        .map(|arg| scheme::preset(arg, &mut errors));
    let (verifier, kind) = match (&item.body, &preset) {
        (None, Some(preset)) => (
            verify::preset(&args, preset, &item.sig, &mut errors),
            Kind::Preset(preset),
        ),
        (None, None) => (verify::hmac(&args, &item.sig, &mut errors), Kind::Hmac),
        (Some(_), _) => (
            verify::custom(&args, &item.sig, &mut errors),
            Kind::VerifyFn,
        ),
    };
    let tolerance_ms = scheme::tolerance(&args, &kind, &mut errors);
    let verify_token = scheme::verify_token(&args, &kind, &mut errors);
    errors.finish()?;
    Ok(Plan {
        krate: args
            .krate
            .map_or_else(default_crate, |k| k.value.into_token_stream()),
        id: id?,
        source: args.source.map(|a| a.value),
        icon: args.icon.map(|a| a.value),
        title: args.title.map(|a| a.value),
        enabled: lit::boolean(args.enabled.as_ref(), true),
        secret: args
            .secret
            .map_or_else(Vec::new, |a| a.value.names().into_iter().cloned().collect()),
        verifier: verifier?,
        tolerance_ms,
        respond_with: args.respond_with.map(|a| a.value),
        verify_token,
    })
}

fn check_id(id: &LitStr, errors: &mut Errors) {
    let value = id.value();
    if value.is_empty() {
        errors.spanned(
            id,
            "endpoint id is empty; write a URL-safe id like \"cal.com\"",
        );
    } else if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
    {
        errors.spanned(
            id,
            format_args!(
                "endpoint id {value:?} contains {bad:?}; use letters, digits, `-`, `.`, `_` or `~`"
            ),
        );
    }
}

/// Each name is a variable name, named once, and a list names at least one.
fn check_secret_names(secret: &SecretNames, errors: &mut Errors) {
    if let SecretNames::List { bracket, names } = secret {
        if names.is_empty() {
            errors.at(
                bracket.span.join(),
                "`secret = []` names no environment variable; write `secret = \"MY_SECRET\"`, \
                 or `secret = [\"NEW_SECRET\", \"OLD_SECRET\"]` to accept both during a rotation",
            );
        }
    }
    let names = secret.names();
    for (i, name) in names.iter().enumerate() {
        check_env_name(name, ("secret", "the secret", "CALDOTCOM_SECRET"), errors);
        let value = name.value();
        if names[..i].iter().any(|earlier| earlier.value() == value) {
            errors.spanned(
                name,
                format_args!("`secret` lists {value:?} twice; remove this one"),
            );
        }
    }
}

/// An error on `name` unless it is an environment variable's name; `(key, what, example)`
/// say which argument names the variable, what it holds and an example name.
fn check_env_name(name: &LitStr, (key, what, example): (&str, &str, &str), errors: &mut Errors) {
    let value = name.value();
    let mut chars = value.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        errors.spanned(
            name,
            format_args!(
                "`{key}` names the environment variable that holds {what}, and {value:?} is \
                 not a variable name; write e.g. `{key} = \"{example}\"`"
            ),
        );
    }
}
