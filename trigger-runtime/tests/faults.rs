//! Honest about faults: a database another process holds locked answers `503` with
//! `Retry-After` within seconds (never `200` for what was not stored, never a hang), `/readyz`
//! says so, and the server carries on once the lock is gone; one unreadable row does not stop
//! the queue.

mod common;

use std::time::{Duration, Instant};

use axum::body::Body;
use common::{TempDir, get, secret, send, signed};
use http::StatusCode;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::{BoxError, Job};
use trigger_runtime::registry::Registry;
use trigger_runtime::server::Server;
use trigger_runtime::store::{SqliteStore, Store};
use trigger_runtime::verify::HmacScheme;

static HOOK: HttpEndpoint = HttpEndpoint::new("hook").with_hmac(HmacScheme::new("X-Sig"));

async fn app(dir: &TempDir) -> Server {
    let job = Job::new("ok", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, BoxError>(())
    });
    let store = Store::new(SqliteStore::open(dir.join("t.db")).unwrap());
    Server::new(
        Registry::from_parts([&HOOK], [job]).unwrap(),
        store,
        common::config(),
    )
    .await
    .unwrap()
}

async fn deliver(app: &Server, body: &'static str) -> common::Reply {
    let request = signed(&HOOK, &secret(app, "hook"), body.as_bytes())
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_answers_503_then_recovers_without_a_restart() {
    let dir = TempDir::new("locked");
    let app = app(&dir).await;
    assert_eq!(deliver(&app, "{\"n\":1}").await.status, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);

    // Another process (here, another connection) takes the write lock and keeps it.
    let locker = rusqlite::Connection::open(dir.join("t.db")).unwrap();
    locker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = Instant::now();
    let refused = tower::ServiceExt::oneshot(
        app.router(),
        signed(&HOOK, &secret(&app, "hook"), b"{\"n\":2}")
            .body(Body::from("{\"n\":2}"))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let ready = get(&app, "/readyz").await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.json
    );
    assert!(!ready.error().is_empty());

    locker.execute_batch("ROLLBACK").unwrap();
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    let accepted = deliver(&app, "{\"n\":3}").await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.json);
    // Everything answered 200 is stored, and the refused one is not.
    let stats = get(&app, "/api/v1/stats").await.json;
    assert_eq!(stats["runs"]["queued"], 2, "{stats}");
}

#[tokio::test]
async fn a_run_whose_event_is_missing_or_unreadable_fails_and_the_queue_goes_on() {
    let dir = TempDir::new("bad-rows");
    let app = app(&dir).await;
    let mut events = Vec::new();
    for body in ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"] {
        let reply = deliver(&app, body).await;
        events.push(reply.json["event_id"].as_str().unwrap().to_owned());
    }
    let raw = rusqlite::Connection::open(dir.join("t.db")).unwrap();
    // Lose an event the way a hand-edited or half-restored database could.
    raw.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    raw.execute(
        "UPDATE events SET headers = X'01' WHERE id = ?1",
        [&events[0]],
    )
    .unwrap();
    raw.execute("DELETE FROM events WHERE id = ?1", [&events[1]])
        .unwrap();
    drop(raw);
    common::drain(&app).await;
    let stats = get(&app, "/api/v1/stats").await.json;
    assert_eq!(
        (
            stats["runs"]["succeeded"].as_u64(),
            stats["runs"]["failed"].as_u64()
        ),
        (Some(1), Some(2)),
        "{stats}"
    );
    let failed = get(&app, "/api/v1/runs?status=failed").await.json;
    let errors: Vec<&str> = failed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error"].as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("cannot be read")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("is missing")),
        "{errors:?}"
    );
}

/// A TCP proxy to PostgreSQL that can be cut: while cut it closes every open connection and
/// every new one at once, as a database that went away (a restart, a failover, a cable).
struct Proxy {
    port: u16,
    up: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut watch = watch.clone();
                if !*watch.borrow() {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { port, up }
    }

    /// A proxy to the server `url` names, and `url` through it.
    async fn in_front_of(url: &str) -> (Self, String) {
        // postgres://user@host:port/db?schema=…
        let (scheme_user, rest) = url.split_once('@').unwrap();
        let (host_port, path) = rest.split_once('/').unwrap();
        let target = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        };
        let proxy = Self::start(target).await;
        let proxied = format!("{scheme_user}@127.0.0.1:{}/{path}", proxy.port);
        (proxy, proxied)
    }

    fn cut(&self) {
        self.up.send_replace(false);
    }

    fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// PostgreSQL going away mid-service: ingest answers `503` with `Retry-After` within seconds,
/// `/readyz` says so, the worker keeps trying; once it is back, the same server (no restart)
/// takes webhooks again and runs everything it acknowledged, before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_is_survived_without_a_restart() {
    let Some(schema) = common::TestSchema::new("postgres_going_away_is_survived") else {
        return;
    };
    let (proxy, proxied) = Proxy::in_front_of(&schema.url()).await;

    let job = Job::new("ok", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, BoxError>(())
    });
    let app = Server::new(
        Registry::from_parts([&HOOK], [job]).unwrap(),
        Store::open(&proxied).await.unwrap(),
        common::config(),
    )
    .await
    .unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = tokio::spawn({
        let (worker, stop) = (app.worker().clone(), stop.clone());
        async move { worker.run(stop).await }
    });
    let before = deliver(&app, "{\"n\":1}").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.json);
    common::wait_for_status(
        &app,
        before.json["runs"][0]["id"].as_str().unwrap(),
        "succeeded",
    )
    .await;

    proxy.cut();
    let started = Instant::now();
    let refused = deliver(&app, "{\"n\":2}").await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.json
    );
    assert!(
        refused.error().contains("PostgreSQL"),
        "{}",
        refused.error()
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        get(&app, "/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // The worker meets the outage too, and goes on trying.
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.restore();
    let back = Instant::now();
    let accepted = loop {
        let reply = deliver(&app, "{\"n\":3}").await;
        if reply.status == StatusCode::OK {
            break reply;
        }
        assert!(back.elapsed() < Duration::from_secs(15), "{}", reply.json);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = accepted.json["runs"][0]["id"].as_str().unwrap().to_owned();
    common::wait_for_status(&app, &id, "succeeded").await;
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);
    let stats = get(&app, "/api/v1/stats").await.json;
    assert_eq!(
        stats["runs"]["succeeded"], 2,
        "what was acknowledged ran; {stats}"
    );
    stop.cancel();
    worker.await.unwrap();
    drop(app);
    schema.drop_schema().await;
}
