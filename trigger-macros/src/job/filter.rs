//! `#[job(filter = { ... })]`: a request filter written as JSON. It is checked with
//! `trigger_filter::Filter::from_json`, the very function that compiles it at start-up, and
//! expands to code that builds the same JSON, so the two can never disagree.

use proc_macro2::{Group, Literal, TokenStream, TokenTree};
use quote::quote;
use serde_json::{Number, Value};
use syn::parse::{Parse, ParseStream};
use trigger_filter::Filter;

use crate::diag::Errors;
use crate::json::{self, Json};

const EXAMPLE: &str = "`filter = { \"body\": { \"type\": [\"created\"] } }`";

/// The value of `filter = { ... }`: a `{}` group, parsed as JSON during validation.
pub(crate) struct JsonGroup(Group);

impl Parse for JsonGroup {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(syn::token::Brace) {
            if let TokenTree::Group(group) = input.parse()? {
                return Ok(Self(group));
            }
        }
        Err(input.error(if input.peek(syn::LitStr) {
            format!("write the filter as JSON in braces, without quotes, like {EXAMPLE}")
        } else {
            format!("`filter` is a JSON object in braces, like {EXAMPLE}")
        }))
    }
}

/// The filter's JSON, if it parses and `Filter::from_json` accepts it. Otherwise `None`, with
/// every syntax error, or the filter's error on the key or the value it is about.
pub(super) fn check(group: &JsonGroup, errors: &mut Errors) -> Option<Value> {
    let json = Json::parse(&group.0).map_err(|e| errors.push(e)).ok()?;
    let value = json.to_value();
    match Filter::from_json(&value) {
        Ok(_) => Some(value),
        Err(error) => {
            let span = json.span_of(error.path(), error.target());
            errors.push(json::error(span, error.message()));
            None
        }
    }
}

/// An expression that builds `value` with the constructors of `serde_json` (the path to the
/// crate).
pub(super) fn build(value: &Value, serde_json: &TokenStream) -> TokenStream {
    let ty = quote!(#serde_json::Value);
    match value {
        Value::Null => quote!(#ty::Null),
        Value::Bool(b) => quote!(#ty::Bool(#b)),
        Value::Number(n) => number(n, &ty),
        Value::String(s) => quote!(#ty::from(#s)),
        Value::Array(items) => {
            let items = items.iter().map(|item| build(item, serde_json));
            quote!(<#ty as ::core::iter::FromIterator<#ty>>::from_iter([#(#items),*]))
        }
        Value::Object(fields) => {
            let keys = fields.keys();
            let values = fields.values().map(|value| build(value, serde_json));
            quote! {
                <#ty as ::core::iter::FromIterator<(&str, #ty)>>::from_iter([
                    #((#keys, #values)),*
                ])
            }
        }
    }
}

/// The number as the runtime builds it: `5u64`, `-5i64`, or an `f64` from its bits (exactly
/// the same one, and no float literal for a lint such as `clippy::approx_constant` to find).
fn number(n: &Number, ty: &TokenStream) -> TokenStream {
    if let Some(n) = n.as_u64() {
        let n = Literal::u64_suffixed(n);
        quote!(#ty::from(#n))
    } else if let Some(n) = n.as_i64() {
        let n = Literal::i64_suffixed(n);
        quote!(#ty::from(#n))
    } else {
        // Always a finite `f64`: JSON has no infinities.
        let bits = Literal::u64_suffixed(n.as_f64().unwrap_or_default().to_bits());
        quote!(#ty::from(::core::primitive::f64::from_bits(#bits)))
    }
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use serde_json::{Value, json};

    use super::build;

    fn built(value: &Value) -> String {
        build(value, &quote!(j)).to_string()
    }

    #[test]
    fn numbers_keep_their_kind_and_value() {
        assert_eq!(built(&json!(5)), "j :: Value :: from (5u64)");
        assert_eq!(built(&json!(-5)), "j :: Value :: from (- 5i64)");
        let bits = 2.5_f64.to_bits();
        assert_eq!(
            built(&json!(2.5)),
            format!("j :: Value :: from (:: core :: primitive :: f64 :: from_bits ({bits}u64))")
        );
    }

    #[test]
    fn values() {
        assert_eq!(built(&json!(null)), "j :: Value :: Null");
        assert_eq!(built(&json!(true)), "j :: Value :: Bool (true)");
        assert_eq!(built(&json!("a\"b")), r#"j :: Value :: from ("a\"b")"#);
        assert_eq!(
            built(&json!([])),
            "< j :: Value as :: core :: iter :: FromIterator < j :: Value >> :: from_iter ([])"
        );
        assert_eq!(
            built(&json!({ "k": false })),
            "< j :: Value as :: core :: iter :: FromIterator < (& str , j :: Value) >> :: \
             from_iter ([(\"k\" , j :: Value :: Bool (false))])"
        );
    }
}
