//! Who may reach what: the API key, loopback-only access without one, and the `Host` check
//! that keeps a web page using DNS rebinding away from a loopback API.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;

use super::AppState;
use super::response::ErrorResponse;
use crate::verify::constant_time_eq;

/// Whether `host` (an address to listen on: `127.0.0.1`, `::1`, `localhost`) only accepts
/// connections from this machine.
pub(crate) fn is_loopback_address(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a `Host` header names this machine's loopback (`localhost`, `127.0.0.1`, `[::1]`,
/// with any port).
pub(crate) fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.parse::<http::uri::Authority>() {
        Ok(authority) => authority.host().to_owned(),
        Err(_) => return false,
    };
    is_loopback_address(&host)
}

/// Guards `/api`: with `TRIGGER_API_KEY`, a request needs it (`Authorization: Bearer <key>` or
/// `X-Api-Key`); without one, the server listens on loopback only, and a request whose `Host`
/// names anything else (a page that rebound its DNS name to 127.0.0.1) gets `403`.
pub(super) async fn require_api_key(
    State(state): State<std::sync::Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let Some(key) = &state.config.api_key else {
        let host = headers
            .get(http::header::HOST)
            .map(|h| h.to_str().unwrap_or(""));
        if state.config.open_api || host.is_none_or(is_loopback_authority) {
            return next.run(request).await;
        }
        return ErrorResponse::new(
            StatusCode::FORBIDDEN,
            "the API without TRIGGER_API_KEY answers only requests to localhost, 127.0.0.1 or [::1]",
        )
        .into_response();
    };
    let given = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        });
    if given.is_some_and(|given| constant_time_eq(given.as_bytes(), key.as_bytes())) {
        next.run(request).await
    } else {
        ErrorResponse::unauthorized(
            "missing or wrong API key; send `Authorization: Bearer $TRIGGER_API_KEY`",
        )
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::{is_loopback_address, is_loopback_authority};

    #[test]
    fn loopback_names() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback_address(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.168.1.2", "example.com", ""] {
            assert!(!is_loopback_address(host), "{host}");
        }
        for authority in ["localhost:3000", "127.0.0.1", "[::1]:8080", "localhost"] {
            assert!(is_loopback_authority(authority), "{authority}");
        }
        for authority in [
            "evil.example:3000",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "",
            "a b",
        ] {
            assert!(!is_loopback_authority(authority), "{authority}");
        }
    }
}
