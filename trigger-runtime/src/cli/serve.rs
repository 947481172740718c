//! `serve` and `endpoints`: the server with its banner, and the endpoints listed.

use std::net::SocketAddr;

use super::{Options, server_config};
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::server::{SecretState, Server, ServerConfig};
use crate::store::{Store, redact_url};

pub(super) async fn serve(registry: Registry, options: Options) -> Result<()> {
    let config = server_config(&options);
    check_exposure(&options.host, &config)?;
    let store = Store::open(&options.database_url).await?;
    let server = Server::new(registry, store, config).await?;
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| Error::Io {
            context: format!("could not listen on {address}"),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Io {
        context: "reading the listening address".to_owned(),
        source,
    })?;
    print!("{}", banner(&server, &options, local));
    let result = server.serve(listener, shutdown_signal()).await;
    tracing::info!("stopped");
    result
}

/// Refuses to serve an open API beyond loopback, unless asked to, loudly.
fn check_exposure(host: &str, config: &ServerConfig) -> Result<()> {
    if config.api_key.is_some() || crate::server::is_loopback_address(host) {
        return Ok(());
    }
    if !config.open_api {
        return Err(Error::OpenApi {
            host: host.to_owned(),
        });
    }
    tracing::warn!(
        host,
        "--insecure-open-api: the JSON API is open to anyone who can reach {host}; set TRIGGER_API_KEY to close it"
    );
    Ok(())
}

pub(super) async fn endpoints(registry: Registry, options: &Options) -> Result<()> {
    let store = Store::open(&options.database_url).await?;
    let server = Server::new(registry, store, server_config(options)).await?;
    let base = base_url(options, None);
    let mut out = String::new();
    for endpoint in server.registry().endpoints() {
        let secret = server
            .secret_state(endpoint.id())
            .map_or_else(String::new, |s| secret_text(s, &server));
        out.push_str(&format!(
            "{}\n  url:          {base}{}\n  source:       {}\n  enabled:      {}\n  verification: {}\n  secret:       {secret}\n",
            endpoint.id(),
            endpoint.path(),
            endpoint.source(),
            endpoint.is_enabled(),
            verification_text(endpoint),
        ));
    }
    print!("{out}");
    Ok(())
}

/// `preset stripe: HMAC-SHA256 hex of ...`, the scheme alone, or `custom verify fn`.
fn verification_text(endpoint: &crate::endpoint::HttpEndpoint) -> String {
    match endpoint.preset() {
        Some(preset) => format!("preset {preset}: {}", endpoint.verifier()),
        None => endpoint.verifier().to_string(),
    }
}

fn base_url(options: &Options, local: Option<SocketAddr>) -> String {
    if let Some(url) = &options.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    match local {
        Some(addr) => format!("http://{addr}"),
        None => format!("http://{}:{}", options.host, options.port),
    }
}

fn secret_text(state: &SecretState, server: &Server) -> String {
    match state {
        SecretState::Env { vars, unset, .. } if unset.is_empty() => {
            format!("set (from {})", vars.join(", "))
        }
        SecretState::Env { vars, unset, .. } => format!(
            "set (from {}); NOT SET: {}",
            vars.join(", "),
            unset.join(", ")
        ),
        SecretState::Missing { var } => format!("NOT SET: set {var}; requests get 401 until then"),
        SecretState::Generated { secret } if !server.store().kind().is_persistent() => format!(
            "{} (generated; the memory store forgets it at exit, so name a `secret` variable to keep it)",
            secret.expose()
        ),
        SecretState::Generated { secret } => format!("{} (generated and stored)", secret.expose()),
    }
}

fn banner(server: &Server, options: &Options, local: SocketAddr) -> String {
    let base = base_url(options, Some(local));
    let mut out = format!(
        "\ntrigger-runtime {} · env {} · store {}\nlistening on http://{local}\n\
         dashboard  {base}/\napi        {base}/api/v1 · {base}/metrics\naccess     {}\n\n\
         endpoints:\n",
        env!("CARGO_PKG_VERSION"),
        options.environment,
        redact_url(&options.database_url),
        crate::dashboard::access(server),
    );
    for endpoint in server.registry().endpoints() {
        let state = if endpoint.is_enabled() {
            ""
        } else {
            " (disabled)"
        };
        let secret = server
            .secret_state(endpoint.id())
            .map_or_else(String::new, |s| secret_text(s, server));
        out.push_str(&format!(
            "  {}{state}  {base}{}\n    verification: {}\n    secret: {secret}\n",
            endpoint.id(),
            endpoint.path(),
            verification_text(endpoint)
        ));
    }
    out.push_str("\njobs:\n");
    for job in server.registry().jobs() {
        let state = if job.is_enabled() { "" } else { " (disabled)" };
        out.push_str(&format!(
            "  {}@{}{state}  \"{}\"  <- {}\n",
            job.id(),
            job.version(),
            job.name(),
            job.trigger().endpoint().id()
        ));
    }
    out.push('\n');
    out
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: no new requests; running jobs get the grace period");
}
