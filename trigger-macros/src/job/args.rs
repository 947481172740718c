//! `#[job(...)]` arguments.

use syn::{LitBool, LitInt, LitStr};

use super::filter::JsonGroup;
use crate::kw;
use crate::lit::arguments;

arguments! {
    /// Everything written inside `#[job(...)]`, each value with its key's span.
    pub(crate) struct JobArgs {
        id:          LitStr    = "id"          kw::id,
        name:        LitStr    = "name"        kw::name,
        version:     LitStr    = "version"     kw::version,
        enabled:     LitBool   = "enabled"     kw::enabled,
        trigger:     syn::Path = "trigger"     kw::trigger,
        filter:      JsonGroup = "filter"      kw::filter,
        retries:     LitInt    = "retries"     kw::retries,
        backoff:     LitStr    = "backoff"     kw::backoff,
        timeout:     LitStr    = "timeout"     kw::timeout,
        concurrency: LitInt    = "concurrency" kw::concurrency,
        example:     LitStr    = "example"     kw::example,
        krate:       syn::Path = "crate"       syn::token::Crate,
    }
}
