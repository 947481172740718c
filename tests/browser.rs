//! The dashboard in a real browser: headless Chromium, through `chromedriver`
//! ([`trigger_tests::webdriver`]), against the Cal.com example run as a real server. The
//! dashboard loads; a webhook sent while the runs list is open appears in it without a reload;
//! a run's page shows its logs and the request body; Replay makes a new run; a secret stays
//! masked until Reveal; with `TRIGGER_API_KEY` the browser logs in.
//!
//! `TRIGGER_SCREENSHOTS=docs cargo test -p trigger-tests --test browser screenshots` also saves
//! the main pages, with a few realistic runs, as `docs/dashboard-*.png`.
//! `TRIGGER_SKIP_BROWSER=1` skips these tests where Chromium is not installed.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use trigger_tests::webdriver::{Browser, skip_browser};
use trigger_tests::{Response, Server, http, sign};

const PACKAGE: &str = "example-caldotcom";
const SECRET: &str = "whsec_browser_test_4f1c9a";
const API_KEY: &str = "browser-test-api-key";
const WAIT: Duration = Duration::from_secs(30);

fn server() -> Server {
    Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .start()
}

/// The dashboard URL of `path` on `server`.
fn url(server: &Server, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", server.port())
}

/// POSTs `body` to the Cal.com endpoint, signed with `secret` as Cal.com signs.
fn post(server: &Server, body: &[u8], secret: &str) -> Response {
    let signature = sign(secret, body);
    let headers = [
        ("Content-Type", "application/json"),
        ("X-Cal-Signature-256", signature.as_str()),
    ];
    http::send(server.port(), "POST", "/endpoints/cal.com", &headers, body)
        .unwrap_or_else(|e| panic!("POST /endpoints/cal.com: {e}"))
}

/// Sends a signed booking event; returns its runs' ids, `http-caldotcom`'s first.
#[track_caller]
fn send(server: &Server, body: &Value) -> Vec<String> {
    let answer = post(server, body.to_string().as_bytes(), SECRET);
    assert_eq!(answer.status, 200, "{answer}");
    let json = answer.json();
    let mut runs: Vec<(&str, String)> = json["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {json}"))
        .iter()
        .filter_map(|run| Some((run["job"].as_str()?, run["id"].as_str()?.to_owned())))
        .collect();
    runs.sort_by_key(|(job, _)| *job != "http-caldotcom");
    runs.into_iter().map(|(_, id)| id).collect()
}

fn booking(event: &str, title: &str, attendee: &str) -> Value {
    json!({
        "triggerEvent": event,
        "createdAt": "2026-03-02T09:41:07.512Z",
        "payload": {
            "uid": format!("bk_{}", title.len() * 7919),
            "title": title,
            "startTime": "2026-03-09T14:00:00Z",
            "endTime": "2026-03-09T14:30:00Z",
            "organizer": { "name": "Grace Hopper", "timeZone": "Europe/Paris" },
            "attendees": [{ "name": attendee, "email": format!("{}@example.com", attendee.to_lowercase()) }],
        }
    })
}

/// How many rows the runs table shows, counted in the page.
fn run_rows(browser: &Browser) -> u64 {
    let count = browser.script(
        "return document.querySelectorAll('table.runs tbody tr[id^=\"run-\"]').length;",
        &[],
    );
    count.as_u64().unwrap_or_default()
}

#[test]
fn the_dashboard_loads_with_the_endpoint_its_url_and_the_jobs() {
    if skip_browser() {
        return;
    }
    let server = server();
    let browser = Browser::start();
    browser.goto(&url(&server, "/"));
    assert_eq!(browser.text("h1"), "Endpoints");
    let card = "section[id='endpoint-cal.com']";
    assert_eq!(browser.text(&format!("{card} h2")), "Cal.com");
    assert_eq!(
        browser.text(&format!("{card} code.url")),
        url(&server, "/endpoints/cal.com")
    );
    let copy = browser.get(&format!("{card} button.copy"));
    assert_eq!(
        copy.attribute("data-copy"),
        Some(url(&server, "/endpoints/cal.com"))
    );
    assert!(
        browser.text(card).contains("HMAC-SHA256"),
        "{}",
        browser.text(card)
    );
    // The stylesheet and the script loaded under the page's Content-Security-Policy.
    let styled = browser.script(
        "return getComputedStyle(document.querySelector('header.top')).position;",
        &[],
    );
    assert_eq!(styled, "sticky");
    // The navigation leads to the jobs.
    browser.click("header.top nav a[href='/jobs']");
    browser.wait_for("the jobs page", WAIT, || {
        (browser.text("h1") == "Jobs").then_some(())
    });
    let jobs = browser.text("main");
    assert!(jobs.contains("http-caldotcom"), "{jobs}");
    assert!(jobs.contains("booking-cancelled"), "{jobs}");
}

#[test]
fn a_webhook_sent_while_the_runs_list_is_open_appears_without_a_reload() {
    if skip_browser() {
        return;
    }
    let server = server();
    let browser = Browser::start();
    browser.goto(&url(&server, "/runs"));
    assert_eq!(run_rows(&browser), 0);
    assert!(browser.find("table.runs tr.empty").is_some());
    // The server-sent events are connected: the dot is on.
    browser.wait_for("the live dot on", WAIT, || browser.find(".live.on"));
    browser.script("window.notReloaded = 'still the same page';", &[]);

    let runs = send(&server, &booking("BOOKING_CREATED", "Live call", "Ada"));
    let row = format!("tr[id='run-{}']", runs[0]);
    let status = browser.wait_for("the new run's row, succeeded", WAIT, || {
        let status = browser.find(&row)?.attribute("data-status")?;
        (status == "succeeded").then_some(status)
    });
    assert_eq!(status, "succeeded");
    assert!(browser.text(&row).contains("http-caldotcom"));
    assert!(browser.find("table.runs tr.empty").is_none());
    assert_eq!(run_rows(&browser), 1);
    let marker = browser.script("return window.notReloaded;", &[]);
    assert_eq!(marker, "still the same page", "the page was reloaded");
    assert_eq!(browser.url(), url(&server, "/runs"));
}

#[test]
fn a_run_page_shows_its_logs_and_the_request_body() {
    if skip_browser() {
        return;
    }
    let server = server();
    let body = booking("BOOKING_CREATED", "Run page call", "Linus");
    let id = send(&server, &body).remove(0);
    server.wait_for_run_status(&id, "succeeded", WAIT);
    let browser = Browser::start();
    // From the list, as a user would.
    browser.goto(&url(&server, "/runs"));
    browser.click(&format!("tr[id='run-{id}'] a[href='/runs/{id}']"));
    browser.wait_for("the run's page", WAIT, || {
        (browser.text("h1") == id).then_some(())
    });
    assert_eq!(browser.text(".page-head .badge"), "succeeded");

    let logs = browser.text("#logs table.logs");
    assert!(logs.contains("INFO") && logs.contains("Body"), "{logs}");
    let logged: Value = serde_json::from_str(&browser.text("#logs pre.data")).unwrap();
    assert_eq!(logged, body);

    let shown = browser.text("#request pre.body");
    let received: Value = serde_json::from_str(&shown).unwrap_or_else(|e| panic!("{e}: {shown}"));
    assert_eq!(received, body);
    let request = browser.text("#request");
    let line = format!("POST {}", url(&server, "/endpoints/cal.com"));
    assert!(request.contains(&line), "{request}");
    assert!(request.contains("verified"), "{request}");
    // The signature is redacted.
    assert!(request.contains("[redacted]"), "{request}");
    let signature = sign(SECRET, body.to_string().as_bytes());
    let html = browser.script("return document.documentElement.outerHTML;", &[]);
    assert!(!html.as_str().unwrap().contains(&signature));
    // The job the filter skipped, with its reason.
    let jobs = browser.text("#jobs table.matches");
    assert!(
        jobs.contains("booking-cancelled") && jobs.contains("skipped"),
        "{jobs}"
    );
}

#[test]
fn replay_makes_a_new_run_of_the_same_event() {
    if skip_browser() {
        return;
    }
    let server = server();
    let id = send(
        &server,
        &booking("BOOKING_CREATED", "Replayed call", "Alan"),
    )
    .remove(0);
    server.wait_for_run_status(&id, "succeeded", WAIT);
    let browser = Browser::start();
    browser.goto(&url(&server, &format!("/runs/{id}")));
    let event = browser.text("main dd.mono a[href^='/events/']");
    browser.click("button.replay");
    let new = browser.wait_for("the replay's page", WAIT, || {
        let shown = browser.url();
        let path = shown.strip_prefix(&url(&server, "/runs/"))?;
        let new = path.strip_suffix("?done=replayed")?;
        (new != id).then(|| new.to_owned())
    });
    assert_eq!(browser.text("h1"), new);
    assert!(browser.text("p.notice").contains("this is the new run"));
    assert_eq!(browser.text("main dd.mono a[href^='/events/']"), event);
    let replayed = server.wait_for_run_status(&new, "succeeded", WAIT);
    assert_eq!(replayed["event_id"], event.as_str());

    browser.goto(&url(&server, "/runs"));
    assert_eq!(run_rows(&browser), 2);
    for run in [&id, &new] {
        assert!(
            browser.find(&format!("tr[id='run-{run}']")).is_some(),
            "no row of {run}"
        );
    }
}

#[test]
fn a_secret_is_masked_until_revealed() {
    if skip_browser() {
        return;
    }
    let server = server();
    let browser = Browser::start();
    let html = || {
        let html = browser.script("return document.documentElement.outerHTML;", &[]);
        html.as_str().unwrap_or_default().to_owned()
    };
    browser.goto(&url(&server, "/"));
    let masked = browser.text("section[id='endpoint-cal.com'] .secret");
    assert!(
        masked.chars().all(|c| c == '•') && !masked.is_empty(),
        "{masked}"
    );
    assert!(
        !html().contains(SECRET),
        "the secret is in the page before Reveal"
    );

    browser.click("section[id='endpoint-cal.com'] button.reveal");
    let shown = browser.wait_for("the revealed secret", WAIT, || {
        let secret = browser.find("section[id='endpoint-cal.com'] .secret:not(.masked)")?;
        Some(secret.text())
    });
    assert_eq!(shown, SECRET);
    let copy = browser.get("section[id='endpoint-cal.com'] .secret + button.copy");
    assert_eq!(copy.attribute("data-copy").as_deref(), Some(SECRET));

    // Hide: masked again, out of the page.
    browser.click("section[id='endpoint-cal.com'] a.button[href^='/#endpoint-']");
    browser.wait_for("the secret masked again", WAIT, || {
        browser.find("section[id='endpoint-cal.com'] .secret.masked")
    });
    assert!(
        !html().contains(SECRET),
        "the secret is still in the page after Hide"
    );
}

#[test]
fn with_an_api_key_the_browser_logs_in_and_out() {
    if skip_browser() {
        return;
    }
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .env("TRIGGER_API_KEY", API_KEY)
        .start();
    let browser = Browser::start();
    browser.goto(&url(&server, "/runs"));
    assert_eq!(browser.url(), url(&server, "/login?next=%2Fruns"));
    browser.get("input#key").type_text("not-the-key");
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for("the wrong key refused", WAIT, || {
        browser.find("p.notice.bad")
    });
    browser.get("input#key").type_text(API_KEY);
    browser.click("form[action='/login'] button[type=submit]");
    browser.wait_for("the runs page after logging in", WAIT, || {
        (browser.text("h1") == "Runs").then_some(())
    });
    assert_eq!(browser.url(), url(&server, "/runs"));
    browser.click("form.logout button");
    browser.wait_for("the login form after logging out", WAIT, || {
        browser
            .url()
            .starts_with(&url(&server, "/login"))
            .then_some(())
    });
    browser.goto(&url(&server, "/"));
    assert!(browser.url().starts_with(&url(&server, "/login")));
}

/// The main pages with a few runs (one failed, a job skipped by its filter, a cancellation
/// that starts both jobs, a refused delivery), as PNGs: checked to be PNGs always, saved under `$TRIGGER_SCREENSHOTS` (relative
/// to the workspace, e.g. `docs`) when it is set.
#[test]
fn screenshots_of_the_main_pages() {
    if skip_browser() {
        return;
    }
    // The URL senders would use behind a proxy, rather than a random port.
    let server = Server::builder(PACKAGE)
        .env("CALDOTCOM_SECRET", SECRET)
        .env("TRIGGER_PUBLIC_URL", "https://hooks.example.com")
        .start();
    let created = send(&server, &booking("BOOKING_CREATED", "Intro call", "Ada"));
    send(
        &server,
        &booking("BOOKING_CREATED", "Design review", "Linus"),
    );
    send(
        &server,
        &booking("BOOKING_RESCHEDULED", "Quarterly planning", "Grace"),
    );
    let mut cancelled = booking("BOOKING_CANCELLED", "Pairing session", "Alan");
    cancelled["payload"]["cancellationReason"] = json!("double-booked");
    let cancelled = send(&server, &cancelled);
    // Signed, but not JSON: the job fails its three attempts.
    let answer = post(&server, b"triggerEvent=BOOKING_CREATED", SECRET);
    assert_eq!(answer.status, 200, "{answer}");
    let failed = answer.json()["runs"][0]["id"].as_str().unwrap().to_owned();
    // Signed with another secret: refused at the door.
    let refused = post(
        &server,
        br#"{"triggerEvent":"BOOKING_CREATED"}"#,
        "whsec_wrong",
    );
    assert_eq!(refused.status, 401, "{refused}");
    send(
        &server,
        &booking("BOOKING_CREATED", "Customer onboarding", "Margaret"),
    );
    server.wait_for_run_status(&failed, "failed", WAIT);
    for run in cancelled.iter().chain(&created) {
        server.wait_for_run_status(run, "succeeded", WAIT);
    }

    let browser = Browser::start();
    let pages = [
        ("endpoints", "/".to_owned()),
        ("jobs", "/jobs".to_owned()),
        ("runs", "/runs".to_owned()),
        ("run", format!("/runs/{}", created[0])),
        ("run-failed", format!("/runs/{failed}")),
        ("events", "/events".to_owned()),
    ];
    let save_to = std::env::var("TRIGGER_SCREENSHOTS").ok();
    for (name, path) in pages {
        browser.goto(&url(&server, &path));
        // The whole page, up to a height that stays readable in the README.
        browser.fit_to_page(1280, 480, 2000);
        let png = browser.screenshot();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
        if let Some(dir) = &save_to {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("dashboard-{name}.png"));
            std::fs::write(&file, &png).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            eprintln!("saved {}", file.display());
        }
    }
}
