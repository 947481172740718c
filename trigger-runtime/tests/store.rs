//! The same behaviour from every store driver: a fresh database per test.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use trigger_runtime::io::{LogLevel, LogLine};
use trigger_runtime::store::{
    AttemptOutcome, ClaimRequest, Event, Lease, LogQuery, NewRun, QueueCounts, RUN_LOGS_PAGE,
    RunQuery, RunRecord, RunStatus, SkippedJob, SkippedJobs, SqliteStore, Store,
};
use trigger_runtime::time::Timestamp;

mod common;

use common::TempDir;

fn event(id: &str, dedup: Option<&str>, body: &[u8]) -> Event {
    Event {
        id: id.to_owned(),
        endpoint_id: "ep".to_owned(),
        method: "POST".to_owned(),
        url: "http://h/endpoints/ep?x=1".to_owned(),
        headers: vec![
            ("x-sig".to_owned(), b"abc".to_vec()),
            ("x-bin".to_owned(), vec![0xff, 0x00]),
        ],
        body: Bytes::copy_from_slice(body),
        received_at: Timestamp::from_unix_millis(1_000),
        verified: true,
        dedup_key: dedup.map(str::to_owned),
        skipped: SkippedJobs::new(),
    }
}

fn run(id: &str, job: &str) -> NewRun {
    NewRun {
        id: id.to_owned(),
        job_id: job.to_owned(),
        job_version: "1.0.0".to_owned(),
        max_attempts: 3,
        lease: None,
    }
}

/// The lease of attempt `n` when it is the run's `n`th claim (no release or wait before it).
fn l(n: u32) -> Lease {
    Lease {
        attempt: n,
        epoch: u64::from(n),
    }
}

fn claim(limit: usize) -> ClaimRequest {
    ClaimRequest::new(limit, Duration::from_secs(30))
}

/// Runs each scenario against every store: `memory://`, a SQLite file and a PostgreSQL schema
/// (see `common::TestSchema`). The first two share one driver, so this checks that both
/// configurations of it behave the same; every driver has a module here and must pass every
/// scenario.
macro_rules! for_each_driver {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() {
                super::$name(super::Store::open("memory://").await.unwrap()).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() {
                let dir = super::TempDir::new("store");
                let store = super::Store::new(super::SqliteStore::open(dir.join("t.db")).unwrap());
                super::$name(store).await;
            })*
        }
        mod postgres {
            $(#[tokio::test] async fn $name() {
                let Some(schema) = super::common::TestSchema::new(stringify!($name)) else {
                    return;
                };
                let store = super::Store::open(&schema.url()).await.unwrap();
                super::$name(store).await;
                schema.drop_schema().await;
            })*
        }
    };
}

for_each_driver!(
    ingest_stores_event_and_runs_exactly,
    dedup_returns_the_first_event,
    a_reused_key_with_another_body_is_a_new_event,
    claim_finish_and_history,
    a_claim_gives_each_run_as_stored,
    a_claim_gives_each_event_as_stored,
    a_run_created_claimed_needs_no_claim,
    runs_created_claimed_each_carry_their_event,
    a_run_created_claimed_is_claimed_again_after_its_lease,
    retries_wait_until_due,
    fencing_refuses_stale_attempts,
    a_run_that_keeps_losing_its_lease_fails,
    per_job_limits,
    a_limited_backlog_never_hides_other_jobs,
    release_and_suspend_do_not_count_attempts,
    lists_page_newest_first_and_filter,
    cancel_replay_and_counts,
    the_first_task_output_wins,
    a_run_shows_its_tasks_in_the_order_they_were_saved,
    the_first_secret_is_kept,
    a_stale_attempt_leaves_no_log_lines,
    a_reused_key_with_another_body_is_logged,
    canceled_runs_are_never_due,
    a_fresh_store_is_ready,
    pruning_deletes_old_finished_events_and_keeps_unfinished_ones,
    a_released_attempt_writes_nothing_though_its_number_comes_back,
    logs_are_read_a_page_at_a_time,
    log_pages_end_exactly_and_unknown_runs_have_none,
    a_finished_runs_lines_page_in_order_across_its_attempts,
    skipped_jobs_are_stored_with_the_event_and_replaced_by_a_replay,
    runs_are_counted_by_job_and_status,
    the_queue_counts_runs_not_finished,
);

async fn ingest_stores_event_and_runs_exactly(store: Store) {
    let body: Vec<u8> = (0..=255u8).collect();
    let ingested = store
        .ingest(
            event("evt_1", None, &body),
            vec![run("run_1", "a"), run("run_2", "b")],
        )
        .await
        .unwrap();
    assert!(!ingested.duplicate);
    assert_eq!(ingested.runs.len(), 2);
    let stored = store.event("evt_1").await.unwrap().unwrap();
    assert_eq!(&stored.event.body[..], &body[..]);
    assert_eq!(
        stored.event.headers[1],
        ("x-bin".to_owned(), vec![0xff, 0x00])
    );
    assert_eq!(stored.event.url, "http://h/endpoints/ep?x=1");
    assert_eq!(stored.runs, ingested.runs);
    let run = store.run("run_2").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.job.as_str(), run.attempts),
        (RunStatus::Queued, "b", 0)
    );
    assert!(store.run("run_x").await.unwrap().is_none());
}

async fn dedup_returns_the_first_event(store: Store) {
    let first = store
        .ingest(event("evt_1", Some("k"), b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    let again = store
        .ingest(event("evt_2", Some("k"), b"{}"), vec![run("run_2", "a")])
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(
        (again.event_id.as_str(), &again.runs),
        ("evt_1", &first.runs)
    );
    assert!(store.event("evt_2").await.unwrap().is_none());
    assert!(store.run("run_2").await.unwrap().is_none());
    // Concurrent duplicates: exactly one event.
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .ingest(
                        event(&format!("evt_c{i}"), Some("same"), b"{}"),
                        vec![run(&format!("run_c{i}"), "a")],
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut originals = std::collections::HashSet::new();
    for task in tasks {
        originals.insert(task.await.unwrap().event_id);
    }
    assert_eq!(originals.len(), 1);
}

async fn claim_finish_and_history(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    let claimed = store.claim(&claim(10)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].run.attempts, 1);
    assert_eq!(claimed[0].event.id, "evt_1");
    assert!(
        store.claim(&claim(10)).await.unwrap().is_empty(),
        "a held run is not claimed twice"
    );
    let line = LogLine {
        level: LogLevel::Warn,
        message: "hi".into(),
        data: json!({"a": 1}).into(),
        at: Timestamp::now(),
    };
    store
        .append_logs("run_1", l(1), vec![line.clone()])
        .await
        .unwrap();
    assert!(
        store
            .heartbeat("run_1", l(1), Duration::from_secs(30))
            .await
            .unwrap()
    );
    assert!(
        store
            .finish(
                "run_1",
                l(1),
                vec![],
                AttemptOutcome::Succeeded(json!({"ok": true}))
            )
            .await
            .unwrap()
    );
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(json!({"ok": true})));
    assert_eq!(run.history.len(), 1);
    assert_eq!(run.logs.len(), 1);
    assert_eq!(run.logs[0].line.message, "hi");
    assert_eq!(run.logs[0].line.data, json!({"a": 1}));
    assert!(run.finished_at.is_some());
}

/// A claim gives each run exactly as the store then has it (status, attempt, lease, times),
/// with its event, on its first attempt and on a retry; two runs of one event both get it.
async fn a_claim_gives_each_run_as_stored(store: Store) {
    let runs = vec![run("run_1", "a"), run("run_2", "b")];
    store
        .ingest(event("evt_1", None, b"{\"n\":1}"), runs)
        .await
        .unwrap();
    let claimed = store.claim(&claim(10)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for taken in &claimed {
        let stored = store.run(&taken.run.id).await.unwrap().unwrap();
        assert_eq!(fields(&taken.run), fields(&stored));
        assert_eq!(stored.status, RunStatus::Running);
        assert_eq!(taken.lease, l(1));
        assert_eq!(taken.event.id, "evt_1");
        assert_eq!(&taken.event.body[..], b"{\"n\":1}");
    }
    let retry = AttemptOutcome::Retry {
        error: "again".into(),
        at: Timestamp::now(),
    };
    assert!(store.finish("run_1", l(1), vec![], retry).await.unwrap());
    let again = store.claim(&claim(10)).await.unwrap();
    assert_eq!(again.len(), 1);
    let mut stored = store.run("run_1").await.unwrap().unwrap();
    // A claim gives no history (the run's first attempt is in it now).
    stored.history.clear();
    assert_eq!(fields(&again[0].run), fields(&stored));
    assert_eq!((again[0].run.attempts, again[0].lease), (2, l(2)));
    assert_eq!(again[0].event.id, "evt_1");
}

/// A claimed run's event is the event as stored, field by field: with the skipped jobs a
/// replay changed after the ingest, without an idempotency key that was stored without it
/// (reused with another body), and for every run of an event. (A store that kept ingested
/// events in memory for claims would have to keep both.)
async fn a_claim_gives_each_event_as_stored(store: Store) {
    let mut first = event("evt_1", None, b"{\"n\":1}");
    first.skipped.push("c", "body.n: 1 is not one of [2]");
    let runs = vec![run("run_1", "a"), run("run_2", "b")];
    store.ingest(first, runs).await.unwrap();
    let mut today = SkippedJobs::new();
    today.push("c", "body: the body was not read");
    store
        .add_runs("evt_1", vec![run("run_3", "a")], Some(today))
        .await
        .unwrap();
    let keyed = vec![run("run_4", "a")];
    store
        .ingest(event("evt_2", Some("k"), b"{}"), keyed)
        .await
        .unwrap();
    let reused = event("evt_3", Some("k"), b"{\"other\":true}");
    store.ingest(reused, vec![run("run_5", "a")]).await.unwrap();
    let claimed = store.claim(&claim(10)).await.unwrap();
    assert_eq!(claimed.len(), 5);
    for taken in &claimed {
        let stored = store.event(&taken.event.id).await.unwrap().unwrap();
        assert_eq!(
            format!("{:?}", taken.event),
            format!("{:?}", stored.event),
            "the event of {}",
            taken.run.id
        );
    }
    let third = claimed.iter().find(|c| c.run.id == "run_5").unwrap();
    assert_eq!(third.event.dedup_key, None);
}

/// What a stored run says, but its logs and tasks, as text to compare.
fn fields(r: &RunRecord) -> String {
    let ids = (&r.id, &r.job, &r.job_version, &r.event_id, &r.endpoint_id);
    let times = (
        r.created_at,
        r.run_at,
        r.started_at,
        r.finished_at,
        r.lease_until,
    );
    let counts = (
        r.status,
        r.attempts,
        r.max_attempts,
        r.lease_epoch,
        &r.error,
    );
    format!("{ids:?} {times:?} {counts:?} {}", r.history.len())
}

/// A run ingested with a lease is stored running its first attempt, exactly as the ingest
/// gives it back; claims leave it alone while the lease holds, and it finishes with that
/// lease. A duplicate delivery creates no claimed run.
async fn a_run_created_claimed_needs_no_claim(store: Store) {
    let mut leased = run("run_1", "a");
    leased.lease = Some(Duration::from_secs(30));
    let ingested = store
        .ingest(
            event("evt_1", Some("k1"), b"{}"),
            vec![leased, run("run_2", "b")],
        )
        .await
        .unwrap();
    let [claimed] = ingested.claimed.as_slice() else {
        panic!("one claimed run: {:?}", ingested.claimed);
    };
    assert_eq!(claimed.lease, l(1));
    assert_eq!(
        (claimed.event.id.as_str(), &claimed.event.body[..]),
        ("evt_1", &b"{}"[..])
    );
    let stored = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(
        fields(&stored),
        fields(&claimed.run),
        "the claim is the run as stored"
    );
    assert_eq!((stored.status, stored.attempts), (RunStatus::Running, 1));
    let started = stored.started_at.unwrap();
    assert_eq!(
        stored.lease_until,
        Some(started.saturating_add(Duration::from_secs(30)))
    );

    let again = store
        .ingest(event("evt_2", Some("k1"), b"{}"), vec![run("run_3", "a")])
        .await
        .unwrap();
    assert!(again.duplicate && again.claimed.is_empty(), "{again:?}");

    let others = store.claim(&claim(10)).await.unwrap();
    let ids: Vec<&str> = others.iter().map(|c| c.run.id.as_str()).collect();
    assert_eq!(ids, ["run_2"], "only the queued run is claimed");
    let lines = vec![line("done")];
    let outcome = AttemptOutcome::Succeeded(json!({"ok": true}));
    assert!(store.finish("run_1", l(1), lines, outcome).await.unwrap());
    let done = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.history.len(), messages(&done.logs)),
        (RunStatus::Succeeded, 1, vec!["done".to_owned()])
    );
}

/// Several runs of one ingest created claimed: each, in order, with the whole event.
async fn runs_created_claimed_each_carry_their_event(store: Store) {
    let leased = |id: &str, job: &str| {
        let mut run = run(id, job);
        run.lease = Some(Duration::from_secs(30));
        run
    };
    let ingested = store
        .ingest(
            event("evt_1", None, b"{\"a\":1}"),
            vec![
                leased("run_1", "a"),
                run("run_2", "b"),
                leased("run_3", "c"),
            ],
        )
        .await
        .unwrap();
    let carried: Vec<(&str, &str, &[u8])> = ingested
        .claimed
        .iter()
        .map(|c| (c.run.id.as_str(), c.event.id.as_str(), &c.event.body[..]))
        .collect();
    assert_eq!(
        carried,
        [
            ("run_1", "evt_1", &b"{\"a\":1}"[..]),
            ("run_3", "evt_1", &b"{\"a\":1}"[..])
        ]
    );
    let [first, second] = &ingested.claimed[..] else {
        unreachable!()
    };
    assert_eq!(
        (&first.event.headers, &first.event.url),
        (&second.event.headers, &second.event.url)
    );
}

/// A run created claimed whose worker died is claimed again once its lease runs out: its
/// second attempt, and the first lease no longer writes.
async fn a_run_created_claimed_is_claimed_again_after_its_lease(store: Store) {
    let mut short = run("run_4", "a");
    short.lease = Some(Duration::from_millis(1));
    let ingested = store
        .ingest(event("evt_3", None, b"{}"), vec![short])
        .await
        .unwrap();
    assert_eq!(ingested.claimed.len(), 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reclaimed = store
        .claim(&ClaimRequest::new(1, Duration::from_millis(1)))
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(
        (reclaimed[0].run.id.as_str(), reclaimed[0].lease),
        ("run_4", l(2))
    );
    let lost = AttemptOutcome::Succeeded(json!(null));
    assert!(
        !store.finish("run_4", l(1), vec![], lost).await.unwrap(),
        "the first lease no longer holds"
    );
}

async fn retries_wait_until_due(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    let at = Timestamp::now().saturating_add(Duration::from_millis(800));
    store
        .finish(
            "run_1",
            l(1),
            vec![],
            AttemptOutcome::Retry {
                error: "e1".into(),
                at,
            },
        )
        .await
        .unwrap();
    assert!(
        store.claim(&claim(1)).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(store.next_due().await.unwrap(), Some(at));
    tokio::time::sleep(Duration::from_millis(850)).await;
    let claimed = store.claim(&claim(1)).await.unwrap();
    assert_eq!(claimed[0].run.attempts, 2);
    store
        .finish(
            "run_1",
            l(2),
            vec![],
            AttemptOutcome::Failed { error: "e2".into() },
        )
        .await
        .unwrap();
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("e2"));
    let errors: Vec<_> = run
        .history
        .iter()
        .map(|a| a.error.clone().unwrap())
        .collect();
    assert_eq!(errors, ["e1", "e2"]);
}

async fn fencing_refuses_stale_attempts(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    let short = ClaimRequest::new(1, Duration::from_millis(1));
    store.claim(&short).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    let again = store.claim(&claim(1)).await.unwrap();
    assert_eq!(
        again[0].run.attempts, 2,
        "an expired lease is claimed again"
    );
    assert!(
        !store
            .heartbeat("run_1", l(1), Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish(
                "run_1",
                l(1),
                vec![],
                AttemptOutcome::Succeeded(json!(null))
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .finish("run_1", l(2), vec![], AttemptOutcome::Succeeded(json!(2)))
            .await
            .unwrap()
    );
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(run.history.len(), 2, "the lost attempt is recorded");
    assert_eq!(
        run.history[0].error.as_deref(),
        Some(trigger_runtime::store::LOST_LEASE)
    );
}

async fn a_run_that_keeps_losing_its_lease_fails(store: Store) {
    let mut one = run("run_1", "a");
    one.max_attempts = 2;
    store
        .ingest(event("evt_1", None, b"{}"), vec![one])
        .await
        .unwrap();
    let short = ClaimRequest::new(1, Duration::from_millis(1));
    for _ in 0..2 {
        assert_eq!(store.claim(&short).await.unwrap().len(), 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        store.claim(&short).await.unwrap().is_empty(),
        "no third attempt"
    );
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.attempts, run.history.len()),
        (RunStatus::Failed, 2, 2)
    );
}

async fn per_job_limits(store: Store) {
    let runs = (0..5)
        .map(|i| run(&format!("run_{i}"), if i < 4 { "limited" } else { "free" }))
        .collect();
    store
        .ingest(event("evt_1", None, b"{}"), runs)
        .await
        .unwrap();
    let mut request = claim(10);
    request.job_limits = vec![("limited".to_owned(), 2)].into();
    let first = store.claim(&request).await.unwrap();
    let limited = first.iter().filter(|c| c.run.job == "limited").count();
    assert_eq!((first.len(), limited), (3, 2));
    assert!(store.claim(&request).await.unwrap().is_empty());
    let done = first.iter().find(|c| c.run.job == "limited").unwrap();
    store
        .finish(
            &done.run.id,
            l(1),
            vec![],
            AttemptOutcome::Succeeded(json!(null)),
        )
        .await
        .unwrap();
    assert_eq!(store.claim(&request).await.unwrap().len(), 1);
}

async fn release_and_suspend_do_not_count_attempts(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    store.release("run_1", l(1)).await.unwrap();
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!((run.status, run.attempts), (RunStatus::Queued, 0));
    let claimed = store.claim(&claim(1)).await.unwrap();
    assert_eq!(claimed[0].run.attempts, 1);
    let until = Timestamp::now().saturating_add(Duration::from_secs(60));
    assert!(
        store
            .finish(
                "run_1",
                claimed[0].lease,
                vec![],
                AttemptOutcome::Suspended { until }
            )
            .await
            .unwrap()
    );
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (run.status, run.attempts, run.run_at),
        (RunStatus::Queued, 0, until)
    );
    assert!(run.history.is_empty());
    assert!(store.claim(&claim(1)).await.unwrap().is_empty());
}

/// Five events with one run each, of jobs `even` and `odd` alternately.
async fn five_runs(store: &Store) {
    for i in 0..5 {
        store
            .ingest(
                event(&format!("evt_{i}"), None, b"{}"),
                vec![run(
                    &format!("run_{i}"),
                    if i % 2 == 0 { "even" } else { "odd" },
                )],
            )
            .await
            .unwrap();
    }
}

fn query(limit: usize) -> RunQuery {
    RunQuery {
        limit,
        ..RunQuery::default()
    }
}

async fn lists_page_newest_first_and_filter(store: Store) {
    five_runs(&store).await;
    let page = store.list_runs(&query(2)).await.unwrap();
    let ids: Vec<_> = page.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["run_4", "run_3"]);
    let next = store
        .list_runs(&RunQuery {
            cursor: page.next_cursor.clone(),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(next.runs.len(), 3);
    assert!(next.next_cursor.is_none());
    let even = store
        .list_runs(&RunQuery {
            job: Some("even".into()),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(even.runs.len(), 3);
}

async fn cancel_replay_and_counts(store: Store) {
    five_runs(&store).await;
    assert_eq!(
        store.cancel("run_0").await.unwrap(),
        Some(RunStatus::Canceled)
    );
    assert_eq!(store.cancel("run_nope").await.unwrap(), None);
    let canceled = store
        .list_runs(&RunQuery {
            status: Some(RunStatus::Canceled),
            ..query(10)
        })
        .await
        .unwrap();
    assert_eq!(canceled.runs.len(), 1);
    let claimed = store.claim(&claim(10)).await.unwrap();
    assert!(claimed.iter().all(|c| c.run.id != "run_0"));
    assert_eq!(
        store.cancel(&claimed[0].run.id).await.unwrap(),
        Some(RunStatus::Canceled),
        "a running run can be canceled"
    );
    assert_eq!(
        store.cancel("run_0").await.unwrap(),
        Some(RunStatus::Canceled),
        "canceling again changes nothing"
    );

    let replayed = store
        .add_runs("evt_0", vec![run("run_r", "even")], None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replayed[0].id, "run_r");
    assert_eq!(store.event("evt_0").await.unwrap().unwrap().runs.len(), 2);
    assert!(
        store
            .add_runs("evt_missing", vec![], None)
            .await
            .unwrap()
            .is_none()
    );
    let counts = store.run_counts().await.unwrap();
    assert_eq!(
        (counts.canceled, counts.running, counts.queued),
        (2, 3, 1),
        "{counts:?}"
    );
}

async fn the_first_task_output_wins(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    assert_eq!(store.task("run_1", "k").await.unwrap(), None);
    assert_eq!(
        store
            .save_task("run_1", l(1), "k", json!([1, 2]))
            .await
            .unwrap(),
        json!([1, 2])
    );
    let second = store
        .save_task("run_1", l(1), "k", json!("again"))
        .await
        .unwrap();
    assert_eq!(second, json!([1, 2]), "the first output stored wins");
    assert_eq!(store.task("run_1", "k").await.unwrap(), Some(json!([1, 2])));
    assert_eq!(store.task("run_2", "k").await.unwrap(), None);
}

async fn a_run_shows_its_tasks_in_the_order_they_were_saved(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    assert!(store.run("run_1").await.unwrap().unwrap().tasks.is_empty());
    let before = trigger_runtime::time::Timestamp::now();
    for (key, output) in [("z", json!(1)), ("a", json!({"b": 2})), ("m", json!(null))] {
        store.save_task("run_1", l(1), key, output).await.unwrap();
    }
    // Saving a key again keeps its place and its first output.
    store.save_task("run_1", l(1), "z", json!(9)).await.unwrap();
    let run = store.run("run_1").await.unwrap().unwrap();
    let shown: Vec<(&str, &serde_json::Value)> = run
        .tasks
        .iter()
        .map(|t| (t.key.as_str(), &t.output))
        .collect();
    assert_eq!(
        shown,
        [
            ("z", &json!(1)),
            ("a", &json!({"b": 2})),
            ("m", &json!(null))
        ]
    );
    for task in &run.tasks {
        assert_eq!(task.attempt, Some(1), "{task:?}");
        assert!(task.saved_at.is_some_and(|at| at >= before), "{task:?}");
    }
}

/// An attempt given back (a shutdown) or waiting comes back with the same attempt number, but a
/// new epoch: the old lease writes nothing, whatever it names.
async fn a_released_attempt_writes_nothing_though_its_number_comes_back(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    let old = store.claim(&claim(1)).await.unwrap()[0].lease;
    store.release("run_1", old).await.unwrap();
    let new = store.claim(&claim(1)).await.unwrap()[0].lease;
    assert_eq!(new.attempt, old.attempt, "the attempt number came back");
    assert!(new.epoch > old.epoch);

    let late = |outcome| store.finish("run_1", old, vec![line("late")], outcome);
    assert!(!late(AttemptOutcome::Succeeded(json!("old"))).await.unwrap());
    assert!(
        !store
            .heartbeat("run_1", old, Duration::from_secs(30))
            .await
            .unwrap()
    );
    store
        .append_logs("run_1", old, vec![line("old flush")])
        .await
        .unwrap();
    let refused = store.save_task("run_1", old, "k", json!("old")).await;
    assert!(
        matches!(
            refused,
            Err(trigger_runtime::store::StoreError::LeaseLost { .. })
        ),
        "{refused:?}"
    );
    store.release("run_1", old).await.unwrap();

    let current = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(
        (current.status, current.attempts),
        (RunStatus::Running, 1),
        "the old lease's release changed nothing"
    );
    assert_eq!(
        store
            .save_task("run_1", new, "k", json!("new"))
            .await
            .unwrap(),
        json!("new")
    );
    assert!(
        store
            .finish(
                "run_1",
                new,
                vec![line("done")],
                AttemptOutcome::Succeeded(json!("new"))
            )
            .await
            .unwrap()
    );
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(run.output, Some(json!("new")));
    let messages: Vec<&str> = run.logs.iter().map(|l| l.line.message.as_str()).collect();
    assert_eq!(messages, ["done"]);
}

async fn the_first_secret_is_kept(store: Store) {
    let secret = store.endpoint_secret("ep", "first".into()).await.unwrap();
    assert_eq!(secret, "first");
    assert_eq!(
        store.endpoint_secret("ep", "second".into()).await.unwrap(),
        "first"
    );
    assert_eq!(
        store
            .endpoint_secret("other", "third".into())
            .await
            .unwrap(),
        "third"
    );
}

/// Two stores on one PostgreSQL schema are two servers: a webhook delivered to both at once
/// is stored once, their claims never take the same run, and a commit on one wakes the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_servers_share_one_queue() {
    let Some(schema) = common::TestSchema::new("postgres_servers_share_one_queue") else {
        return;
    };
    let (a, b) = (
        Store::open(&schema.url()).await.unwrap(),
        Store::open(&schema.url()).await.unwrap(),
    );
    let wake_b = b.wakeups().expect("a shared store announces runs");
    // Whatever the listener's first connection announced.
    let _ = tokio::time::timeout(Duration::from_secs(1), wake_b.notified()).await;

    // The same delivery to both servers, many times at once: one event.
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        deliveries.spawn(async move {
            store
                .ingest(
                    event(&format!("evt_{i}"), Some("delivery-1"), b"{}"),
                    vec![run(&format!("run_{i}"), "job")],
                )
                .await
                .unwrap()
        });
    }
    let results = deliveries.join_all().await;
    let first: Vec<_> = results.iter().filter(|r| !r.duplicate).collect();
    assert_eq!(first.len(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.event_id == first[0].event_id));
    assert!(results.iter().all(|r| r.runs == first[0].runs));

    // Announced to the other server.
    tokio::time::timeout(Duration::from_secs(5), wake_b.notified())
        .await
        .expect("the other server is woken by NOTIFY");

    // 100 runs claimed by both at once, 5 at a time: each exactly once.
    let runs: Vec<NewRun> = (0..100).map(|i| run(&format!("bulk_{i}"), "job")).collect();
    a.ingest(event("evt_bulk", None, b"{}"), runs)
        .await
        .unwrap();
    let mut claimers = tokio::task::JoinSet::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        claimers.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store.claim(&claim(5)).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| c.run.id));
            }
        });
    }
    let mut all: Vec<String> = claimers.join_all().await.into_iter().flatten().collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "a run was claimed twice");
    assert_eq!(
        claimed, 101,
        "every run claimed once (100 and the first delivery's)"
    );
    drop((a, b));
    schema.drop_schema().await;
}

/// An error with its causes, as the server logs it.
fn causes(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    chain
}

/// `sslmode=require` connects over TLS and verifies the server: with the certificate it
/// serves as `sslrootcert` it works; with the public roots only, it is refused.
#[tokio::test]
async fn postgres_over_tls_verifies_the_server() {
    const VAR: &str = "TRIGGER_TEST_TLS_DATABASE_URL";
    let url = std::env::var(VAR).unwrap_or_default();
    if url.trim().is_empty() {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped the PostgreSQL TLS test: {VAR} is not set"
        );
        return;
    }
    let Some(schema) = common::TestSchema::new("postgres_over_tls_verifies_the_server") else {
        return;
    };
    let verified = format!("{url}&schema={}", schema.name());
    let store = Store::open(&verified).await.unwrap();
    store.ready().await.unwrap();
    store
        .ingest(event("evt_tls", None, b"{}"), vec![run("run_tls", "a")])
        .await
        .unwrap();
    assert!(store.run("run_tls").await.unwrap().is_some());
    drop(store);

    let public_roots: String = verified
        .split('&')
        .filter(|part| !part.starts_with("sslrootcert="))
        .collect::<Vec<_>>()
        .join("&");
    let refused = Store::open(&public_roots).await.err().unwrap();
    let chain = causes(&refused);
    assert!(chain.contains("certificate"), "{chain}");
    schema.drop_schema().await;
}

/// A URL the PostgreSQL driver cannot use is refused at once, saying why.
#[tokio::test]
async fn bad_postgres_urls_say_what_is_wrong() {
    for (url, says) in [
        (
            "postgres://h/d?schema=Hooks",
            "schema \"Hooks\" is not a plain name",
        ),
        ("postgres://h/d?colour=blue", "colour"),
        (
            "postgres://u:hunter2@127.0.0.1:1/d",
            "could not get a PostgreSQL connection",
        ),
    ] {
        let error = Store::open(url).await.err().unwrap();
        let chain = causes(&error);
        assert!(chain.contains(says), "{url}: {chain}");
        assert!(!chain.contains("hunter2"), "{chain}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sqlite_ingests_share_commits() {
    let dir = TempDir::new("store");
    let sqlite = std::sync::Arc::new(SqliteStore::open(dir.join("t.db")).unwrap());
    let (commits_before, writes_before) = sqlite.commit_stats();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let sqlite = std::sync::Arc::clone(&sqlite);
            tokio::spawn(async move {
                use trigger_runtime::store::StoreDriver as _;
                sqlite
                    .ingest(
                        event(&format!("evt_{i}"), None, b"{}"),
                        vec![run(&format!("run_{i}"), "a")],
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (commits, writes) = sqlite.commit_stats();
    let (commits, writes) = (commits - commits_before, writes - writes_before);
    assert_eq!(writes, 400);
    assert!(
        commits < writes,
        "{commits} commits for {writes} writes: ingests did not share commits"
    );
}

/// Under writes that never pause, the WAL still starts over, so it stays bounded: a passive
/// checkpoint alone never sees all of it copied (the writer has always committed more by then),
/// and in a soak the WAL grew past a gigabyte in a minute. The WAL starts over past 128 MiB; how
/// far past that it goes before the writer catches up depends on how fast it writes (here 64 KiB
/// events back to back, some 250 MiB/s in a debug build: 173 to 211 MiB), so the test writes
/// 512 MiB and asks for less than three quarters of it; a WAL that never starts over holds more
/// than was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_starts_over_while_writes_never_pause() {
    const WRITERS: usize = 8;
    const EVENTS: usize = 1024;
    let dir = TempDir::new("store");
    let sqlite = std::sync::Arc::new(SqliteStore::open(dir.join("t.db")).unwrap());
    let body = vec![b'x'; 64 * 1024];
    // 8 × 1024 events of 64 KiB: 512 MiB of WAL frames, written back to back.
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let sqlite = std::sync::Arc::clone(&sqlite);
            let body = body.clone();
            tokio::spawn(async move {
                use trigger_runtime::store::StoreDriver as _;
                for i in 0..EVENTS {
                    let id = format!("evt_{w}_{i}");
                    let run_id = format!("run_{w}_{i}");
                    sqlite
                        .ingest(event(&id, None, &body), vec![run(&run_id, "a")])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let wal = dir.join("t.db-wal");
    let mut largest = 0;
    while !tasks.iter().all(tokio::task::JoinHandle::is_finished) {
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        largest < 384 << 20,
        "the WAL reached {} MiB while 512 MiB were written: it did not start over",
        largest >> 20
    );
}

async fn a_limited_backlog_never_hides_other_jobs(store: Store) {
    let mut runs: Vec<NewRun> = (0..300)
        .map(|i| run(&format!("run_l{i:03}"), "limited"))
        .collect();
    runs.push(run("run_free", "free"));
    store
        .ingest(event("evt_1", None, b"{}"), runs)
        .await
        .unwrap();
    let mut request = claim(32);
    request.job_limits = vec![("limited".to_owned(), 1)].into();
    let claimed = store.claim(&request).await.unwrap();
    let mut jobs: Vec<&str> = claimed.iter().map(|c| c.run.job.as_str()).collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["free", "limited"]);
}

async fn a_reused_key_with_another_body_is_a_new_event(store: Store) {
    store
        .ingest(event("evt_1", Some("k"), b"first"), vec![run("run_1", "a")])
        .await
        .unwrap();
    let other = store
        .ingest(
            event("evt_2", Some("k"), b"second"),
            vec![run("run_2", "a")],
        )
        .await
        .unwrap();
    assert!(!other.duplicate);
    assert_eq!(other.event_id, "evt_2");
    let stored = store.event("evt_2").await.unwrap().unwrap();
    assert_eq!(
        (&stored.event.body[..], stored.event.dedup_key.as_deref()),
        (&b"second"[..], None)
    );
    let again = store
        .ingest(event("evt_3", Some("k"), b"first"), vec![run("run_3", "a")])
        .await
        .unwrap();
    assert!(again.duplicate, "the key still names the first event");
    assert_eq!(again.event_id, "evt_1");
}

fn line(message: &str) -> LogLine {
    LogLine {
        level: LogLevel::Info,
        message: message.into(),
        data: json!(null).into(),
        at: Timestamp::now(),
    }
}

async fn a_stale_attempt_leaves_no_log_lines(store: Store) {
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    store
        .claim(&ClaimRequest::new(1, Duration::from_millis(1)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(store.claim(&claim(1)).await.unwrap()[0].run.attempts, 2);
    // Attempt 1 lost its lease: neither its heartbeat flush nor its final lines are kept.
    store
        .append_logs("run_1", l(1), vec![line("stale flush")])
        .await
        .unwrap();
    let stale = store
        .finish(
            "run_1",
            l(1),
            vec![line("stale end")],
            AttemptOutcome::Failed {
                error: "late".into(),
            },
        )
        .await
        .unwrap();
    assert!(!stale);
    store
        .append_logs("run_1", l(2), vec![line("current flush")])
        .await
        .unwrap();
    store
        .finish(
            "run_1",
            l(2),
            vec![line("current end")],
            AttemptOutcome::Succeeded(json!(null)),
        )
        .await
        .unwrap();
    let run = store.run("run_1").await.unwrap().unwrap();
    let messages: Vec<(u32, &str)> = run
        .logs
        .iter()
        .map(|l| (l.attempt, l.line.message.as_str()))
        .collect();
    assert_eq!(messages, [(2, "current flush"), (2, "current end")]);
}

async fn a_reused_key_with_another_body_is_logged(store: Store) {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let key = format!("key-{}", hex::encode(bytes));
    let captured = common::capture_logs();
    store
        .ingest(event("evt_1", Some(&key), b"first"), vec![])
        .await
        .unwrap();
    assert!(
        !captured.contains(&key),
        "a first delivery is not a warning"
    );
    store
        .ingest(event("evt_2", Some(&key), b"second"), vec![])
        .await
        .unwrap();
    let warning = captured.line_with(&key).expect("the reused key is logged");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("idempotency key reused with a different body"),
        "{warning}"
    );
    assert!(
        warning.contains("evt_1"),
        "names the first event: {warning}"
    );
}

async fn canceled_runs_are_never_due(store: Store) {
    store
        .ingest(
            event("evt_1", None, b"{}"),
            vec![run("run_1", "a"), run("run_2", "a")],
        )
        .await
        .unwrap();
    assert!(store.next_due().await.unwrap().is_some());
    store.cancel("run_1").await.unwrap();
    store.cancel("run_2").await.unwrap();
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(store.claim(&claim(10)).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_memory_url_is_one_database() {
    // Ingest writes and the API reads: both must see the same in-memory database.
    let store = Store::open("sqlite://:memory:").await.unwrap();
    store
        .ingest(event("evt_1", None, b"{}"), vec![run("run_1", "a")])
        .await
        .unwrap();
    assert!(store.event("evt_1").await.unwrap().is_some());
    assert_eq!(store.run_counts().await.unwrap().queued, 1);
    assert!(!store.kind().is_persistent());
}

async fn a_fresh_store_is_ready(store: Store) {
    store.ready().await.unwrap();
    store.ready().await.unwrap();
}

async fn pruning_deletes_old_finished_events_and_keeps_unfinished_ones(store: Store) {
    // Every test event was received at 1 s after the epoch, and runs are created now: a
    // cut-off a second from now makes them all old.
    let later = Timestamp::now().saturating_add(Duration::from_secs(1));
    store
        .ingest(event("evt_done", None, b"{}"), vec![run("run_done", "a")])
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    store
        .save_task("run_done", l(1), "k", json!(1))
        .await
        .unwrap();
    store
        .finish(
            "run_done",
            l(1),
            vec![line("bye")],
            AttemptOutcome::Succeeded(json!(null)),
        )
        .await
        .unwrap();
    store
        .ingest(
            event("evt_running", None, b"{}"),
            vec![run("run_running", "a")],
        )
        .await
        .unwrap();
    store.claim(&claim(1)).await.unwrap();
    store
        .ingest(
            event("evt_queued", None, b"{}"),
            vec![run("run_queued", "a")],
        )
        .await
        .unwrap();
    store
        .ingest(event("evt_none", None, b"{}"), vec![])
        .await
        .unwrap();

    assert_eq!(
        store
            .prune(Timestamp::from_unix_millis(0), 10)
            .await
            .unwrap()
            .events,
        0
    );
    let pruned = store.prune(later, 10).await.unwrap();
    assert_eq!(pruned.events, 2, "{pruned:?}");
    assert!(store.event("evt_done").await.unwrap().is_none());
    assert!(store.run("run_done").await.unwrap().is_none());
    assert_eq!(store.task("run_done", "k").await.unwrap(), None);
    assert!(store.event("evt_none").await.unwrap().is_none());
    for (event, run) in [("evt_running", "run_running"), ("evt_queued", "run_queued")] {
        assert!(
            store.event(event).await.unwrap().is_some(),
            "{event} is kept"
        );
        assert!(store.run(run).await.unwrap().is_some(), "{run} is kept");
    }

    for i in 0..5 {
        store
            .ingest(event(&format!("evt_b{i}"), None, b"{}"), vec![])
            .await
            .unwrap();
    }
    let mut batches = Vec::new();
    loop {
        let pruned = store.prune(later, 2).await.unwrap();
        batches.push(pruned.events);
        if !pruned.more {
            break;
        }
    }
    assert_eq!(batches.iter().sum::<usize>(), 5, "{batches:?}");
    assert!(batches.iter().all(|&n| n <= 2), "{batches:?}");
}

/// The messages of a page of log lines.
fn messages(logs: &[trigger_runtime::store::LogRecord]) -> Vec<String> {
    logs.iter().map(|l| l.line.message.clone()).collect()
}

async fn logs_are_read_a_page_at_a_time(store: Store) {
    store
        .ingest(
            event("evt_1", None, b"{}"),
            vec![run("run_1", "a"), run("run_2", "a")],
        )
        .await
        .unwrap();
    assert_eq!(store.claim(&claim(2)).await.unwrap().len(), 2);
    // Interleaved with another run's lines, which never show in this one's pages.
    for chunk in 0..3 {
        let lines = (chunk * 400..chunk * 400 + 400).map(|i| line(&format!("line {i}")));
        store
            .append_logs("run_1", l(1), lines.collect())
            .await
            .unwrap();
        store
            .append_logs("run_2", l(1), vec![line("other")])
            .await
            .unwrap();
    }

    // The run comes with its first page only.
    let first = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(first.logs.len(), RUN_LOGS_PAGE);
    assert_eq!(first.logs[0].line.message, "line 0");
    let mut cursor = first.logs_next_cursor;
    assert!(cursor.is_some(), "1,200 lines are more than one page");
    let mut all = messages(&first.logs);
    let mut pages = 1;
    while let Some(after) = cursor {
        let query = LogQuery {
            cursor: Some(after),
            limit: 300,
        };
        let page = store.logs("run_1", &query).await.unwrap().unwrap();
        assert!(!page.logs.is_empty() && page.logs.len() <= 300);
        all.extend(messages(&page.logs));
        cursor = page.next_cursor;
        pages += 1;
    }
    let expected: Vec<String> = (0..1200).map(|i| format!("line {i}")).collect();
    assert_eq!(all, expected, "every line once, in order");
    assert_eq!(pages, 1 + 3, "500, then 300, 300 and 100");

    let other = store.run("run_2").await.unwrap().unwrap();
    assert_eq!(messages(&other.logs), ["other", "other", "other"]);
    assert_eq!(other.logs_next_cursor, None);
}

async fn log_pages_end_exactly_and_unknown_runs_have_none(store: Store) {
    store
        .ingest(
            event("evt_1", None, b"{}"),
            vec![run("run_1", "a"), run("run_2", "a")],
        )
        .await
        .unwrap();
    store.claim(&claim(2)).await.unwrap();
    let exact = (0..RUN_LOGS_PAGE).map(|i| line(&format!("line {i}")));
    store
        .append_logs("run_1", l(1), exact.collect())
        .await
        .unwrap();

    // Exactly one page: no cursor.
    let run = store.run("run_1").await.unwrap().unwrap();
    assert_eq!(run.logs.len(), RUN_LOGS_PAGE);
    assert_eq!(run.logs_next_cursor, None);

    // A cursor is a decimal number, as the API shows it; a limit of 0 reads one line.
    let from_start = LogQuery {
        cursor: None,
        limit: 2,
    };
    let two = store.logs("run_1", &from_start).await.unwrap().unwrap();
    assert_eq!(messages(&two.logs), ["line 0", "line 1"]);
    let shown = two.next_cursor.unwrap().to_string();
    let query = LogQuery {
        cursor: Some(shown.parse().unwrap()),
        limit: 0,
    };
    let next = store.logs("run_1", &query).await.unwrap().unwrap();
    assert_eq!(messages(&next.logs), ["line 2"]);

    // No lines: an empty page. No run: `None`.
    let empty = store.logs("run_2", &from_start).await.unwrap().unwrap();
    assert!(empty.logs.is_empty() && empty.next_cursor.is_none());
    assert!(store.logs("run_none", &from_start).await.unwrap().is_none());
}

/// The lines a run's attempts flushed while they ran and those they left when they ended (a
/// retry, then the success or the final failure) read back in the order they were logged, with
/// their attempt, level, data and time, at any page size. The two reach the store by different
/// writes (`append_logs`, `finish`), which a store may keep apart.
async fn a_finished_runs_lines_page_in_order_across_its_attempts(store: Store) {
    store
        .ingest(
            event("evt_1", None, b"{}"),
            vec![run("run_1", "a"), run("run_2", "a"), run("run_3", "a")],
        )
        .await
        .unwrap();
    let lines = |prefix: &str, n: usize| -> Vec<LogLine> {
        (0..n).map(|i| line(&format!("{prefix} {i}"))).collect()
    };
    assert_eq!(store.claim(&claim(3)).await.unwrap().len(), 3);
    store
        .append_logs("run_1", l(1), lines("1 flushed", 3))
        .await
        .unwrap();
    let retry = AttemptOutcome::Retry {
        error: "again".to_owned(),
        at: Timestamp::now(),
    };
    let ended = store.finish("run_1", l(1), lines("1 ended", 2), retry);
    assert!(ended.await.unwrap());
    assert_eq!(store.claim(&claim(1)).await.unwrap()[0].run.id, "run_1");
    store
        .append_logs("run_1", l(2), lines("2 flushed", 2))
        .await
        .unwrap();
    let mut last = lines("2 ended", 3);
    last[1].level = LogLevel::Warn;
    last[1].data = json!({"booking": {"uid": "b-1", "attendees": ["a", "b"]}}).into();
    let succeeded = AttemptOutcome::Succeeded(json!(null));
    let ended = store.finish("run_1", l(2), last.clone(), succeeded);
    assert!(ended.await.unwrap());

    let expected: Vec<(u32, String)> = [
        (1, "1 flushed", 3),
        (1, "1 ended", 2),
        (2, "2 flushed", 2),
        (2, "2 ended", 3),
    ]
    .into_iter()
    .flat_map(|(attempt, prefix, n)| (0..n).map(move |i| (attempt, format!("{prefix} {i}"))))
    .collect();
    let stored = store.run("run_1").await.unwrap().unwrap();
    let read: Vec<(u32, String)> = stored
        .logs
        .iter()
        .map(|l| (l.attempt, l.line.message.clone()))
        .collect();
    assert_eq!(read, expected, "the run's first page holds every line");
    assert_eq!(stored.logs_next_cursor, None);
    let kept = &stored.logs[8].line;
    assert_eq!((kept.level, kept.at), (LogLevel::Warn, last[1].at));
    assert_eq!(
        kept.data,
        json!({"booking": {"uid": "b-1", "attendees": ["a", "b"]}})
    );

    for limit in 1..=expected.len() + 1 {
        let (read, pages) = every_page(&store, "run_1", limit, expected.len()).await;
        assert_eq!(read, expected, "limit {limit}");
        assert_eq!(pages, expected.len().div_ceil(limit), "limit {limit}");
    }

    // A final failure keeps its lines too; a success without lines has none.
    let failed = AttemptOutcome::Failed {
        error: "no".to_owned(),
    };
    let ended = store.finish("run_2", l(1), lines("failed", 2), failed);
    assert!(ended.await.unwrap());
    let run_2 = store.run("run_2").await.unwrap().unwrap();
    assert_eq!(messages(&run_2.logs), ["failed 0", "failed 1"]);
    let ended = store.finish("run_3", l(1), vec![], AttemptOutcome::Succeeded(json!(1)));
    assert!(ended.await.unwrap());
    let run_3 = store.run("run_3").await.unwrap().unwrap();
    assert!(run_3.logs.is_empty() && run_3.logs_next_cursor.is_none());
}

/// Every line of `run`, `(attempt, message)`, read `limit` at a time, and how many pages that
/// took; more than `most` pages fail the test rather than loop.
async fn every_page(
    store: &Store,
    run: &str,
    limit: usize,
    most: usize,
) -> (Vec<(u32, String)>, usize) {
    let (mut read, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = store.logs(run, &LogQuery { cursor, limit }).await.unwrap();
        let page = page.unwrap();
        assert!(page.logs.len() <= limit, "limit {limit}");
        read.extend(
            page.logs
                .iter()
                .map(|l| (l.attempt, l.line.message.clone())),
        );
        pages += 1;
        assert!(pages <= most, "limit {limit}: the pages never end");
        match page.next_cursor {
            // A cursor is shown as a decimal number and read back.
            Some(next) => cursor = Some(next.to_string().parse().unwrap()),
            None => return (read, pages),
        }
    }
}

async fn skipped_jobs_are_stored_with_the_event_and_replaced_by_a_replay(store: Store) {
    let skipped_of = |stored: &trigger_runtime::store::EventRecord| -> Vec<(String, String)> {
        let jobs = stored.event.skipped.iter();
        jobs.map(|SkippedJob { job, reason }| (job.to_owned(), reason.to_owned()))
            .collect()
    };
    let mut event = event("evt_1", None, b"{}");
    let reason = "body.triggerEvent: \"PING\" is not one of [\"BOOKING_CREATED\"]";
    event.skipped.push("booking-created", reason);
    event.skipped.push(
        "ünïcode-job",
        "query.tenant: missing is not one of [\"a\\\"b\"]",
    );
    store.ingest(event, vec![run("run_1", "a")]).await.unwrap();
    let stored = store.event("evt_1").await.unwrap().unwrap();
    assert_eq!(
        skipped_of(&stored),
        [
            ("booking-created".to_owned(), reason.to_owned()),
            (
                "ünïcode-job".to_owned(),
                "query.tenant: missing is not one of [\"a\\\"b\"]".to_owned()
            ),
        ]
    );

    // A run replay keeps them; an event replay replaces them with today's.
    store
        .add_runs("evt_1", vec![run("run_2", "a")], None)
        .await
        .unwrap();
    assert_eq!(
        skipped_of(&store.event("evt_1").await.unwrap().unwrap()).len(),
        2
    );
    let mut today = SkippedJobs::new();
    today.push("booking-created", "body: the body was not read");
    store.add_runs("evt_1", vec![], Some(today)).await.unwrap();
    assert_eq!(
        skipped_of(&store.event("evt_1").await.unwrap().unwrap()),
        [(
            "booking-created".to_owned(),
            "body: the body was not read".to_owned()
        )]
    );
    store
        .add_runs("evt_1", vec![], Some(SkippedJobs::new()))
        .await
        .unwrap();
    assert!(
        store
            .event("evt_1")
            .await
            .unwrap()
            .unwrap()
            .event
            .skipped
            .is_empty()
    );
}

async fn runs_are_counted_by_job_and_status(store: Store) {
    assert!(store.job_run_counts().await.unwrap().is_empty());
    five_runs(&store).await;
    store.cancel("run_0").await.unwrap();
    let counts = store.job_run_counts().await.unwrap();
    let total: u64 = counts.iter().map(|(_, c)| c.total()).sum();
    assert_eq!(total, 5, "{counts:?}");
    let jobs: Vec<&str> = counts.iter().map(|(job, _)| job.as_str()).collect();
    assert_eq!(jobs, ["even", "odd"], "one entry per job, by id");
    assert_eq!((counts[0].1.total(), counts[1].1.total()), (3, 2));
    let canceled: u64 = counts.iter().map(|(_, c)| c.canceled).sum();
    assert_eq!(canceled, 1);
    assert_eq!(
        store.run_counts().await.unwrap().queued,
        counts.iter().map(|(_, c)| c.queued).sum::<u64>()
    );
}

async fn the_queue_counts_runs_not_finished(store: Store) {
    assert_eq!(store.queue_counts().await.unwrap(), QueueCounts::default());
    for i in 0..4 {
        store
            .ingest(
                event(&format!("evt_{i}"), None, b"{}"),
                vec![run(&format!("run_{i}"), "a")],
            )
            .await
            .unwrap();
    }
    let claimed = store.claim(&claim(2)).await.unwrap();
    let queue = store.queue_counts().await.unwrap();
    assert_eq!((queue.queued, queue.running), (2, 2));
    let first = &claimed[0];
    let outcome = AttemptOutcome::Succeeded(json!(null));
    assert!(
        store
            .finish(&first.run.id, first.lease, vec![], outcome)
            .await
            .unwrap()
    );
    assert_eq!(
        store.cancel("run_3").await.unwrap(),
        Some(RunStatus::Canceled)
    );
    let retried = &claimed[1];
    let later = Timestamp::from_unix_millis(Timestamp::now().as_unix_millis() + 60_000);
    let outcome = AttemptOutcome::Retry {
        error: "again".to_owned(),
        at: later,
    };
    assert!(
        store
            .finish(&retried.run.id, retried.lease, vec![], outcome)
            .await
            .unwrap()
    );
    let queue = store.queue_counts().await.unwrap();
    assert_eq!(
        (queue.queued, queue.running),
        (2, 0),
        "a retry not yet due is queued; finished and canceled runs are not counted"
    );
    let counts = store.run_counts().await.unwrap();
    assert_eq!(
        (counts.queued, counts.running),
        (queue.queued, queue.running)
    );
}
