//! `#[job]`: parse → validate → expand.

mod args;
mod example;
mod expand;
mod filter;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{FnArg, GenericParam, ItemFn, LitStr, ReturnType, Type};

use self::args::JobArgs;
use crate::diag::{self, Errors};
use crate::lit;

/// Entry point: never panics; on error emits the user's fn beside the errors.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => return diag::with_item(item, &error),
    };
    let tokens = match syn::parse2::<JobArgs>(args).and_then(|args| validate(args, &item)) {
        Ok(plan) => expand::job(&plan, &item),
        Err(error) => diag::with_item(item.into_token_stream(), &error),
    };
    diag::debug("job", &tokens);
    tokens
}

/// A validated job, ready to expand.
pub(crate) struct Plan {
    pub(crate) krate: TokenStream,
    pub(crate) id: LitStr,
    pub(crate) name: LitStr,
    /// `None`: the package version of the crate that declares the job.
    pub(crate) version: Option<LitStr>,
    pub(crate) enabled: bool,
    pub(crate) trigger: syn::Path,
    /// The `filter` argument, as the JSON that `Filter::from_json` accepted.
    pub(crate) filter: Option<serde_json::Value>,
    /// Maximum attempts, backoff bounds, per-attempt timeout (ms) and concurrency limit.
    pub(crate) options: Options,
    /// The three parameter types, in order.
    pub(crate) params: Vec<Type>,
    pub(crate) output: Type,
    /// The `example` file's absolute path, read and checked as JSON.
    pub(crate) example: Option<String>,
}

/// The retry, timeout and concurrency arguments, checked.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff_ms: Option<(u64, u64)>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) concurrency: Option<u32>,
}

fn check_options(args: &JobArgs, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    if let Some(arg) = &args.retries {
        options.max_attempts = lit::positive(
            arg,
            "`retries` is the maximum number of attempts, at least 1",
            errors,
        );
    }
    if let Some(arg) = &args.concurrency {
        options.concurrency = lit::positive(
            arg,
            "`concurrency` is how many runs of this job may run at once, at least 1",
            errors,
        );
    }
    if let Some(arg) = &args.timeout {
        options.timeout_ms = check_timeout(&arg.value, errors);
    }
    if let Some(arg) = &args.backoff {
        options.backoff_ms = check_backoff(&arg.value, errors);
    }
    options
}

/// The per-attempt timeout, in milliseconds. A duration always has a unit: `"30"` could mean
/// seconds or milliseconds.
fn check_timeout(lit: &LitStr, errors: &mut Errors) -> Option<u64> {
    match lit::duration_ms(&lit.value()) {
        Some(0) => {
            errors.spanned(
                lit,
                "invalid `timeout`; it must be longer than zero, like \"30s\"",
            );
            None
        }
        Some(ms) => Some(ms),
        None => {
            errors.spanned(
                lit,
                "invalid `timeout`; write a duration with a unit, like \"30s\", \"500ms\", \"5m\" or \"1h\"",
            );
            None
        }
    }
}

/// The first and the longest wait between attempts, in milliseconds: `"min..max"`, two durations
/// with a unit, the first no longer than the second.
fn check_backoff(lit: &LitStr, errors: &mut Errors) -> Option<(u64, u64)> {
    let value = lit.value();
    let bounds = value
        .split_once("..")
        .and_then(|(min, max)| Some((lit::duration_ms(min)?, lit::duration_ms(max)?)));
    let message = match bounds {
        Some((min, max)) if min <= max => return bounds,
        Some(_) => {
            "invalid `backoff`; the first wait must not be longer than the longest, like \"1s..5m\""
        }
        None => {
            "invalid `backoff`; write the first and the longest wait, each a duration with a \
             unit, like \"1s..5m\""
        }
    };
    errors.spanned(lit, message);
    None
}

const MISSING_ID: &str = "missing argument `id`, the stable key of the job's runs; write \
                          `#[job(id = \"my-job\", trigger = my_endpoint)]`";
const MISSING_TRIGGER: &str = "missing argument `trigger`, the endpoint whose requests run this \
                               job; write `#[job(id = \"my-job\", trigger = my_endpoint)]`";

fn validate(mut args: JobArgs, item: &ItemFn) -> syn::Result<Plan> {
    let mut errors = std::mem::take(&mut args.errors);
    let id = lit::required_id(
        args.id.take(),
        args.malformed,
        &mut errors,
        MISSING_ID,
        check_id,
    );
    if let Some(version) = &args.version {
        check_version(&version.value, &mut errors);
    }
    let trigger = lit::required(
        args.trigger.take().map(|a| a.value),
        args.malformed,
        &mut errors,
        || syn::Error::new(Span::call_site(), MISSING_TRIGGER),
    );
    let filter = args
        .filter
        .as_ref()
        .and_then(|arg| filter::check(&arg.value, &mut errors));
    let options = check_options(&args, &mut errors);
    let example = args
        .example
        .as_ref()
        .and_then(|arg| example::check(&arg.value, &mut errors));
    let (params, output) = check_signature(item, &mut errors);
    errors.finish()?;
    let id = id?;
    Ok(Plan {
        krate: args.krate.map_or_else(
            || quote::quote!(::trigger_runtime),
            |k| k.value.into_token_stream(),
        ),
        name: args.name.map_or_else(|| id.clone(), |a| a.value),
        id,
        version: args.version.map(|a| a.value),
        enabled: lit::boolean(args.enabled.as_ref(), true),
        options,
        trigger: trigger?,
        filter,
        params,
        output: output?,
        example,
    })
}

fn check_id(id: &LitStr, errors: &mut Errors) {
    let value = id.value();
    if value.trim().is_empty() {
        errors.spanned(
            id,
            "job id is empty; write a stable id like \"send-welcome-email\"",
        );
    } else if value.chars().any(char::is_control) || value.trim() != value {
        errors.spanned(
            id,
            format_args!("job id {value:?} has control characters or surrounding spaces"),
        );
    }
}

/// `major.minor.patch`, optionally followed by `-prerelease` or `+build`.
fn check_version(version: &LitStr, errors: &mut Errors) {
    let value = version.value();
    let (core, tail) = value.split_at(value.find(['-', '+']).unwrap_or(value.len()));
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let tail_ok = tail.len() != 1
        && tail
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
    if parts.len() != 3 || !parts.iter().all(numeric) || !tail_ok {
        errors.spanned(
            version,
            format_args!("invalid version {value:?}; expected `major.minor.patch`, like \"1.0.0\""),
        );
    }
}

const SIGNATURE: &str = "async fn(request: Request, io: Io, ctx: Context) -> Result<()>";

fn check_signature(item: &ItemFn, errors: &mut Errors) -> (Vec<Type>, syn::Result<Type>) {
    let sig = &item.sig;
    if sig.asyncness.is_none() {
        errors.spanned(
            sig.fn_token,
            "a job must be an `async fn`; add `async` before `fn`",
        );
    }
    let generics = &sig.generics;
    if generics
        .params
        .iter()
        .any(|p| !matches!(p, GenericParam::Lifetime(_)))
    {
        errors.spanned(
            generics,
            "a job cannot be generic: the runtime calls it with `Request`, `Io` and `Context` \
             and cannot choose types or constants; remove the generic parameters",
        );
    } else if !generics.params.is_empty() {
        errors.spanned(
            generics,
            "a job takes owned values (`Request`, `Io`, `Context`), so it needs no lifetime \
             parameters; remove them",
        );
    }
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Typed(pat) => params.push((*pat.ty).clone()),
            FnArg::Receiver(receiver) => {
                errors.spanned(receiver, "a job is a free fn and cannot take `self`");
            }
        }
    }
    if sig.inputs.len() != 3 {
        errors.at(
            sig.paren_token.span.join(),
            format_args!(
                "a job takes three parameters, found {}; write `{SIGNATURE}`",
                sig.inputs.len()
            ),
        );
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Ok((**ty).clone()),
        ReturnType::Default => errors.fail(syn::Error::new(
            sig.paren_token.span.close(),
            "a job returns `Result<T, E>`; add `-> Result<()>` and return `Ok(())`",
        )),
    };
    (params, output)
}
