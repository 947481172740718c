//! Argument keywords shared by both macros.

syn::custom_keyword!(id);
syn::custom_keyword!(name);
syn::custom_keyword!(version);
syn::custom_keyword!(enabled);
syn::custom_keyword!(trigger);
syn::custom_keyword!(filter);
syn::custom_keyword!(source);
syn::custom_keyword!(icon);
syn::custom_keyword!(title);
syn::custom_keyword!(header);
syn::custom_keyword!(algorithm);
syn::custom_keyword!(encoding);
syn::custom_keyword!(prefix);
syn::custom_keyword!(secret);
syn::custom_keyword!(retries);
syn::custom_keyword!(backoff);
syn::custom_keyword!(timeout);
syn::custom_keyword!(concurrency);
syn::custom_keyword!(example);
syn::custom_keyword!(preset);
syn::custom_keyword!(signed);
syn::custom_keyword!(timestamp_header);
syn::custom_keyword!(tolerance);
syn::custom_keyword!(respond_with);
syn::custom_keyword!(verify_token);
