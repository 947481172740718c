//! Code generation for `#[job]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use super::Plan;
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
        params,
        output,
        ..
    } = plan;
    let private = quote!(#krate::__private);
    let fn_name = &item.sig.ident;
    let runner = format_ident!("__trigger_run_{}", fn_name);
    let version = plan
        .version
        .as_ref()
        .map_or_else(|| quote!(::core::env!("CARGO_PKG_VERSION")), |v| quote!(#v));

    // Each argument goes through a trait implemented only by the right type, so a wrong
    // parameter type is reported on that type, with the trait's message. The runner's bindings
    // have private, hygienic names (see `diag::binding`): the job may be named `ctx`, and an
    // endpoint static may be named `io`.
    let traits = [quote!(JobRequest), quote!(JobIo), quote!(JobContext)];
    let values = [binding("request"), binding("io"), binding("ctx")];
    let args = params.iter().zip(traits.iter().zip(&values)).map(
        |(ty, (tr, value))| quote_spanned!(ty.span()=> <#ty as #private::#tr>::from_job(#value)),
    );
    // The trait calls are spanned on the user's return type and trigger path, so that the
    // trait's message underlines exactly those tokens.
    let value = binding("output");
    let into_result = quote_spanned! {output.span()=>
        <#output as #private::IntoJobResult>::into_job_result(#value)
    };
    let [request, io, ctx] = &values;
    let mut options = quote!(#private::JobOptions::new());
    if let Some(n) = plan.options.max_attempts {
        options.extend(quote!(.max_attempts(#n)));
    }
    if let Some((min, max)) = plan.options.backoff_ms {
        options.extend(quote!(.backoff_ms(#min, #max)));
    }
    if let Some(ms) = plan.options.timeout_ms {
        options.extend(quote!(.timeout_ms(#ms)));
    }
    if let Some(n) = plan.options.concurrency {
        options.extend(quote!(.concurrency(#n)));
    }
    let trigger_value = respan(
        quote!(#private::IntoTrigger::into_trigger(&#trigger)),
        first_last(trigger),
    );

    quote! {
        // The macro requires `async`, even for a job that awaits nothing.
        #[allow(clippy::unused_async)]
        #item

        const _: () = {
        #[allow(non_snake_case)]
        fn #runner(
            #request: #private::Request,
            #io: #private::Io,
            #ctx: #private::Context,
        ) -> #private::BoxFuture<'static, #private::JobOutput> {
            ::std::boxed::Box::pin(async move {
                let #value = #fn_name(#(#args),*).await;
                #into_result
            })
        }

        #private::inventory::submit! {
            #private::JobRegistration {
                id: #id,
                name: #name,
                version: #version,
                enabled: #enabled,
                trigger: || #trigger_value,
                run: #runner,
                options: #options,
                location: #private::Location::new(
                    ::core::file!(), ::core::line!(), ::core::column!(),
                ),
            }
        }
        };
    }
}
