//! Code generation for `#[http_endpoint]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::scheme::SignedPart;
use super::{EndpointItem, Plan, Verifier, VerifyFnSpans};
use crate::diag::{binding, respan, spanned_value};

/// The endpoint static, its verify fn (when it has a body) and its registration.
pub(super) fn endpoint(plan: &Plan, item: &EndpointItem) -> TokenStream {
    let Plan { krate, id, .. } = plan;
    let private = quote!(#krate::__private);
    let EndpointItem {
        attrs, vis, sig, ..
    } = item;
    let name = &sig.ident;

    let mut builder = quote! {
        #private::endpoint(
            #id,
            #private::Location::new(::core::file!(), ::core::line!(), ::core::column!()),
        )
    };
    if let Some(source) = &plan.source {
        builder.extend(quote!(.with_source(#source)));
    }
    if let Some(icon) = &plan.icon {
        builder.extend(quote!(.with_icon(#icon)));
    }
    if let Some(title) = &plan.title {
        builder.extend(quote!(.with_title(#title)));
    }
    if !plan.enabled {
        builder.extend(quote!(.with_enabled(false)));
    }
    if !plan.secret.is_empty() {
        let names = &plan.secret;
        builder.extend(quote!(.with_secret_envs(&[#(#names),*])));
    }
    let (doc_attrs, other_attrs): (Vec<_>, Vec<_>) =
        attrs.iter().partition(|a| a.path().is_ident("doc"));
    builder.extend(verifier(&private, plan, item, &other_attrs));
    if let Some(ms) = plan.tolerance_ms {
        builder.extend(quote!(.with_tolerance(::core::time::Duration::from_millis(#ms))));
    }
    if let Some(path) = &plan.respond_with {
        let respond = respond_fn(&private, name, path);
        builder.extend(quote!(.with_respond_with(#respond)));
    }
    if let Some(env) = &plan.verify_token {
        builder.extend(quote!(.with_verify_token_env(#env)));
    }
    let doc = format!(
        "The `{}` webhook endpoint, served at `/endpoints/{}`.",
        id.value(),
        id.value()
    );
    let doc_attr = if doc_attrs.is_empty() {
        quote!(#[doc = #doc])
    } else {
        quote!()
    };

    quote! {
        #(#doc_attrs)*
        #doc_attr
        #[allow(non_upper_case_globals)]
        #vis static #name: #private::HttpEndpoint = #builder;

        #private::inventory::submit! {
            #private::EndpointRegistration::new(&#name)
        }
    }
}

/// The builder call that sets how requests are verified.
fn verifier(
    private: &TokenStream,
    plan: &Plan,
    item: &EndpointItem,
    attrs: &[&syn::Attribute],
) -> TokenStream {
    match &plan.verifier {
        Verifier::Hmac {
            header,
            algorithm,
            encoding,
            prefix,
            signed: None,
        } => {
            let prefix = prefix.as_ref().map(|p| quote!(.with_prefix(#p)));
            quote! {
                .with_hmac(
                    #private::HmacScheme::new(#header)
                        .with_algorithm(#private::Algorithm::#algorithm)
                        .with_encoding(#private::Encoding::#encoding)
                        #prefix
                )
            }
        }
        Verifier::Hmac {
            header,
            algorithm,
            encoding,
            prefix,
            signed: Some(signed),
        } => {
            let prefix = prefix.as_ref().map(|p| quote!(.with_prefix(#p)));
            let parts = signed.parts.iter().map(|part| match part {
                SignedPart::Body => quote!(#private::Part::Body),
                SignedPart::Timestamp => quote!(#private::Part::Timestamp),
                SignedPart::Url => quote!(#private::Part::Url),
                SignedPart::Text(text) => quote!(#private::Part::Text(#text)),
                SignedPart::Header(name) => quote!(#private::Part::Header(#name)),
            });
            let timestamp = signed
                .timestamp
                .as_ref()
                .map(|header| quote!(.with_timestamp(#private::TimestampFrom::Header(#header))));
            quote! {
                .with_scheme(
                    #private::Scheme::hmac(#header)
                        .with_algorithm(#private::Algorithm::#algorithm)
                        .with_encoding(#private::Encoding::#encoding)
                        #prefix
                        .with_signed(&[#(#parts),*])
                        #timestamp
                )
            }
        }
        Verifier::Preset(variant) => quote!(.with_preset(#private::Preset::#variant)),
        Verifier::Custom(spans) => {
            let verify = verify_fn(private, item, attrs, spans);
            quote!(.with_verify_fn(#verify))
        }
    }
}

/// A block with a plain fn that boxes the future of the user's `respond_with` fn, the fn
/// pointer the runtime takes. It is spanned on the user's path, so that a fn of the wrong
/// signature is reported there.
fn respond_fn(private: &TokenStream, name: &syn::Ident, path: &syn::Path) -> TokenStream {
    let wrapper = format_ident!("__trigger_respond_{}", name);
    let span = path.span();
    // Hygienic bindings, but located on the path, where an error about them is reported.
    let located = |name| {
        let mut ident = binding(name);
        ident.set_span(ident.span().located_at(span));
        ident
    };
    let request = located("request");
    let verification = located("verification");
    quote_spanned! {span=>
        {
            fn #wrapper<'a>(
                #request: &'a #private::Request,
                #verification: &'a #private::Verification,
            ) -> #private::BoxFuture<'a, #private::Respond> {
                ::std::boxed::Box::pin(#path(#request, #verification))
            }
            #wrapper
        }
    }
}

/// A block that keeps the user's async fn out of the module (its name is the static's) and
/// returns a plain fn pointer that boxes its future.
fn verify_fn(
    private: &TokenStream,
    item: &EndpointItem,
    attrs: &[&syn::Attribute],
    spans: &VerifyFnSpans,
) -> TokenStream {
    let EndpointItem { sig, body, .. } = item;
    let name = &sig.ident;
    let wrapper = format_ident!("__trigger_verify_{}", name);
    // The wrapper's bindings have private, hygienic names (see `diag::binding`): the user's fn
    // may be named `request` or `secret`. Each argument and the verdict are spanned on the
    // user's parameter and return types, so that a type error underlines exactly that type:
    // `(x,).0` rather than `x`, because an expression of one token can only span one token on
    // stable.
    let request = binding("request");
    let secret = binding("secret");
    let verdict = binding("verdict");
    let args = [
        spanned_value(&request, spans.request),
        spanned_value(&secret, spans.secret),
    ];
    let verdict_ty = respan(quote!(#private::Verification), spans.verdict);
    let verdict_value = spanned_value(&verdict, spans.verdict);
    quote! {{
        #(#attrs)*
        // The macro requires `async`, even for a verify fn that awaits nothing.
        #[allow(clippy::unused_async)]
        #sig #body

        fn #wrapper<'a>(
            #request: &'a #private::Request,
            #secret: &'a #private::Secret,
        ) -> #private::BoxFuture<'a, #private::Verification> {
            ::std::boxed::Box::pin(async move {
                let #verdict = #name(#(#args),*).await;
                let #verdict: #verdict_ty = #verdict_value;
                #verdict
            })
        }
        #wrapper
    }}
}

/// After an error: the errors, plus a placeholder static so that `#[job(trigger = name)]`
/// elsewhere does not add a second, misleading error.
///
/// `krate` is the `crate = path` argument, or `::trigger_runtime` when it is missing or the
/// arguments did not parse.
pub(super) fn fallback(
    krate: &TokenStream,
    item: &EndpointItem,
    error: &syn::Error,
) -> TokenStream {
    let EndpointItem { vis, sig, .. } = item;
    let name = &sig.ident;
    let errors = error.to_compile_error();
    quote! {
        #[allow(non_upper_case_globals, dead_code)]
        #vis static #name: #krate::__private::HttpEndpoint =
            #krate::__private::fallback_endpoint();
        #errors
    }
}
