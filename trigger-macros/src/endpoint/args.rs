//! `#[http_endpoint(...)]` arguments.

use syn::{LitBool, LitStr};

use crate::kw;
use crate::lit::arguments;

arguments! {
    /// Everything written inside `#[http_endpoint(...)]`, each value with its key's span.
    pub(crate) struct EndpointArgs {
        id:        LitStr    = "id"        kw::id,
        source:    LitStr    = "source"    kw::source,
        icon:      LitStr    = "icon"      kw::icon,
        title:     LitStr    = "title"     kw::title,
        enabled:   LitBool   = "enabled"   kw::enabled,
        header:    LitStr    = "header"    kw::header,
        algorithm: LitStr    = "algorithm" kw::algorithm,
        encoding:  LitStr    = "encoding"  kw::encoding,
        prefix:    LitStr    = "prefix"    kw::prefix,
        secret:    LitStr    = "secret"    kw::secret,
        krate:     syn::Path = "crate"     syn::token::Crate,
    }
}
