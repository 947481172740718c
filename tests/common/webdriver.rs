//! Headless Chromium for the browser tests (`tests/browser.rs`), driven through `chromedriver`
//! with W3C WebDriver: JSON over HTTP/1.1, one request per connection ([`send`]). No
//! WebDriver crate: the tests need a dozen commands.
//!
//! [`Browser::start`] runs `chromedriver` on a free port, in a process group of its own, and
//! opens a session of Debian's `chromium` (`--headless=new`, a fresh profile in a [`TempDir`],
//! and no background networking, which a closed network refuses). Dropped, it closes the
//! session, which quits Chromium, then kills what is left of the group. Browsers of one test
//! process run one at a time: Chromium alone keeps a small CI machine busy.
//!
//! A missing `chromedriver` fails the test with what to install; `TRIGGER_SKIP_BROWSER=1`
//! skips the browser tests instead ([`skip_browser`]). `TRIGGER_CHROMEDRIVER` and
//! `TRIGGER_CHROMIUM` name other binaries than `/usr/bin/chromedriver` and `/usr/bin/chromium`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::parse_response;
use crate::{Response, TempDir, lock, poll_until};

/// How long `chromedriver` may take to answer `GET /status` as ready.
const DRIVER_START: Duration = Duration::from_secs(20);
/// The key of an element reference in W3C WebDriver.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// The session's page-load and script timeouts, in milliseconds.
const PAGE_LOAD_MS: u64 = 30_000;
const SCRIPT_MS: u64 = 10_000;

/// Whether `TRIGGER_SKIP_BROWSER=1` asks to skip the browser tests; says so on stderr.
pub fn skip_browser() -> bool {
    let skip = std::env::var("TRIGGER_SKIP_BROWSER").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("TRIGGER_SKIP_BROWSER=1: browser test skipped");
    }
    skip
}

fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A WebDriver error: its `error` code and `message`.
#[derive(Debug)]
pub struct WebDriverError {
    /// The W3C error code, such as `no such element`.
    pub error: String,
    /// What the driver said.
    pub message: String,
}

/// A headless Chromium session; see the module's documentation.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// The profile and `chromedriver.log`; removed after the processes are gone.
    profile: TempDir,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts `chromedriver` and a Chromium session with a 1280×900 window; panics, saying what
    /// to install, when `chromedriver` is missing.
    #[track_caller]
    pub fn start() -> Self {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let guard = lock(&ONE_AT_A_TIME);
        let driver_path = binary("TRIGGER_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("TRIGGER_CHROMIUM", "/usr/bin/chromium");
        for path in [&driver_path, &chromium] {
            assert!(
                path.is_file(),
                "{} is missing: the browser tests need Debian's chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`, as .ci/run does), or \
                 TRIGGER_SKIP_BROWSER=1 to skip them",
                path.display()
            );
        }
        let profile = TempDir::new("chromium");
        let port = free_port();
        let log = File::create(profile.join("chromedriver.log")).expect("create chromedriver.log");
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log's handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", driver_path.display()));
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
            profile,
            _one_at_a_time: guard,
        };
        browser.wait_until_ready();
        browser.session = browser.new_session(&chromium);
        let timeouts = json!({ "pageLoad": PAGE_LOAD_MS, "script": SCRIPT_MS });
        browser.command("POST", "/timeouts", Some(&timeouts));
        browser
    }

    #[track_caller]
    fn wait_until_ready(&mut self) {
        let ready = poll_until(DRIVER_START, || {
            if let Some(status) = self.driver.try_wait().expect("query chromedriver") {
                return Some(Err(status));
            }
            let answer = send(self.port, "GET", "/status", "").ok()?;
            let ready = answer.status == 200 && answer.json()["value"]["ready"] == true;
            ready.then_some(Ok(()))
        });
        match ready {
            Some(Ok(())) => {}
            Some(Err(status)) => panic!("chromedriver exited with {status}: {}", self.driver_log()),
            None => panic!(
                "chromedriver not ready within {DRIVER_START:?}: {}",
                self.driver_log()
            ),
        }
    }

    #[track_caller]
    fn new_session(&self, chromium: &std::path::Path) -> String {
        let profile = format!("--user-data-dir={}", self.profile.join("profile").display());
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            "--hide-scrollbars",
            &profile,
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        } } });
        let answer = self.raw("POST", "/session", Some(&capabilities));
        match answer {
            Ok(value) => match value["sessionId"].as_str() {
                Some(id) => id.to_owned(),
                None => panic!("no sessionId in {value}"),
            },
            Err(e) => panic!(
                "chromedriver could not start {}: {}: {}\n{}",
                chromium.display(),
                e.error,
                e.message,
                self.driver_log()
            ),
        }
    }

    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.profile.join("chromedriver.log"));
        format!(
            "--- chromedriver.log ---\n{}--- end ---",
            log.unwrap_or_default()
        )
    }

    /// Sends `method path` (relative to the driver, e.g. `/session`) with a JSON body; the
    /// answer's `value`, or the driver's error.
    fn raw(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WebDriverError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let answer = send(self.port, method, path, &body);
        let answer = answer.map_err(|e| WebDriverError {
            error: "no answer".to_owned(),
            message: format!("{method} {path} to chromedriver: {e}"),
        })?;
        let value = answer.json()["value"].take();
        match value["error"].as_str() {
            Some(error) if answer.status >= 400 => Err(WebDriverError {
                error: error.to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            }),
            _ => Ok(value),
        }
    }

    /// Sends a command of the session (`path` relative to `/session/{id}`); its `value`, or the
    /// driver's error.
    pub fn try_command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        let path = format!("/session/{}{path}", self.session);
        self.raw(method, &path, body)
    }

    /// Like [`try_command`](Self::try_command); panics on an error.
    #[track_caller]
    pub fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {}: {}", e.error, e.message))
    }

    /// Opens `url` and waits for it to load.
    #[track_caller]
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({ "url": url })));
    }

    /// The page's URL.
    #[track_caller]
    pub fn url(&self) -> String {
        let url = self.command("GET", "/url", None);
        url.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns what it returns.
    #[track_caller]
    pub fn script(&self, script: &str, args: &[Value]) -> Value {
        let body = json!({ "script": script, "args": args });
        self.command("POST", "/execute/sync", Some(&body))
    }

    /// The first element matching the CSS `selector`, if any.
    #[track_caller]
    pub fn find(&self, selector: &str) -> Option<Element<'_>> {
        let body = json!({ "using": "css selector", "value": selector });
        match self.try_command("POST", "/element", Some(&body)) {
            Ok(found) => Some(self.element(&found)),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {selector:?}: {}: {}", e.error, e.message),
        }
    }

    /// Clicks the first element matching `selector`, found again if the page replaced it
    /// between finding and clicking (a live list re-renders its rows as runs change).
    #[track_caller]
    pub fn click(&self, selector: &str) {
        let clicked = poll_until(Duration::from_secs(10), || {
            let element = self.find(selector)?;
            let path = format!("/element/{}/click", element.id);
            match self.try_command("POST", &path, Some(&json!({}))) {
                Ok(_) => Some(()),
                Err(e) if e.error == "stale element reference" => None,
                Err(e) => panic!("click {selector:?}: {}: {}", e.error, e.message),
            }
        });
        if clicked.is_none() {
            panic!(
                "click {selector:?}: not found, or replaced at every try; the page's text:\n{}",
                self.text("body")
            );
        }
    }

    /// The first element matching `selector`; panics, with the page's text, if there is none.
    #[track_caller]
    pub fn get(&self, selector: &str) -> Element<'_> {
        self.find(selector).unwrap_or_else(|| {
            panic!(
                "no {selector:?} on {}; its text:\n{}",
                self.url(),
                self.text("body")
            )
        })
    }

    /// The text of the first element matching `selector`, as rendered (empty when none).
    #[track_caller]
    pub fn text(&self, selector: &str) -> String {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        let text = self.script(script, &[json!(selector)]);
        text.as_str().unwrap_or_default().to_owned()
    }

    fn element(&self, found: &Value) -> Element<'_> {
        let Some(id) = found[ELEMENT].as_str() else {
            panic!("not an element reference: {found}");
        };
        Element {
            browser: self,
            id: id.to_owned(),
        }
    }

    /// Waits up to `timeout` until `look` returns `Some`; panics naming `what`, with the page's
    /// URL and text, if it does not.
    #[track_caller]
    pub fn wait_for<T>(&self, what: &str, timeout: Duration, look: impl FnMut() -> Option<T>) -> T {
        poll_until(timeout, look).unwrap_or_else(|| {
            panic!(
                "{what}: not within {timeout:?} on {}; the page's text:\n{}",
                self.url(),
                self.text("body")
            )
        })
    }

    /// Resizes the window so that its viewport is `width` × `height` (a headless window still
    /// keeps room for a browser's toolbar).
    #[track_caller]
    pub fn resize_viewport(&self, width: u64, height: u64) {
        let frame = self.script(
            "return [outerWidth - innerWidth, outerHeight - innerHeight];",
            &[],
        );
        let (dx, dy) = (
            frame[0].as_u64().unwrap_or(0),
            frame[1].as_u64().unwrap_or(0),
        );
        let rect = json!({ "width": width + dx, "height": height + dy });
        self.command("POST", "/window/rect", Some(&rect));
    }

    /// Resizes the viewport to the height of the page's content, between `min` and `max`, so
    /// that a [`screenshot`](Self::screenshot) shows the whole page (or its first `max` pixels).
    #[track_caller]
    pub fn fit_to_page(&self, width: u64, min: u64, max: u64) {
        self.resize_viewport(width, min);
        let height = self.script(
            "return Math.ceil(document.body.getBoundingClientRect().height);",
            &[],
        );
        let height = height.as_u64().unwrap_or(min).clamp(min, max);
        self.resize_viewport(width, height);
    }

    /// A PNG of the viewport.
    #[track_caller]
    pub fn screenshot(&self) -> Vec<u8> {
        let png = self.command("GET", "/screenshot", None);
        let png = png.as_str().unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(png)
            .unwrap_or_else(|e| panic!("a screenshot that is not base64: {e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Quits Chromium.
            let _ = self.try_command("DELETE", "", None);
        }
        // Whatever of the group is left (a Chromium the session did not quit), then the driver.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.driver_log());
        }
    }
}

/// An element of the page, found by [`Browser::find`].
#[derive(Debug)]
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    /// Clicks it (scrolled into view first, as a user would).
    #[track_caller]
    pub fn click(&self) {
        let path = format!("/element/{}/click", self.id);
        self.browser.command("POST", &path, Some(&json!({})));
    }

    /// Types `text` into it.
    #[track_caller]
    pub fn type_text(&self, text: &str) {
        let path = format!("/element/{}/value", self.id);
        self.browser
            .command("POST", &path, Some(&json!({ "text": text })));
    }

    /// Its rendered text.
    #[track_caller]
    pub fn text(&self) -> String {
        let path = format!("/element/{}/text", self.id);
        let text = self.browser.command("GET", &path, None);
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Its attribute `name`, if it has one.
    #[track_caller]
    pub fn attribute(&self, name: &str) -> Option<String> {
        let path = format!("/element/{}/attribute/{name}", self.id);
        let value = self.browser.command("GET", &path, None);
        value.as_str().map(str::to_owned)
    }
}

/// A port nothing listens on now: one the system gave a listener, which is then closed.
fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a free port");
    listener
        .local_addr()
        .expect("the listener's address")
        .port()
}

/// Sends one request with a JSON `body` to the driver on `127.0.0.1:port`, and reads its
/// answer up to its `Content-Length`: `chromedriver` says `Connection: close` but keeps the
/// connection open, so reading to the end would wait for the read timeout.
pub fn send(port: u16, method: &str, path: &str, body: &str) -> io::Result<Response> {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    // Longer than the session's page-load timeout, which a navigation may take.
    stream.set_read_timeout(Some(Duration::from_millis(PAGE_LOAD_MS + 30_000)))?;
    stream.write_all(request.as_bytes())?;
    let mut bytes = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|length| length.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if bytes.len() >= end + 4 + length {
                return parse_response(&bytes);
            }
        }
        match stream.read(&mut buffer)? {
            0 => return parse_response(&bytes),
            n => bytes.extend_from_slice(&buffer[..n]),
        }
    }
}
