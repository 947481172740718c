//! `#[http_endpoint]`: parse → validate → expand.

mod args;
mod expand;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{
    Attribute, Block, FnArg, GenericParam, Ident, LitStr, ReturnType, Signature, Token, Type,
    Visibility,
};

use self::args::EndpointArgs;
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
    },
    /// The item's body is the verification.
    Custom,
}

/// A validated endpoint, ready to expand.
pub(crate) struct Plan {
    pub(crate) krate: TokenStream,
    pub(crate) id: LitStr,
    pub(crate) source: Option<LitStr>,
    pub(crate) icon: Option<LitStr>,
    pub(crate) title: Option<LitStr>,
    pub(crate) enabled: bool,
    pub(crate) secret: Option<LitStr>,
    pub(crate) verifier: Verifier,
}

const ALGORITHMS: &[(&str, &str)] = &[("sha256", "Sha256"), ("sha1", "Sha1"), ("sha512", "Sha512")];
const ENCODINGS: &[(&str, &str)] = &[("hex", "Hex"), ("base64", "Base64")];

fn validate(mut args: EndpointArgs, item: &EndpointItem) -> syn::Result<Plan> {
    let mut errors = std::mem::take(&mut args.errors);
    let id = match &args.id {
        Some(arg) => {
            check_id(&arg.value, &mut errors);
            arg.value.clone()
        }
        None => {
            if !args.malformed {
                errors.at(
                    Span::call_site(),
                    "missing argument `id`, the URL segment of `/endpoints/{id}`; write \
                     `#[http_endpoint(id = \"my-endpoint\", ...)]`",
                );
            }
            LitStr::new("", Span::call_site())
        }
    };
    if let Some(arg) = &args.secret {
        check_env_name(&arg.value, &mut errors);
    }
    let verifier = match &item.body {
        None => hmac_verifier(&args, item, &mut errors),
        Some(_) => custom_verifier(&args, item, &mut errors),
    };
    errors.finish()?;
    Ok(Plan {
        krate: args
            .krate
            .map_or_else(default_crate, |k| k.value.into_token_stream()),
        id,
        source: args.source.map(|a| a.value),
        icon: args.icon.map(|a| a.value),
        title: args.title.map(|a| a.value),
        enabled: lit::boolean(args.enabled.as_ref(), true),
        secret: args.secret.map(|a| a.value),
        verifier: verifier.unwrap_or(Verifier::Custom),
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

fn check_env_name(name: &LitStr, errors: &mut Errors) {
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
                "`secret` names the environment variable that holds the secret, and {value:?} is \
                 not a variable name; write e.g. `secret = \"CALDOTCOM_SECRET\"`"
            ),
        );
    }
}

fn one_of(lit: &LitStr, what: &str, table: &[(&str, &str)], errors: &mut Errors) -> Ident {
    let value = lit.value();
    match table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&value))
    {
        Some((_, variant)) => Ident::new(variant, lit.span()),
        None => {
            let list = table
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .collect::<Vec<_>>();
            errors.spanned(
                lit,
                format_args!(
                    "unknown {what} {value:?}; expected one of {}",
                    list.join(", ")
                ),
            );
            Ident::new(table[0].1, lit.span())
        }
    }
}

fn hmac_verifier(
    args: &EndpointArgs,
    item: &EndpointItem,
    errors: &mut Errors,
) -> Option<Verifier> {
    let sig = &item.sig;
    // A verify fn's signature without its body is one mistake: report it once.
    let mut extra: Vec<(TokenStream, &str)> = Vec::new();
    if let Some(token) = &sig.asyncness {
        extra.push((token.to_token_stream(), "`async`"));
    }
    if !sig.inputs.is_empty() {
        extra.push((sig.inputs.to_token_stream(), "the parameters"));
    }
    if !sig.generics.params.is_empty() {
        extra.push((sig.generics.to_token_stream(), "the generic parameters"));
    }
    if let ReturnType::Type(..) = &sig.output {
        extra.push((sig.output.to_token_stream(), "the return type"));
    }
    if let Some(clause) = &sig.generics.where_clause {
        extra.push((clause.to_token_stream(), "the where clause"));
    }
    if !extra.is_empty() {
        let tokens = if extra.len() == 1 {
            extra[0].0.clone()
        } else {
            sig.to_token_stream()
        };
        let what: Vec<&str> = extra.iter().map(|(_, what)| *what).collect();
        let what = match what.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => what.concat(),
        };
        errors.spanned(
            tokens,
            format_args!(
                "a bodiless endpoint is declared as `fn {}();`; remove {what}, or add a body \
                 that verifies requests",
                sig.ident
            ),
        );
    }
    let Some(header) = &args.header else {
        if !args.malformed {
            errors.spanned(
                sig,
                format_args!(
                    "endpoint `{name}` does not verify requests; add `header = \"X-Signature\"` to \
                     check an HMAC of the body, or verify in a body: `async fn {name}(request: \
                     &Request, secret: &Secret) -> Verification {{ ... }}`",
                    name = sig.ident,
                ),
            );
        }
        return None;
    };
    let value = header.value.value();
    if value.is_empty() || http_token_invalid(&value) {
        errors.spanned(
            &header.value,
            format_args!("{value:?} is not a valid header name; write e.g. \"X-Signature-256\""),
        );
    }
    let algorithm = args.algorithm.as_ref().map_or_else(
        || Ident::new("Sha256", Span::call_site()),
        |a| one_of(&a.value, "algorithm", ALGORITHMS, errors),
    );
    let encoding = args.encoding.as_ref().map_or_else(
        || Ident::new("Hex", Span::call_site()),
        |a| one_of(&a.value, "encoding", ENCODINGS, errors),
    );
    Some(Verifier::Hmac {
        header: header.value.clone(),
        algorithm,
        encoding,
        prefix: args.prefix.as_ref().map(|a| a.value.clone()),
    })
}

fn http_token_invalid(name: &str) -> bool {
    !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn custom_verifier(
    args: &EndpointArgs,
    item: &EndpointItem,
    errors: &mut Errors,
) -> Option<Verifier> {
    for (arg, key) in [
        (&args.header, "header"),
        (&args.algorithm, "algorithm"),
        (&args.encoding, "encoding"),
        (&args.prefix, "prefix"),
    ] {
        if let Some(arg) = arg {
            errors.at(
                arg.key_span,
                format_args!(
                    "`{key}` configures the built-in HMAC check, but this endpoint verifies \
                     requests in its body; remove `{key}`, or remove the body: `fn {}();`",
                    item.sig.ident
                ),
            );
        }
    }
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            "an endpoint with a body is its verify fn and must be an `async fn`; add `async`",
        );
    }
    // Lifetimes are fine (`async fn acme<'a>(request: &'a Request, secret: &'a Secret)`): the
    // wrapper calls the fn with two references of one lifetime. Types and constants are not: no
    // caller could choose them. A where clause that needs them goes with them.
    for param in &sig.generics.params {
        let name = match param {
            GenericParam::Lifetime(_) => continue,
            GenericParam::Type(t) => format!("type parameter `{}`", t.ident),
            GenericParam::Const(c) => format!("const parameter `{}`", c.ident),
        };
        errors.spanned(
            param,
            format_args!(
                "a verify fn cannot be generic over types or constants, as it is called with \
                 `&Request` and `&Secret`; remove the {name} (lifetime parameters are fine)"
            ),
        );
    }
    if sig.inputs.len() == 2 {
        let expected = [
            ("first", "request", "&Request"),
            ("second", "secret", "&Secret"),
        ];
        for (input, (nth, name, ty)) in sig.inputs.iter().zip(expected) {
            let (tokens, by_reference) = match input {
                FnArg::Typed(t) => (t.ty.to_token_stream(), matches!(*t.ty, Type::Reference(_))),
                FnArg::Receiver(r) => (r.to_token_stream(), false),
            };
            if !by_reference {
                errors.spanned(
                    tokens,
                    format_args!(
                        "the {nth} parameter of a verify fn must be `{ty}`; write `{name}: {ty}`"
                    ),
                );
            }
        }
    } else {
        errors.at(
            sig.paren_token.span.join(),
            format_args!(
                "a verify fn takes two parameters, found {}; write \
                 `(request: &Request, secret: &Secret)`",
                sig.inputs.len()
            ),
        );
    }
    if let ReturnType::Default = sig.output {
        errors.at(
            sig.paren_token.span.close(),
            "a verify fn returns the verdict; add `-> Verification`",
        );
    }
    Some(Verifier::Custom)
}
