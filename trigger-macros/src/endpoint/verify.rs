//! Validation of how an endpoint verifies requests: from the arguments (`fn name();`) or in the
//! item's body (`async fn name(request: &Request, secret: &Secret) -> Verification { ... }`).

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{FnArg, GenericParam, Ident, LitStr, ReturnType, Signature, Type};

use super::args::EndpointArgs;
use super::scheme::{self, Preset};
use super::{Verifier, VerifyFnSpans};
use crate::diag::{Errors, first_last};
use crate::lit;

const ALGORITHMS: &[(&str, &str)] = &[("sha256", "Sha256"), ("sha1", "Sha1"), ("sha512", "Sha512")];
const ENCODINGS: &[(&str, &str)] = &[("hex", "Hex"), ("base64", "Base64")];

/// A bodiless endpoint: the HMAC check that the arguments configure.
pub(super) fn hmac(
    args: &EndpointArgs,
    sig: &Signature,
    errors: &mut Errors,
) -> syn::Result<Verifier> {
    check_bodiless(sig, errors);
    let header = lit::required(args.header.as_ref(), args.malformed, errors, || {
        syn::Error::new_spanned(
            sig,
            format_args!(
                "endpoint `{name}` does not verify requests; add `preset = \"github\"` for a \
                 known sender, `header = \"X-Signature\"` to check an HMAC of the body, or \
                 verify in a body: `async fn {name}(request: &Request, secret: &Secret) -> \
                 Verification {{ ... }}`",
                name = sig.ident,
            ),
        )
    })?;
    scheme::check_header_name(&header.value, "X-Signature-256", errors);
    let algorithm = args.algorithm.as_ref().map_or_else(
        || Ok(Ident::new("Sha256", Span::call_site())),
        |a| one_of(&a.value, "algorithm", ALGORITHMS, errors),
    );
    let encoding = args.encoding.as_ref().map_or_else(
        || Ok(Ident::new("Hex", Span::call_site())),
        |a| one_of(&a.value, "encoding", ENCODINGS, errors),
    );
    Ok(Verifier::Hmac {
        header: header.value.clone(),
        algorithm: algorithm?,
        encoding: encoding?,
        prefix: args.prefix.as_ref().map(|a| a.value.clone()),
        signed: scheme::signed(args, errors),
    })
}

/// A bodiless endpoint with a preset: the preset says how its sender signs, and no argument
/// may say otherwise.
pub(super) fn preset(
    args: &EndpointArgs,
    preset: &syn::Result<Preset>,
    sig: &Signature,
    errors: &mut Errors,
) -> syn::Result<Verifier> {
    check_bodiless(sig, errors);
    let preset = preset.as_ref().map_err(Clone::clone)?;
    for (arg, key, what) in [
        (&args.header, "header", "where the signature is"),
        (&args.algorithm, "algorithm", "how the signature is made"),
        (&args.encoding, "encoding", "how the signature is written"),
        (&args.prefix, "prefix", "what comes before the signature"),
        (&args.signed, "signed", "what is signed"),
        (
            &args.timestamp_header,
            "timestamp_header",
            "where the timestamp is",
        ),
    ] {
        if let Some(arg) = arg {
            errors.at(
                arg.key_span,
                format_args!(
                    "`preset = \"{}\"` already says {what}; remove `{key}`",
                    preset.name
                ),
            );
        }
    }
    // A generated secret is a `whsec_` string, never an Ed25519 public key.
    if preset.name == "discord" && args.secret.is_none() {
        errors.at(
            preset.key_span,
            "`preset = \"discord\"` verifies with your application's public key, which Discord \
             gives; add `secret = \"DISCORD_PUBLIC_KEY\"`, the environment variable that holds it",
        );
    }
    Ok(Verifier::Preset(preset.variant.clone()))
}

/// A verify fn's signature without its body is one mistake: it is reported once.
fn check_bodiless(sig: &Signature, errors: &mut Errors) {
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
    if extra.is_empty() {
        return;
    }
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

/// The enum variant named by `lit`, one of `table`'s `(written, variant)` pairs.
fn one_of(
    lit: &LitStr,
    what: &str,
    table: &[(&str, &str)],
    errors: &mut Errors,
) -> syn::Result<Ident> {
    let value = lit.value();
    if let Some((_, variant)) = table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(&value))
    {
        return Ok(Ident::new(variant, lit.span()));
    }
    let list = table
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>();
    errors.fail(syn::Error::new_spanned(
        lit,
        format_args!(
            "unknown {what} {value:?}; expected one of {}",
            list.join(", ")
        ),
    ))
}

/// An endpoint with a body: the body is the verification.
pub(super) fn custom(
    args: &EndpointArgs,
    sig: &Signature,
    errors: &mut Errors,
) -> syn::Result<Verifier> {
    if let Some(arg) = &args.preset {
        errors.at(
            arg.key_span,
            format_args!(
                "`preset` verifies requests as its sender signs them, but this endpoint verifies \
                 them in its body; remove `preset`, or remove the body: `fn {}();`",
                sig.ident
            ),
        );
    }
    for (arg, key) in [
        (&args.header, "header"),
        (&args.algorithm, "algorithm"),
        (&args.encoding, "encoding"),
        (&args.prefix, "prefix"),
        (&args.signed, "signed"),
        (&args.timestamp_header, "timestamp_header"),
    ] {
        if let Some(arg) = arg {
            errors.at(
                arg.key_span,
                format_args!(
                    "`{key}` configures the built-in HMAC check, but this endpoint verifies \
                     requests in its body; remove `{key}`, or remove the body: `fn {}();`",
                    sig.ident
                ),
            );
        }
    }
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            "an endpoint with a body is its verify fn and must be an `async fn`; add `async`",
        );
    }
    check_generics(sig, errors);
    let params = check_params(sig, errors);
    let verdict = match &sig.output {
        ReturnType::Type(_, ty) => Ok(first_last(ty)),
        ReturnType::Default => errors.fail(syn::Error::new(
            sig.paren_token.span.close(),
            "a verify fn returns the verdict; add `-> Verification`",
        )),
    };
    let [request, secret] = params?;
    Ok(Verifier::Custom(VerifyFnSpans {
        request,
        secret,
        verdict: verdict?,
    }))
}

/// Lifetimes are fine (`async fn acme<'a>(request: &'a Request, secret: &'a Secret)`): the
/// wrapper calls the fn with two references of one lifetime. Types and constants are not: no
/// caller could choose them. A where clause that needs them goes with them.
fn check_generics(sig: &Signature, errors: &mut Errors) {
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
}

/// The spans of the two parameter types, `&Request` and `&Secret`.
fn check_params(sig: &Signature, errors: &mut Errors) -> syn::Result<[(Span, Span); 2]> {
    let inputs: Vec<&FnArg> = sig.inputs.iter().collect();
    let [request, secret] = inputs[..] else {
        return errors.fail(syn::Error::new(
            sig.paren_token.span.join(),
            format_args!(
                "a verify fn takes two parameters, found {}; write \
                 `(request: &Request, secret: &Secret)`",
                sig.inputs.len()
            ),
        ));
    };
    let request = check_param(request, ("first", "request", "&Request"), errors);
    let secret = check_param(secret, ("second", "secret", "&Secret"), errors);
    Ok([request?, secret?])
}

fn check_param(
    input: &FnArg,
    (nth, name, ty): (&str, &str, &str),
    errors: &mut Errors,
) -> syn::Result<(Span, Span)> {
    let tokens = match input {
        FnArg::Typed(t) if matches!(*t.ty, Type::Reference(_)) => return Ok(first_last(&t.ty)),
        FnArg::Typed(t) => t.ty.to_token_stream(),
        FnArg::Receiver(r) => r.to_token_stream(),
    };
    errors.fail(syn::Error::new_spanned(
        tokens,
        format_args!("the {nth} parameter of a verify fn must be `{ty}`; write `{name}: {ty}`"),
    ))
}
