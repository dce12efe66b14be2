//! A small W3C WebDriver client over `reqwest`, for end-to-end tests of the web console in
//! headless Chromium: [`Browser::start`] runs `/usr/bin/chromedriver` on a free loopback port
//! with a fresh profile directory, and the session, the driver and the profile go away when the
//! [`Browser`] is dropped.
//!
//! Every HTTP call has a timeout and every wait is bounded; a wait that runs out panics with the
//! page's current URL and the start of its visible text.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`scripts/test` installs them).

#![allow(clippy::unwrap_used)]
// A client library: not every test uses every method.
#![allow(dead_code)]

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The ChromeDriver binary of the Debian package `chromium-driver`.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The Chromium binary of the Debian package `chromium`.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// How long ChromeDriver may take to answer `GET /status` with `ready: true`.
pub const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long [`Browser::find`] and the other waits of this module poll before they panic.
pub const WAIT: Duration = Duration::from_secs(10);
/// The pause between two polls of a wait.
const POLL: Duration = Duration::from_millis(100);
/// The timeout of an ordinary WebDriver command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// The timeout of the command that creates a session (it starts Chromium).
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// The page-load timeout given to the session (navigation commands), in milliseconds.
const PAGE_LOAD_MS: u64 = 20_000;
/// The script timeout given to the session, in milliseconds.
const SCRIPT_MS: u64 = 10_000;
/// The W3C key of an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A reference to an element of the current page, as WebDriver returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element(pub String);

impl Element {
    /// The element as a JSON argument of [`Browser::execute`] (scripts receive the DOM node).
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// An error answer of WebDriver (or a transport failure, as error `transport`).
#[derive(Debug, Clone)]
pub struct WdError {
    /// The W3C error code, e.g. `no such element`, `stale element reference`.
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl fmt::Display for WdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self.message.lines().next().unwrap_or("");
        write!(f, "{}: {first}", self.error)
    }
}

/// Errors that mean "not yet": a wait retries them until it runs out.
fn transient(e: &WdError) -> bool {
    matches!(
        e.error.as_str(),
        "no such element"
            | "stale element reference"
            | "element not interactable"
            | "element click intercepted"
            | "invalid element state"
    )
}

/// A headless Chromium driven through ChromeDriver: one WebDriver session, torn down on drop.
pub struct Browser {
    driver: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    port: u16,
    session: String,
    http: reqwest::Client,
    /// Holds `profile/` (Chromium's user data directory) and `chromedriver.log`.
    dir: TempDir,
}

impl Browser {
    /// The WebDriver key code of Tab, for [`Browser::press`].
    pub const TAB: &'static str = "\u{E004}";
    /// The WebDriver key code of Enter.
    pub const ENTER: &'static str = "\u{E007}";
    /// The WebDriver key code of Escape.
    pub const ESCAPE: &'static str = "\u{E00C}";

    /// Starts ChromeDriver on a free loopback port and opens a session in a headless Chromium
    /// with a fresh profile. Panics (with the driver's log) if either does not come up in time,
    /// and with a hint to run `scripts/test` if the packages are not installed.
    pub async fn start() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: run scripts/test, which installs the Debian packages `chromium` and \
                 `chromium-driver` (or: apt-get install -y chromium chromium-driver)"
            );
        }
        let dir = tempfile::Builder::new().prefix("vouch-browser-").tempdir().unwrap();
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).unwrap();
        // reqwest is built with rustls without a provider of its own (as in the harness).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder().no_proxy().timeout(COMMAND_TIMEOUT).build().unwrap();

        // The port is free when we look; another process may take it before ChromeDriver binds
        // it, so a driver that exits at once is retried on another port.
        let mut attempt = 0;
        let (driver, port) = loop {
            attempt += 1;
            let port = free_port();
            let log = File::create(dir.path().join("chromedriver.log")).unwrap();
            let mut driver = Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                // Its own process group, so that drop can end Chromium too if the driver
                // could not close it.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {CHROMEDRIVER}: {e}"));
            match wait_ready(&http, port, &mut driver).await {
                Ok(()) => break (driver, port),
                Err(why) => {
                    kill_group(&mut driver);
                    let log = std::fs::read_to_string(dir.path().join("chromedriver.log")).unwrap_or_default();
                    assert!(attempt < 3, "chromedriver did not become ready: {why}\n--- chromedriver log:\n{log}");
                }
            }
        };
        let base = format!("http://127.0.0.1:{port}");

        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "timeouts": { "pageLoad": PAGE_LOAD_MS, "script": SCRIPT_MS, "implicit": 0 },
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless=new",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            "--window-size=1366,900",
                            format!("--user-data-dir={}", profile.display()),
                        ],
                    },
                },
            },
        });
        let mut browser = Browser { driver, base, port, session: String::new(), http, dir };
        let created =
            browser.request(Method::POST, &format!("{}/session", browser.base), Some(caps), SESSION_TIMEOUT).await;
        match created {
            Ok(v) => {
                browser.session = v["sessionId"].as_str().unwrap_or_default().to_owned();
                assert!(!browser.session.is_empty(), "chromedriver answered no sessionId: {v}");
            }
            Err(e) => {
                panic!("cannot start Chromium through chromedriver: {e}\n--- chromedriver log:\n{}", browser.log())
            }
        }
        browser
    }

    /// ChromeDriver's output so far (empty if it cannot be read).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// The temporary directory of this browser (holds the profile and the driver's log); a
    /// convenient place for screenshots and files to upload.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Opens `url` and waits for the page to load (bounded by the session's page-load timeout).
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.cmd(Method::POST, "/url", Some(json!({ "url": url }))).await {
            panic!("cannot open {url}: {e}\n{}", self.diagnose().await);
        }
    }

    /// The URL of the current page.
    pub async fn current_url(&self) -> String {
        match self.cmd(Method::GET, "/url", None).await {
            Ok(v) => v.as_str().unwrap_or_default().to_owned(),
            Err(e) => panic!("cannot read the current URL: {e}"),
        }
    }

    /// The element matching the CSS selector `css`, waiting up to [`WAIT`] for it to exist.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.try_find(css).await {
                Ok(el) => return el,
                Err(e) if transient(&e) && Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Err(e) => self.fail(&format!("no element matches `{css}` ({e})")).await,
            }
        }
    }

    /// Every element matching `css` now (no wait; possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let body = json!({ "using": "css selector", "value": css });
        match self.cmd(Method::POST, "/elements", Some(body)).await {
            Ok(Value::Array(items)) => items.iter().filter_map(element_of).collect(),
            Ok(v) => panic!("unexpected answer to find elements `{css}`: {v}"),
            Err(e) => panic!("cannot find elements `{css}`: {e}"),
        }
    }

    /// Clicks the element matching `css`, waiting up to [`WAIT`] for it to exist and be
    /// clickable (not covered, not hidden).
    pub async fn click(&self, css: &str) {
        self.retry(&format!("cannot click `{css}`"), || async {
            let el = self.try_find(css).await?;
            self.cmd(Method::POST, &format!("/element/{}/click", el.0), Some(json!({}))).await.map(drop)
        })
        .await;
    }

    /// Clears the field matching `css` and types `text` into it (real key events), waiting up
    /// to [`WAIT`] for it to exist and be editable.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.retry(&format!("cannot type into `{css}`"), || async {
            let el = self.try_find(css).await?;
            self.cmd(Method::POST, &format!("/element/{}/clear", el.0), Some(json!({}))).await?;
            self.cmd(Method::POST, &format!("/element/{}/value", el.0), Some(json!({ "text": text }))).await.map(drop)
        })
        .await;
    }

    /// Sets the `<select>` matching `css` to the option whose value is `value`, and dispatches
    /// `input` and `change` events as a user's choice would. Panics (listing the options) if
    /// there is no such option.
    pub async fn select(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        let script = r#"
            const [el, value] = arguments;
            if (!(el instanceof HTMLSelectElement)) return { error: 'not a <select>: ' + el.tagName };
            const options = Array.from(el.options).map(o => o.value);
            if (!options.includes(value)) return { error: 'no option ' + JSON.stringify(value) + ' among ' + JSON.stringify(options) };
            el.value = value;
            el.dispatchEvent(new Event('input', { bubbles: true }));
            el.dispatchEvent(new Event('change', { bubbles: true }));
            return { ok: true };
        "#;
        let got = self.execute(script, vec![el.to_json(), json!(value)]).await;
        if let Some(error) = got["error"].as_str() {
            self.fail(&format!("cannot select {value:?} in `{css}`: {error}")).await;
        }
    }

    /// The rendered text of the element matching `css` (waiting up to [`WAIT`] for it).
    pub async fn text(&self, css: &str) -> String {
        self.retry(&format!("cannot read the text of `{css}`"), || async {
            let el = self.try_find(css).await?;
            self.element_text(&el).await
        })
        .await
    }

    /// Polls until the text of the element matching `css` contains `needle` (at most [`WAIT`]),
    /// and returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last;
        loop {
            let got = match self.try_find(css).await {
                Ok(el) => self.element_text(&el).await,
                Err(e) => Err(e),
            };
            match got {
                Ok(text) if text.contains(needle) => return text,
                Ok(text) => last = text,
                Err(e) if transient(&e) => last = format!("({e})"),
                Err(e) => self.fail(&format!("cannot read the text of `{css}`: {e}")).await,
            }
            if Instant::now() >= deadline {
                self.fail(&format!("the text of `{css}` never contained {needle:?}; last: {:?}", snippet(&last, 300)))
                    .await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls until the current URL contains `needle` (at most [`WAIT`]), and returns it.
    pub async fn wait_for_url_contains(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.current_url().await;
            if url.contains(needle) {
                return url;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("the URL never contained {needle:?}")).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs `script` as the body of a function in the page (W3C "execute script": `arguments`
    /// holds `args`; elements passed as [`Element::to_json`] arrive as DOM nodes) and returns
    /// its result. Panics if the script throws.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        match self.cmd(Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args }))).await {
            Ok(v) => v,
            Err(e) => panic!("script failed: {e}\n--- script:\n{}", snippet(script.trim(), 400)),
        }
    }

    /// Saves a PNG screenshot of the viewport to `path` (creating its parent directories).
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let v = match self.cmd(Method::GET, "/screenshot", None).await {
            Ok(v) => v,
            Err(e) => panic!("cannot take a screenshot: {e}"),
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("the screenshot is not base64: {e}"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Chooses the file `path` (which must exist) in the `<input type=file>` matching `css`.
    pub async fn set_file(&self, css: &str, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let abs: PathBuf =
            path.canonicalize().unwrap_or_else(|e| panic!("no file to upload at {}: {e}", path.display()));
        let text = abs.to_str().unwrap_or_else(|| panic!("not a UTF-8 path: {}", abs.display())).to_owned();
        self.retry(&format!("cannot set the file of `{css}`"), || async {
            let el = self.try_find(css).await?;
            self.cmd(Method::POST, &format!("/element/{}/value", el.0), Some(json!({ "text": text }))).await.map(drop)
        })
        .await;
    }

    /// Presses and releases `key` (a character or a key code such as [`Browser::TAB`]) on the
    /// keyboard, as real input events to whatever has the focus.
    pub async fn press(&self, key: &str) {
        let actions = json!({ "actions": [{
            "type": "key",
            "id": "keyboard",
            "actions": [{ "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }],
        }]});
        if let Err(e) = self.cmd(Method::POST, "/actions", Some(actions)).await {
            panic!("cannot press {key:?}: {e}");
        }
    }

    /// Presses Tab: moves the focus to the next focusable element.
    pub async fn press_tab(&self) {
        self.press(Self::TAB).await;
    }

    /// The accessible label of the focused element (`document.activeElement`), as
    /// [`ACCESSIBLE_NAME_JS`] computes it. Empty when nothing (or the body) has the focus.
    pub async fn active_element_label(&self) -> String {
        let script = format!(
            "{ACCESSIBLE_NAME_JS}
            const el = document.activeElement;
            if (!el || el === document.body || el === document.documentElement) return '';
            return accessibleName(el);"
        );
        self.execute(&script, vec![]).await.as_str().unwrap_or_default().to_owned()
    }

    /// What an accessibility audit of the current page finds wrong (empty when nothing): a
    /// visible control, link, focusable element or image without an accessible name; an
    /// `aria-labelledby` naming no element; an `id` used twice; `main` without exactly one
    /// `h1`; a table without header cells; a positive `tabindex` (it breaks the tab order);
    /// no `lang` on the document.
    pub async fn accessibility_problems(&self) -> Vec<String> {
        let script = format!(
            "{ACCESSIBLE_NAME_JS}
            const problems = [];
            const shown = e => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
            const what = e => e.outerHTML.slice(0, 160);
            const named = 'input:not([type=hidden]), select, textarea, button, a[href], [tabindex], img, [role=img], [role=button]';
            for (const el of document.querySelectorAll(named)) {{
                if (shown(el) && !accessibleName(el)) problems.push('no accessible name: ' + what(el));
            }}
            for (const el of document.querySelectorAll('[aria-labelledby]')) {{
                for (const id of el.getAttribute('aria-labelledby').split(/\\s+/)) {{
                    if (!document.getElementById(id)) problems.push('aria-labelledby names no element ' + id + ': ' + what(el));
                }}
            }}
            const ids = new Map();
            for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
            for (const [id, n] of ids) if (n > 1) problems.push('id ' + id + ' is used ' + n + ' times');
            const h1 = document.querySelectorAll('main h1').length;
            if (h1 !== 1) problems.push('main has ' + h1 + ' h1 headings');
            for (const t of document.querySelectorAll('table')) {{
                if (!t.querySelector('th')) problems.push('a table without header cells: ' + what(t));
            }}
            for (const el of document.querySelectorAll('[tabindex]')) {{
                if (Number(el.getAttribute('tabindex')) > 0) problems.push('positive tabindex: ' + what(el));
            }}
            if (!document.documentElement.lang) problems.push('the document has no lang');
            return problems;"
        );
        let v = self.execute(&script, vec![]).await;
        v.as_array().map(|a| a.iter().filter_map(|p| p.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    }

    /// The visible text of the page body (empty if there is none).
    pub async fn body_text(&self) -> String {
        self.execute("return document.body ? document.body.innerText : '';", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Panics with `what`, the current URL and the start of the page's text.
    pub async fn fail(&self, what: &str) -> ! {
        panic!("{what}\n{}", self.diagnose().await)
    }

    /// The current URL and the start of the body's text, for failure messages; never panics.
    async fn diagnose(&self) -> String {
        let url = match self.cmd(Method::GET, "/url", None).await {
            Ok(v) => v.as_str().unwrap_or_default().to_owned(),
            Err(e) => format!("(unknown: {e})"),
        };
        let body = json!({ "script": "return document.body ? document.body.innerText : '';", "args": [] });
        let text = match self.cmd(Method::POST, "/execute/sync", Some(body)).await {
            Ok(v) => snippet(v.as_str().unwrap_or_default(), 800),
            Err(e) => format!("(unknown: {e})"),
        };
        format!("--- page: {url}\n--- text:\n{text}")
    }

    /// Runs `op` until it succeeds, retrying transient errors for at most [`WAIT`]; panics with
    /// `what` otherwise.
    async fn retry<T, F, Fut>(&self, what: &str, mut op: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, WdError>>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            match op().await {
                Ok(v) => return v,
                Err(e) if transient(&e) && Instant::now() < deadline => tokio::time::sleep(POLL).await,
                Err(e) => self.fail(&format!("{what}: {e}")).await,
            }
        }
    }

    async fn try_find(&self, css: &str) -> Result<Element, WdError> {
        let v = self.cmd(Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await?;
        element_of(&v).ok_or_else(|| WdError { error: "bad answer".into(), message: v.to_string() })
    }

    async fn element_text(&self, el: &Element) -> Result<String, WdError> {
        let v = self.cmd(Method::GET, &format!("/element/{}/text", el.0), None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// A command of the session: `path` is relative to `/session/{id}`.
    async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        self.request(method, &url, body, COMMAND_TIMEOUT).await
    }

    /// One WebDriver request; answers the `value` of the reply, or its error.
    async fn request(&self, method: Method, url: &str, body: Option<Value>, limit: Duration) -> Result<Value, WdError> {
        let transport = |e: reqwest::Error| WdError { error: "transport".into(), message: format!("{url}: {e}") };
        let mut req = self.http.request(method, url).timeout(limit);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let v: Value = resp.json().await.map_err(transport)?;
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(WdError {
            error: value["error"].as_str().unwrap_or("unknown error").to_owned(),
            message: value["message"].as_str().map(str::to_owned).unwrap_or_else(|| format!("HTTP {status}: {v}")),
        })
    }
}

impl Drop for Browser {
    /// Deletes the session (which closes Chromium), best effort and bounded, then ends the
    /// driver's process group and waits for the driver; the profile directory goes after.
    fn drop(&mut self) {
        if !self.session.is_empty() {
            delete_session(self.port, &self.session);
        }
        kill_group(&mut self.driver);
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// Polls ChromeDriver's `/status` until it says ready, for at most [`DRIVER_START_TIMEOUT`].
async fn wait_ready(http: &reqwest::Client, port: u16, driver: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + DRIVER_START_TIMEOUT;
    let url = format!("http://127.0.0.1:{port}/status");
    let mut last;
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        match http.get(&url).timeout(Duration::from_secs(2)).send().await {
            Ok(resp) => match resp.json::<Value>().await {
                Ok(v) if v["value"]["ready"] == json!(true) => return Ok(()),
                Ok(v) => last = v.to_string(),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(format!("not ready after {DRIVER_START_TIMEOUT:?} on port {port}; last: {last}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `DELETE /session/{id}` over a plain blocking socket (drop cannot await), at most ~10 s.
fn delete_session(port: u16, session: &str) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return };
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let req = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_ok() {
        // The driver answers once Chromium is closed; read until it hangs up (or the timeout).
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
}

/// Kills the driver's process group (the driver and any Chromium it left behind) and reaps the
/// driver.
fn kill_group(driver: &mut Child) {
    // The group's id is the driver's pid, which is not reused while the group has a member.
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", driver.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

/// The element reference in a WebDriver answer.
fn element_of(v: &Value) -> Option<Element> {
    v.get(ELEMENT_KEY).and_then(Value::as_str).map(|id| Element(id.to_owned()))
}

/// At most `max` characters of `s`, marked when cut.
fn snippet(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// JavaScript defining `accessibleName(el)`: the text of the elements its `aria-labelledby`
/// names, else its `aria-label`, else the text of its `<label>`s, else its own text (not for
/// `input`, `select`, `textarea`), `alt`, `title`, `placeholder` or value (a `<select>`'s
/// chosen option's text); whitespace collapsed. A simplified accessible-name computation: what
/// a screen reader announces for the controls the console uses.
const ACCESSIBLE_NAME_JS: &str = r#"
    function accessibleName(el) {
        const clean = s => (s || '').replace(/\s+/g, ' ').trim();
        const by = el.getAttribute('aria-labelledby');
        if (by) {
            const t = clean(by.split(/\s+/).map(id => document.getElementById(id))
                .filter(Boolean).map(e => e.textContent).join(' '));
            if (t) return t;
        }
        const aria = clean(el.getAttribute('aria-label'));
        if (aria) return aria;
        if (el.labels && el.labels.length) {
            const t = clean(Array.from(el.labels).map(l => l.textContent).join(' '));
            if (t) return t;
        }
        // A form control's own text is not its name (a <select>'s is its options).
        const own = el.matches('input, select, textarea') ? [] : [el.innerText, el.textContent];
        const value = el instanceof HTMLSelectElement ? (el.selectedOptions[0] || {}).text : el.value;
        for (const t of [...own, el.getAttribute('alt'), el.getAttribute('title'),
                         el.getAttribute('placeholder'), value]) {
            if (clean(t)) return clean(t);
        }
        return '';
    }
"#;
