//! Code generation for `#[job]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use super::{Options, Plan, filter};
use crate::diag::{binding, first_last, respan};

/// The user's fn (unchanged but for an `allow`), plus a hidden runner and the job's
/// registration.
pub(super) fn job(plan: &Plan, item: &ItemFn) -> TokenStream {
    let Plan {
        krate,
        id,
        name,
        enabled,
        trigger,
        ..
    } = plan;
    let private = quote!(#krate::__private);
    let runner = format_ident!("__trigger_run_{}", item.sig.ident);
    let run = runner_fn(&runner, plan, item, &private);
    let version = plan
        .version
        .as_ref()
        .map_or_else(|| quote!(::core::env!("CARGO_PKG_VERSION")), |v| quote!(#v));
    let options = options(&plan.options, &private);
    let filter = plan.filter.as_ref().map_or_else(
        || quote!(::core::option::Option::None),
        |value| {
            let value = filter::build(value, &quote!(#private::serde_json));
            quote!(::core::option::Option::Some(|| #value))
        },
    );
    let example = match (&plan.example, plan.params.first()) {
        (Some(path), Some(first)) => quote! {
            ::core::option::Option::Some(#private::Example {
                body: ::core::include_str!(#path),
                fits: |request| {
                    <#first as #private::FromRequest>::from_request(request).map(|_| ())
                },
            })
        },
        _ => quote!(::core::option::Option::None),
    };
    // The trait call is spanned on the user's trigger path, so that the trait's message
    // underlines exactly those tokens.
    let trigger_value = respan(
        quote!(#private::IntoTrigger::into_trigger(&#trigger)),
        first_last(trigger),
    );

    quote! {
        // The macro requires `async`, even for a job that awaits nothing.
        #[allow(clippy::unused_async)]
        #item

        const _: () = {
        #run

        #private::inventory::submit! {
            #private::JobRegistration {
                id: #id,
                name: #name,
                version: #version,
                enabled: #enabled,
                trigger: || #trigger_value,
                run: #runner,
                options: #options,
                filter: #filter,
                location: #private::Location::new(
                    ::core::file!(), ::core::line!(), ::core::column!(),
                ),
                example: #example,
            }
        }
        };
    }
}

/// The runner: a plain fn that calls the job with the worker's values and boxes its future.
fn runner_fn(
    runner: &syn::Ident,
    plan: &Plan,
    item: &ItemFn,
    private: &TokenStream,
) -> TokenStream {
    let Plan { params, output, .. } = plan;
    let fn_name = &item.sig.ident;
    // Each argument goes through a trait implemented only by the right type, so a wrong
    // parameter type is reported on that type, with the trait's message. The runner's bindings
    // have private, hygienic names (see `diag::binding`): the job may be named `ctx`, and an
    // endpoint static may be named `io`.
    // The first goes through `FromRequest`, which may refuse the request: the attempt then
    // fails without calling the job.
    let traits = [quote!(JobIo), quote!(JobContext)];
    let values = [binding("request"), binding("io"), binding("ctx")];
    let extracted = binding("extracted");
    let first = params.first().map(|ty| {
        let request = &values[0];
        quote_spanned! {ty.span()=>
            let #extracted = match <#ty as #private::FromRequest>::from_request(&#request) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => {
                    return #private::request_does_not_fit(error);
                }
            };
        }
    });
    let rest = params.iter().skip(1).zip(traits.iter().zip(&values[1..])).map(
        |(ty, (tr, value))| quote_spanned!(ty.span()=> <#ty as #private::#tr>::from_job(#value)),
    );
    let args = first.iter().map(|_| quote!(#extracted)).chain(rest);
    // The call is spanned on the job's name, so that a future that is not `Send` is reported
    // there ("future returned by `name` is not `Send`"), along with the value held across an
    // `.await`. The conversion of the output is spanned on the return type, so that the
    // trait's message underlines it.
    let call = quote_spanned!(fn_name.span()=> #fn_name(#(#args),*));
    let into_output = quote_spanned! {output.span()=>
        <#output as #private::IntoJobResult>::into_job_result
    };
    let [request, io, ctx] = &values;
    quote! {
        #[allow(non_snake_case)]
        fn #runner(
            #request: #private::Request,
            #io: #private::Io,
            #ctx: #private::Context,
        ) -> #private::BoxFuture<'static, #private::JobOutput> {
            #first
            #private::job_future_must_be_send(#call, #into_output)
        }
    }
}

/// `JobOptions::new()` with a builder call for each option given.
fn options(options: &Options, private: &TokenStream) -> TokenStream {
    let mut tokens = quote!(#private::JobOptions::new());
    if let Some(n) = options.max_attempts {
        tokens.extend(quote!(.max_attempts(#n)));
    }
    if let Some((min, max)) = options.backoff_ms {
        tokens.extend(quote!(.backoff_ms(#min, #max)));
    }
    if let Some(ms) = options.timeout_ms {
        tokens.extend(quote!(.timeout_ms(#ms)));
    }
    if let Some(n) = options.concurrency {
        tokens.extend(quote!(.concurrency(#n)));
    }
    tokens
}
