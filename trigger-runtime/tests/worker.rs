//! Workers: success, retries with backoff, panics, timeouts, leases and shutdown; on every
//! store driver.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::Body;
use common::{drain, get, secret, send, server, signed, wait_for_status};
use http::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use trigger_runtime::endpoint::HttpEndpoint;
use trigger_runtime::job::{Job, RetryPolicy};
use trigger_runtime::registry::Registry;
use trigger_runtime::server::Server;
use trigger_runtime::verify::HmacScheme;

static HOOK: HttpEndpoint = HttpEndpoint::new("hook").with_hmac(HmacScheme::new("X-Sig"));

fn fast(attempts: u32) -> RetryPolicy {
    RetryPolicy::attempts(attempts).with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

async fn app(job: Job) -> Server {
    server(
        Registry::from_parts([&HOOK], [job]).unwrap(),
        common::config(),
    )
    .await
}

/// Sends one signed webhook and returns its only run id.
async fn deliver(app: &Server) -> String {
    let request = signed(&HOOK, &secret(app, "hook"), b"{}")
        .body(Body::from("{}"))
        .unwrap();
    let reply = send(app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    reply.json["runs"][0]["id"].as_str().unwrap().to_owned()
}

/// The worker loop running in the background, as `Server::serve` runs it.
struct Background {
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl Background {
    fn start(app: &Server) -> Self {
        let stop = CancellationToken::new();
        let worker = app.worker().clone();
        let token = stop.clone();
        let handle = tokio::spawn(async move { worker.run(token).await });
        Self { stop, handle }
    }

    /// Cancels the loop and waits (at most 5 s) for its drain to end.
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.handle)
            .await
            .unwrap()
            .unwrap();
    }
}

async fn run_json(app: &Server, id: &str) -> Value {
    get(app, &format!("/api/v1/runs/{id}")).await.json
}

async fn a_failing_job_is_retried_until_it_succeeds() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let job = Job::new("flaky", HOOK.on_request(), move |_req, io, ctx| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            io.logger.info("attempt", ctx.attempt());
            if n < 3 {
                Err(format!("failure {n}"))
            } else {
                Ok(n)
            }
        }
    })
    .with_retry(fast(5));
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 3);
    assert_eq!(run["output"], 3);
    let errors: Vec<&Value> = run["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["error"])
        .collect();
    assert_eq!(
        errors,
        [
            &Value::from("failure 1"),
            &Value::from("failure 2"),
            &Value::Null
        ]
    );
    let attempts: Vec<&Value> = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| &l["data"])
        .collect();
    assert_eq!(
        attempts,
        [&Value::from(1), &Value::from(2), &Value::from(3)]
    );
}

async fn out_of_attempts_the_run_fails_with_the_error_chain() {
    let job = Job::new(
        "broken",
        HOOK.on_request(),
        |req: trigger_runtime::request::Request, _io, _ctx| async move {
            req.json::<Vec<u32>>()?;
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    )
    .with_retry(fast(2));
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["attempts"], 2);
    let error = run["error"].as_str().unwrap();
    assert!(
        error.starts_with("request body is not valid JSON for the requested type: invalid type"),
        "{error}"
    );
}

async fn a_panic_fails_the_attempt_not_the_server() {
    let job = Job::new("panics", HOOK.on_request(), |_req, _io, _ctx| async move {
        if true {
            panic!("boom");
        }
        Ok::<_, trigger_runtime::job::BoxError>(())
    })
    .with_retry(fast(1));
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["error"], "job panicked: boom");
    // The server still answers.
    deliver(&app).await;
}

async fn an_attempt_past_its_timeout_is_stopped_and_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let job = Job::new("slow", HOOK.on_request(), move |_req, _io, _ctx| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok::<_, trigger_runtime::job::BoxError>(())
        }
    })
    .with_retry(fast(2))
    .with_timeout(Duration::from_millis(50));
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["history"][0]["error"], "attempt timed out after 50ms");
}

async fn the_background_worker_picks_up_new_runs_and_drains_on_shutdown() {
    let job = Job::new("quick", HOOK.on_request(), |_req, io, _ctx| async move {
        io.logger.info("done", ());
        Ok::<_, trigger_runtime::job::BoxError>(())
    });
    let app = app(job).await;
    let background = Background::start(&app);
    let id = deliver(&app).await;
    wait_for_status(&app, &id, "succeeded").await;
    background.stop().await;
}

async fn a_run_unfinished_at_the_end_of_the_grace_period_is_released() {
    let job = Job::new("forever", HOOK.on_request(), |_req, _io, _ctx| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, trigger_runtime::job::BoxError>(())
    });
    let mut config = common::config();
    config.worker.shutdown_grace = Duration::from_millis(50);
    let app = server(Registry::from_parts([&HOOK], [job]).unwrap(), config).await;
    let background = Background::start(&app);
    let id = deliver(&app).await;
    wait_for_status(&app, &id, "running").await;
    background.stop().await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "queued", "{run}");
    assert_eq!(run["attempts"], 0, "a released attempt is not counted");
}

async fn a_run_whose_lease_expired_is_claimed_again() {
    let job = Job::new("leased", HOOK.on_request(), |_req, _io, ctx| async move {
        Ok::<_, trigger_runtime::job::BoxError>(ctx.attempt())
    });
    let app = app(job).await;
    let id = deliver(&app).await;
    // A worker that claims and then dies: its lease runs out.
    let claimed = app
        .store()
        .claim(&trigger_runtime::store::ClaimRequest::new(
            10,
            Duration::from_millis(1),
        ))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["output"], 2, "the second attempt ran");
    // The dead worker's late result is refused.
    let stale = app
        .store()
        .finish(
            &id,
            claimed[0].lease,
            vec![],
            trigger_runtime::store::AttemptOutcome::Failed {
                error: "late".into(),
            },
        )
        .await
        .unwrap();
    assert!(!stale);
    assert_eq!(run_json(&app, &id).await["status"], "succeeded");
}

/// A job that counts how often its task body and the job itself run, then fails once.
fn task_job(task_runs: Arc<AtomicU32>) -> Job {
    Job::new(
        "tasks",
        HOOK.on_request(),
        move |_req, io: trigger_runtime::io::Io, ctx: trigger_runtime::job::Context| {
            let task_runs = Arc::clone(&task_runs);
            async move {
                let value: Vec<u32> = io
                    .run_task("expensive", || async move {
                        task_runs.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(vec![7, 8])
                    })
                    .await?;
                if ctx.attempt() == 1 {
                    return Err("fail after the task".into());
                }
                Ok::<_, trigger_runtime::job::BoxError>(value)
            }
        },
    )
    .with_retry(fast(3))
}

async fn a_completed_task_returns_its_stored_output_on_retry() {
    let task_runs = Arc::new(AtomicU32::new(0));
    let app = app(task_job(Arc::clone(&task_runs))).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempts"], 2);
    assert_eq!(run["output"], serde_json::json!([7, 8]));
    assert_eq!(
        task_runs.load(Ordering::SeqCst),
        1,
        "the task body ran once"
    );
}

async fn the_same_task_key_twice_in_one_attempt_is_an_error() {
    let job = Job::new(
        "twice",
        HOOK.on_request(),
        |_req, io: trigger_runtime::io::Io, _ctx| async move {
            io.run_task("k", || async { Ok::<_, std::io::Error>(1) })
                .await?;
            io.run_task("k", || async { Ok::<_, std::io::Error>(2) })
                .await?;
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    )
    .with_retry(fast(1));
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "failed");
    assert_eq!(
        run["error"],
        "task key \"k\" is used twice in one attempt; give each task and wait its own key"
    );
}

fn waiting_job(before: Arc<AtomicU32>, after: Arc<AtomicU32>) -> Job {
    Job::new(
        "waits",
        HOOK.on_request(),
        move |_req, io: trigger_runtime::io::Io, _ctx| {
            let (before, after) = (Arc::clone(&before), Arc::clone(&after));
            async move {
                io.run_task("before", || async move {
                    Ok::<_, std::io::Error>(before.fetch_add(1, Ordering::SeqCst))
                })
                .await?;
                io.wait("pause", Duration::from_millis(1000)).await?;
                after.fetch_add(1, Ordering::SeqCst);
                Ok::<_, trigger_runtime::job::BoxError>(())
            }
        },
    )
}

async fn a_wait_suspends_the_run_without_holding_a_worker_then_resumes() {
    let (before, after) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let app = app(waiting_job(Arc::clone(&before), Arc::clone(&after))).await;
    let id = deliver(&app).await;
    assert_eq!(app.worker().run_once().await, 1);
    let run = run_json(&app, &id).await;
    assert_eq!(
        (run["status"].as_str(), run["attempts"].as_u64()),
        (Some("queued"), Some(0)),
        "{run}"
    );
    assert_eq!(
        app.worker().run_once().await,
        0,
        "not due before the wait ends"
    );
    tokio::time::sleep(Duration::from_millis(1050)).await;
    drain(&app).await;
    assert_eq!(run_json(&app, &id).await["status"], "succeeded");
    assert_eq!(
        (before.load(Ordering::SeqCst), after.load(Ordering::SeqCst)),
        (1, 1)
    );
}

#[tokio::test]
async fn a_wait_survives_a_restart_on_sqlite() {
    let dir = common::TempDir::new("wait");
    let path = dir.join("t.db");
    let (before, after) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let open = || {
        trigger_runtime::store::SqliteStore::open(&path)
            .map(trigger_runtime::store::Store::new)
            .unwrap()
    };
    let registry = || {
        Registry::from_parts(
            [&HOOK],
            [waiting_job(Arc::clone(&before), Arc::clone(&after))],
        )
        .unwrap()
    };
    let id = {
        let first = Server::new(registry(), open(), common::config())
            .await
            .unwrap();
        let id = deliver(&first).await;
        assert_eq!(first.worker().run_once().await, 1);
        assert_eq!(run_json(&first, &id).await["status"], "queued");
        id
    };
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let second = Server::new(registry(), open(), common::config())
        .await
        .unwrap();
    drain(&second).await;
    assert_eq!(run_json(&second, &id).await["status"], "succeeded");
    assert_eq!(
        (before.load(Ordering::SeqCst), after.load(Ordering::SeqCst)),
        (1, 1)
    );
}

async fn retries_wait_for_the_backoff() {
    let job = Job::new(
        "backoff",
        HOOK.on_request(),
        |_req, _io, ctx: trigger_runtime::job::Context| async move {
            if ctx.attempt() < 3 {
                return Err("not yet".into());
            }
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    )
    .with_retry(
        RetryPolicy::attempts(3).with_backoff(Duration::from_millis(200), Duration::from_secs(5)),
    );
    let app = app(job).await;
    let id = deliver(&app).await;
    let started = std::time::Instant::now();
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    // Waits of 200 ms then 400 ms, each scaled by jitter into [50 %, 100 %].
    let gap = |a: usize, b: usize| {
        let history = run["history"].as_array().unwrap();
        let end = history[a]["finished_at"].as_str().unwrap();
        let start = history[b]["started_at"].as_str().unwrap();
        millis(start) - millis(end)
    };
    assert!(
        (100..=400).contains(&gap(0, 1)),
        "first wait {} ms",
        gap(0, 1)
    );
    assert!(
        (200..=700).contains(&gap(1, 2)),
        "second wait {} ms",
        gap(1, 2)
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// Milliseconds of the day from an RFC 3339 timestamp (the test runs well within a day).
fn millis(rfc3339: &str) -> i64 {
    let time = &rfc3339[11..23];
    let (h, m, s, ms) = (&time[0..2], &time[3..5], &time[6..8], &time[9..12]);
    let n = |t: &str| t.parse::<i64>().unwrap();
    ((n(h) * 60 + n(m)) * 60 + n(s)) * 1000 + n(ms)
}

async fn a_job_concurrency_limit_holds_across_the_worker_pool() {
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (now, max) = (Arc::clone(&running), Arc::clone(&peak));
    let job = Job::new(
        "one-at-a-time",
        HOOK.on_request(),
        move |_req, _io, _ctx| {
            let (now, max) = (Arc::clone(&now), Arc::clone(&max));
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, trigger_runtime::job::BoxError>(())
            }
        },
    )
    .with_concurrency(1);
    let app = app(job).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(deliver(&app).await);
    }
    drain(&app).await;
    for id in &ids {
        assert_eq!(run_json(&app, id).await["status"], "succeeded");
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1, "never two at once");
}

async fn a_job_that_handles_the_wait_error_is_judged_by_what_it_returns() {
    let job = Job::new(
        "handles-wait",
        HOOK.on_request(),
        |_req, io: trigger_runtime::io::Io, _ctx| async move {
            let waited = io.wait("pause", Duration::from_secs(3600)).await;
            assert!(waited.is_err());
            Ok::<_, trigger_runtime::job::BoxError>(42)
        },
    );
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = run_json(&app, &id).await;
    assert_eq!(
        (run["status"].as_str(), run["output"].as_i64()),
        (Some("succeeded"), Some(42)),
        "{run}"
    );
}

async fn canceling_a_running_run_stops_it_at_the_next_heartbeat() {
    let finished = Arc::new(AtomicU32::new(0));
    let done = Arc::clone(&finished);
    let job = Job::new("long", HOOK.on_request(), move |_req, _io, _ctx| {
        let done = Arc::clone(&done);
        async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            done.fetch_add(1, Ordering::SeqCst);
            Ok::<_, trigger_runtime::job::BoxError>(())
        }
    });
    let mut config = common::config();
    config.worker.lease = Duration::from_millis(300);
    let app = server(Registry::from_parts([&HOOK], [job]).unwrap(), config).await;
    let id = deliver(&app).await;
    let worker = app.worker().clone();
    let running = tokio::spawn(async move { worker.run_once().await });
    wait_for_status(&app, &id, "running").await;
    let reply = send(
        &app,
        http::Request::post(format!("/api/v1/runs/{id}/cancel"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.json["status"], "canceled");
    tokio::time::timeout(Duration::from_secs(3), running)
        .await
        .expect("the attempt stopped")
        .unwrap();
    assert_eq!(run_json(&app, &id).await["status"], "canceled");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "the job was stopped, not run to the end"
    );
}

async fn a_job_that_logs_100_000_lines_stores_the_first_1000_and_a_summary() {
    let job = Job::new(
        "chatty",
        HOOK.on_request(),
        |_req, io: trigger_runtime::io::Io, _ctx| async move {
            for i in 0..100_000 {
                io.logger.info(format!("line {i}"), ());
            }
            Ok::<_, trigger_runtime::job::BoxError>(())
        },
    );
    let app = app(job).await;
    let id = deliver(&app).await;
    drain(&app).await;
    let run = app.store().run(&id).await.unwrap().unwrap();
    assert_eq!(run.status.as_str(), "succeeded");
    let mut logs = run.logs;
    let mut cursor = run.logs_next_cursor;
    while let Some(after) = cursor {
        let query = trigger_runtime::store::LogQuery {
            cursor: Some(after),
            limit: 1000,
        };
        let page = app.store().logs(&id, &query).await.unwrap().unwrap();
        logs.extend(page.logs);
        cursor = page.next_cursor;
    }
    assert_eq!(logs.len(), 1001, "1,000 lines and the summary");
    assert_eq!(logs[0].line.message, "line 0");
    assert_eq!(logs[999].line.message, "line 999");
    let summary = &logs[1000].line;
    // "line 1000" to "line 9999" are 9 bytes, the rest 10, and each has `null` data (4).
    let dropped_bytes = 9000 * 13 + 90_000 * 14;
    assert_eq!(
        summary.message,
        format!(
            "99000 more lines ({dropped_bytes} bytes) were dropped: \
             the attempt's log limit is 1000 lines and 1 MiB"
        )
    );
    assert_eq!(summary.data.value()["dropped_lines"], 99_000);
}

/// A server on `store` that does not have the job `job` (an older build, mid-deploy).
async fn without_job(store: trigger_runtime::store::Store, wait: Duration) -> Server {
    let mut config = common::config();
    config.worker.unknown_job_wait = wait;
    Server::new(Registry::from_parts([&HOOK], []).unwrap(), store, config)
        .await
        .unwrap()
}

async fn a_run_of_a_job_this_build_lacks_waits_for_a_server_that_has_it() {
    let job = Job::new("new-job", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, trigger_runtime::job::BoxError>("ran")
    });
    let new = app(job).await;
    // It waits up to 3 s, looking again every 300 ms.
    let old = without_job(new.store().clone(), Duration::from_secs(3)).await;
    let id = deliver(&new).await;
    assert_eq!(old.worker().run_once().await, 1);
    let run = run_json(&old, &id).await;
    assert_eq!(
        (run["status"].as_str(), run["attempts"].as_u64()),
        (Some("queued"), Some(0)),
        "{run}"
    );
    drain(&new).await;
    let run = run_json(&new, &id).await;
    assert_eq!(
        (run["status"].as_str(), run["output"].as_str()),
        (Some("succeeded"), Some("ran")),
        "{run}"
    );
}

async fn a_run_of_a_job_no_server_has_fails_after_the_wait() {
    let job = Job::new("gone", HOOK.on_request(), |_req, _io, _ctx| async {
        Ok::<_, trigger_runtime::job::BoxError>(())
    });
    let new = app(job).await;
    let old = without_job(new.store().clone(), Duration::from_millis(200)).await;
    let id = deliver(&new).await;
    drop(new);
    for _ in 0..100 {
        old.worker().run_once().await;
        if run_json(&old, &id).await["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let run = run_json(&old, &id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("not registered in this build"),
        "{run}"
    );
}

on_every_driver!(
    a_failing_job_is_retried_until_it_succeeds,
    out_of_attempts_the_run_fails_with_the_error_chain,
    a_panic_fails_the_attempt_not_the_server,
    an_attempt_past_its_timeout_is_stopped_and_retried,
    the_background_worker_picks_up_new_runs_and_drains_on_shutdown,
    a_run_unfinished_at_the_end_of_the_grace_period_is_released,
    a_run_whose_lease_expired_is_claimed_again,
    a_completed_task_returns_its_stored_output_on_retry,
    the_same_task_key_twice_in_one_attempt_is_an_error,
    a_wait_suspends_the_run_without_holding_a_worker_then_resumes,
    retries_wait_for_the_backoff,
    a_job_concurrency_limit_holds_across_the_worker_pool,
    a_job_that_handles_the_wait_error_is_judged_by_what_it_returns,
    canceling_a_running_run_stops_it_at_the_next_heartbeat,
    a_job_that_logs_100_000_lines_stores_the_first_1000_and_a_summary,
    a_run_of_a_job_this_build_lacks_waits_for_a_server_that_has_it,
    a_run_of_a_job_no_server_has_fails_after_the_wait,
);
