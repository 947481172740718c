//! The signature schemes the arguments name or describe: a preset (`preset = "stripe"`), or a
//! custom sender's signed content and timestamp (`signed`, `timestamp_header`), and what goes
//! with them (`tolerance`, `verify_token`).

use proc_macro2::Span;
use syn::{Ident, LitStr};

use super::args::EndpointArgs;
use crate::diag::Errors;
use crate::lit::{self, Arg};

/// Every preset of `trigger_runtime::verify::Preset`: its name, its variant, and whether its
/// scheme has a timestamp (so that `tolerance` means something).
const PRESETS: &[(&str, &str, bool)] = &[
    ("standard-webhooks", "StandardWebhooks", true),
    ("svix", "Svix", true),
    ("stripe", "Stripe", true),
    ("github", "Github", false),
    ("gitlab", "Gitlab", false),
    ("slack", "Slack", true),
    ("shopify", "Shopify", false),
    ("twilio", "Twilio", false),
    ("discord", "Discord", true),
    ("linear", "Linear", true),
    ("paddle", "Paddle", true),
    ("calcom", "Calcom", false),
    ("zoom", "Zoom", true),
    ("square", "Square", false),
    ("meta", "Meta", false),
];

/// The placeholders of `signed`, for its error messages.
const PLACEHOLDERS: &str = "`{body}`, `{timestamp}`, `{url}` and `{header:Name}`";

/// A known preset, from `preset = "name"`.
pub(crate) struct Preset {
    pub(crate) name: &'static str,
    /// The `Preset` variant.
    pub(crate) variant: Ident,
    pub(crate) timestamped: bool,
    pub(crate) key_span: Span,
}

/// The preset that `arg` names, or an error on its literal with the closest name.
pub(super) fn preset(arg: &Arg<LitStr>, errors: &mut Errors) -> syn::Result<Preset> {
    let value = arg.value.value();
    if let Some(&(name, variant, timestamped)) = PRESETS.iter().find(|(name, ..)| *name == value) {
        return Ok(Preset {
            name,
            variant: Ident::new(variant, arg.value.span()),
            timestamped,
            key_span: arg.key_span,
        });
    }
    let names: Vec<&str> = PRESETS.iter().map(|(name, ..)| *name).collect();
    let message = match trigger_filter::closest(&value, &names) {
        Some(near) => format!("unknown preset {value:?}; did you mean \"{near}\"?"),
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            format!(
                "unknown preset {value:?}; expected one of {}",
                list.join(", ")
            )
        }
    };
    errors.fail(syn::Error::new_spanned(&arg.value, message))
}

/// What verifies an endpoint's requests, as far as `tolerance` and `verify_token` care.
pub(super) enum Kind<'a> {
    /// `preset = "..."`, known or not (an unknown one is reported already).
    Preset(&'a syn::Result<Preset>),
    /// The built-in HMAC check that `header` and the other arguments describe.
    Hmac,
    /// The item's body.
    VerifyFn,
}

/// The timestamp's tolerance in milliseconds, which needs a timestamped scheme.
pub(super) fn tolerance(args: &EndpointArgs, kind: &Kind<'_>, errors: &mut Errors) -> Option<u64> {
    let arg = args.tolerance.as_ref()?;
    let none = match kind {
        Kind::Preset(Ok(preset)) if !preset.timestamped => Some(format!(
            "`preset = \"{}\"` signs no timestamp; remove `tolerance`",
            preset.name
        )),
        Kind::Hmac if args.timestamp_header.is_none() => Some(
            "this endpoint reads none; add `timestamp_header = \"X-Timestamp\"` and sign it \
             with `signed = \"{timestamp}.{body}\"`, or remove `tolerance`"
                .to_owned(),
        ),
        Kind::VerifyFn => Some(
            "it bounds the age of the timestamp that the built-in check reads, and this \
             endpoint verifies requests in its body; remove `tolerance`"
                .to_owned(),
        ),
        Kind::Preset(_) | Kind::Hmac => None,
    };
    if let Some(why) = none {
        errors.at(
            arg.key_span,
            format_args!("`tolerance` needs a timestamp: {why}"),
        );
    }
    let value = arg.value.value();
    let ms = if value.trim() == "0" {
        Some(0)
    } else {
        lit::duration_ms(&value)
    };
    if ms.is_none() {
        errors.spanned(
            &arg.value,
            "invalid `tolerance`; write how far a timestamp may be from now, like \"5m\", \
             \"30s\" or \"1h\", or \"0\" not to check it",
        );
    }
    ms
}

/// The environment variable of Meta's verify token, which goes with `preset = "meta"` only.
pub(super) fn verify_token(
    args: &EndpointArgs,
    kind: &Kind<'_>,
    errors: &mut Errors,
) -> Option<LitStr> {
    let meta = match kind {
        Kind::Preset(Ok(preset)) => Some(preset),
        _ => None,
    }
    .filter(|preset| preset.name == "meta");
    // An unknown preset, or one beside a verify fn, is reported already.
    let unknown_preset = match kind {
        Kind::Preset(preset) => preset.is_err(),
        Kind::VerifyFn => args.preset.is_some(),
        Kind::Hmac => false,
    };
    match (&args.verify_token, meta) {
        (Some(arg), _) => {
            super::check_env_name(
                &arg.value,
                ("verify_token", "Meta's verify token", "META_VERIFY_TOKEN"),
                errors,
            );
            if meta.is_none() && !unknown_preset {
                errors.at(
                    arg.key_span,
                    "`verify_token` answers Meta's subscription check and goes with \
                     `preset = \"meta\"` only; remove `verify_token`, or add `preset = \"meta\"`",
                );
            }
        }
        (None, Some(meta)) => errors.at(
            meta.key_span,
            "`preset = \"meta\"` answers Meta's subscription check with a token; add \
             `verify_token = \"META_VERIFY_TOKEN\"`, the environment variable that holds it",
        ),
        (None, None) => {}
    }
    args.verify_token.as_ref().map(|arg| arg.value.clone())
}

/// A custom sender's signed content and timestamp header: `signed = "{timestamp}.{body}"`,
/// `timestamp_header = "X-Timestamp"`.
pub(crate) struct Signed {
    pub(crate) parts: Vec<SignedPart>,
    pub(crate) timestamp: Option<LitStr>,
}

/// One piece of `signed`, a `Part` of the runtime.
pub(crate) enum SignedPart {
    Body,
    Timestamp,
    Url,
    Text(String),
    Header(String),
}

/// `signed` and `timestamp_header`, checked together: the body is signed, and a timestamp is
/// read exactly when it is signed. `None` when `signed` is not given, or after an error.
pub(super) fn signed(args: &EndpointArgs, errors: &mut Errors) -> Option<Signed> {
    const UNSIGNED: &str = "`timestamp_header` without `{timestamp}` in `signed` protects \
                            nothing, as anyone could change an unsigned timestamp; sign it, like \
                            `signed = \"{timestamp}.{body}\"`, or remove `timestamp_header`";
    let timestamp = args.timestamp_header.as_ref();
    if let Some(arg) = timestamp {
        check_header_name(&arg.value, "X-Timestamp", errors);
    }
    let Some(signed) = &args.signed else {
        if let Some(arg) = timestamp {
            errors.at(arg.key_span, UNSIGNED);
        }
        return None;
    };
    // A template that does not parse is reported, and says nothing about the timestamp.
    let parts = parse_signed(&signed.value, errors)?;
    let signs_timestamp = parts.iter().any(|p| matches!(p, SignedPart::Timestamp));
    match (signs_timestamp, timestamp) {
        (true, None) => errors.spanned(
            &signed.value,
            "`signed` has `{timestamp}`, but no header gives it; add \
             `timestamp_header = \"X-Timestamp\"`, the header the sender puts it in",
        ),
        (false, Some(arg)) => errors.at(arg.key_span, UNSIGNED),
        (true, Some(_)) | (false, None) => {}
    }
    Some(Signed {
        parts,
        timestamp: timestamp.map(|arg| arg.value.clone()),
    })
}

/// The pieces of a `signed` template, or `None` after an error on it.
fn parse_signed(lit: &LitStr, errors: &mut Errors) -> Option<Vec<SignedPart>> {
    let value = lit.value();
    let mut parts = Vec::new();
    let mut rest = value.as_str();
    let mut fail = |message: String| {
        errors.spanned(lit, message);
        None
    };
    while let Some(open) = rest.find(['{', '}']) {
        if open > 0 {
            parts.push(SignedPart::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        if rest[open..].starts_with('}') {
            return fail(format!(
                "`signed` has a `}}` that closes no placeholder; the placeholders are \
                 {PLACEHOLDERS}, and any other text is signed as it is"
            ));
        }
        let Some(close) = after
            .find(['{', '}'])
            .filter(|&i| after[i..].starts_with('}'))
        else {
            return fail(format!(
                "`signed` has a `{{` that is not closed; the placeholders are {PLACEHOLDERS}"
            ));
        };
        let placeholder = &after[..close];
        parts.push(match placeholder {
            "body" => SignedPart::Body,
            "timestamp" => SignedPart::Timestamp,
            "url" => SignedPart::Url,
            _ => match placeholder.strip_prefix("header:") {
                Some(name) if !name.is_empty() && !http_token_invalid(name) => {
                    SignedPart::Header(name.to_owned())
                }
                Some(name) => {
                    return fail(format!(
                        "`signed` has `{{header:{name}}}`, and {name:?} is not a header name; \
                         write e.g. `{{header:X-Request-Id}}`"
                    ));
                }
                None => {
                    return fail(format!(
                        "unknown placeholder `{{{placeholder}}}` in `signed`; the placeholders \
                         are {PLACEHOLDERS}, and any other text is signed as it is"
                    ));
                }
            },
        });
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        parts.push(SignedPart::Text(rest.to_owned()));
    }
    if !parts.iter().any(|p| matches!(p, SignedPart::Body)) {
        return fail(format!(
            "`signed = {value:?}` does not sign the body, so anyone could change it; add \
             `{{body}}`, like `signed = \"{{timestamp}}.{{body}}\"`"
        ));
    }
    Some(parts)
}

/// An error on `lit` unless it is a header name; `example` is one.
pub(super) fn check_header_name(lit: &LitStr, example: &str, errors: &mut Errors) {
    let value = lit.value();
    if value.is_empty() || http_token_invalid(&value) {
        errors.spanned(
            lit,
            format_args!("{value:?} is not a valid header name; write e.g. \"{example}\""),
        );
    }
}

fn http_token_invalid(name: &str) -> bool {
    !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;
    use syn::LitStr;

    use super::{SignedPart, parse_signed};
    use crate::diag::Errors;

    /// The parts of `template` as the runtime's `Scheme::template` writes them back, or `None`
    /// after an error.
    fn parse(template: &str) -> Option<String> {
        let mut errors = Errors::default();
        let parts = parse_signed(&LitStr::new(template, Span::call_site()), &mut errors);
        assert_eq!(parts.is_none(), errors.finish().is_err(), "{template}");
        let parts = parts?;
        let written = parts.iter().map(|part| match part {
            SignedPart::Body => "[body]".to_owned(),
            SignedPart::Timestamp => "[timestamp]".to_owned(),
            SignedPart::Url => "[url]".to_owned(),
            SignedPart::Text(text) => format!("<{text}>"),
            SignedPart::Header(name) => format!("[header {name}]"),
        });
        Some(written.collect())
    }

    #[test]
    fn templates() {
        assert_eq!(parse("{body}").as_deref(), Some("[body]"));
        assert_eq!(
            parse("{timestamp}.{body}").as_deref(),
            Some("[timestamp]<.>[body]")
        );
        assert_eq!(
            parse("v0:{timestamp}:{header:X-Id}{url}{body}!").as_deref(),
            Some("<v0:>[timestamp]<:>[header X-Id][url][body]<!>")
        );
    }

    #[test]
    fn mistakes() {
        for template in [
            "",
            "{timestamp}",
            "{body",
            "body}",
            "{bo{dy}",
            "{}{body}",
            "{Body}",
            "{header:}{body}",
            "{header:X Id}{body}",
            "{form}{body}",
        ] {
            assert_eq!(parse(template), None, "{template}");
        }
    }
}
