//! `send <endpoint-id> [--file body.json | --job <job-id>]`: signs a body (a file, a job's
//! example payload, or a small example) the way the endpoint's sender would,
//! with the endpoint's own scheme and the secret the server verifies with, sends it to the
//! running server, and follows the runs it starts until they finish (the way
//! `stripe trigger` tests a handler without Stripe).

use std::path::Path;
use std::time::Duration;

use super::client::{self, Answer};
use super::inspect::took;
use super::{Options, server_config};
use crate::endpoint::HttpEndpoint;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::server::Server;
use crate::store::Store;
use crate::time::Timestamp;

/// The example payload of job `id`, which `endpoint` must trigger.
fn job_example(registry: &Registry, endpoint: &HttpEndpoint, id: &str) -> Result<Vec<u8>> {
    let on_endpoint = || {
        let ids: Vec<&str> = registry
            .jobs_for(endpoint.id())
            .map(|job| job.id())
            .collect();
        ids.join(", ")
    };
    let Some(job) = registry.job(id) else {
        return Err(Error::Command(format!(
            "no job {id:?}; the jobs of {} are {}",
            endpoint.id(),
            on_endpoint()
        )));
    };
    let triggered_by = job.trigger().endpoint().id();
    if triggered_by != endpoint.id() {
        return Err(Error::Command(format!(
            "job {id:?} is triggered by {triggered_by}, not {}; its jobs are {}",
            endpoint.id(),
            on_endpoint()
        )));
    }
    match job.example() {
        Some(body) => Ok(body.as_bytes().to_vec()),
        None => Err(Error::Command(format!(
            "job {id:?} has no example payload; add `example = \"payloads/{id}.json\"` to its \
             #[job], or send a file with --file"
        ))),
    }
}

/// What `send` was asked.
pub(super) struct SendArgs<'a> {
    pub(super) endpoint: &'a str,
    pub(super) file: Option<&'a Path>,
    pub(super) job: Option<&'a str>,
    pub(super) content_type: &'a str,
    pub(super) wait: Duration,
}

pub(super) async fn send(registry: Registry, options: &Options, args: &SendArgs<'_>) -> Result<()> {
    let endpoint = registry.endpoint(args.endpoint).ok_or_else(|| {
        let ids: Vec<&str> = registry.endpoints().map(HttpEndpoint::id).collect();
        Error::Command(format!(
            "no endpoint {:?}; the endpoints are {}",
            args.endpoint,
            ids.join(", ")
        ))
    })?;
    let now = Timestamp::now();
    let body = match (args.file, args.job) {
        (Some(path), _) => std::fs::read(path).map_err(|source| Error::Io {
            context: format!("could not read {}", path.display()),
            source,
        })?,
        (None, Some(job)) => job_example(&registry, endpoint, job)?,
        (None, None) => example_body(now),
    };
    let store = Store::open(&options.database_url).await?;
    let server = Server::new(registry, store, server_config(options)).await?;
    let secret = server
        .secret_state(endpoint.id())
        .and_then(|state| state.secret().cloned())
        .ok_or_else(|| {
            let var = endpoint.secret_env().unwrap_or("the secret's variable");
            Error::Command(format!("secret not configured: set {var}"))
        })?;
    let address = format!("{}:{}", connect_host(&options.host), options.port);
    let base = match &options.public_url {
        Some(base) => base.trim_end_matches('/').to_owned(),
        None => format!("http://{address}"),
    };
    let body = bytes::Bytes::from(body);
    let delivery = endpoint
        .test_delivery(&base, &body, args.content_type, &secret, now)
        .map_err(Error::Command)?;
    let (path, headers) = (delivery.path, delivery.headers);
    let url = format!("{base}{path}");
    println!("POST {url}");
    let answer = client::send(&address, "POST", &path, &headers, &body)
        .await
        .map_err(|source| Error::Io {
            context: format!("could not reach the server at {address} (is it running?)"),
            source,
        })?;
    println!(
        "{} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    if answer.status != 200 {
        let error = answer.json()["error"].as_str().map(str::to_owned);
        let why = error.unwrap_or_else(|| String::from_utf8_lossy(&answer.body).into_owned());
        return Err(Error::Command(format!(
            "the server answered {}: {why}",
            answer.status
        )));
    }
    follow(&address, &answer, args.wait).await
}

/// A small JSON body with the fields presets read (an id, a millisecond timestamp).
fn example_body(now: Timestamp) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "trigger.test",
        "id": format!("evt_send_{}", now.as_unix_millis()),
        "created_at": now.to_string(),
        "webhookTimestamp": now.as_unix_millis(),
        "data": { "message": "a test webhook from `send`" }
    });
    serde_json::to_vec_pretty(&body).unwrap_or_default()
}

/// Where to connect to reach a server listening on `host`.
fn connect_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    }
}

/// Polls each run the answer names until it finishes or `wait` passes, printing each change.
async fn follow(address: &str, answer: &Answer, wait: Duration) -> Result<()> {
    let accepted = answer.json();
    let runs: Vec<String> = accepted["runs"]
        .as_array()
        .map(|runs| {
            runs.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if runs.is_empty() {
        println!("no job's filter matched: no runs");
        return Ok(());
    }
    let auth = crate::verify::env_secret("TRIGGER_API_KEY")
        .map(|key| vec![("Authorization", format!("Bearer {}", key.expose()))])
        .unwrap_or_default();
    let started = Timestamp::now();
    let deadline = tokio::time::Instant::now() + wait;
    let mut failures = Vec::new();
    for id in runs {
        let mut shown = String::new();
        loop {
            let path = format!("/api/v1/runs/{id}");
            let run = client::send(address, "GET", &path, &auth, b"")
                .await
                .map(|answer| answer.json())
                .unwrap_or_default();
            let status = run["status"].as_str().unwrap_or("unknown").to_owned();
            if status != shown {
                println!(
                    "{id}  {}  {status}  ({})",
                    run["job"].as_str().unwrap_or("?"),
                    took(started, Timestamp::now())
                );
                shown = status.clone();
            }
            match status.as_str() {
                "succeeded" => break,
                "failed" | "canceled" => {
                    let error = run["error"].as_str().unwrap_or(&status).to_owned();
                    failures.push(format!("run {id} {status}: {error}"));
                    break;
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    failures.push(format!("run {id} is still {status} after {wait:?}"));
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(Error::Command(failures.join("; "))),
    }
}
