//! The admin portal in a real browser: Debian's headless Chromium driven through chromedriver
//! (WebDriver, via fantoccini), against the real server on 127.0.0.1 and a real JWKS server on
//! 127.0.0.1. One browser session walks the portal the way an admin would; each step says what
//! it proves. Screenshots of the main pages (1280x800 and a phone-sized width) are saved under
//! the target directory and the path is printed.
//!
//! Without `chromium` and `chromedriver` the browser test says loudly that it was skipped,
//! unless `PORTCULLIS_REQUIRE_BROWSER=1` (CI), where a missing browser fails it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "portal_browser/fit.rs"]
mod fit;
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use portcullis_testkit::{TestKey, jwks_of};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{ADMIN_PASSWORD, IdpServer, TestServer};

// -------------------------------------------------------------------------------------------------
// Headers and redirects (plain HTTP: runs everywhere, browser or not)

#[tokio::test]
async fn portal_responses_carry_security_headers_and_redirect_to_sign_in() {
    let server = TestServer::start("sqlite").await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // `/` leads to the portal when no route with an upstream claims it.
    let root = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(root.headers()["location"], "/portal/dashboard");
    for (path, status, location) in [
        ("/portal/login", StatusCode::OK, None),
        (
            "/portal/authorization-servers",
            StatusCode::SEE_OTHER,
            Some("/portal/login?next=/portal/authorization-servers"),
        ),
        (
            "/portal/audit-log?actor=a%20b",
            StatusCode::SEE_OTHER,
            Some("/portal/login?next=/portal/audit-log%3Factor%3Da%2520b"),
        ),
        ("/portal/", StatusCode::SEE_OTHER, Some("/portal/dashboard")),
        // The whole prefix is the portal's: an unknown page is its 404, never proxied.
        ("/portal/no-such-page", StatusCode::NOT_FOUND, None),
    ] {
        let response = http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let headers = response.headers();
        assert_eq!(
            headers.get("location").map(|v| v.to_str().unwrap()),
            location,
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp} lacks {directive}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        if status != StatusCode::SEE_OTHER {
            assert_eq!(
                headers["content-type"], "text/html; charset=utf-8",
                "{path}"
            );
        }
    }

    // A hostile `next` never leaves the site: the form continues to the portal's home instead.
    let page = http
        .get(format!(
            "{}/portal/login?next=//evil.example/x",
            server.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data-next=\"/portal/dashboard\""), "{page}");

    // Embedded assets: right content type, immutable caching only under the current hash,
    // revalidation through the ETag otherwise.
    let page = http
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let css_url = page
        .split("href=\"")
        .find_map(|s| {
            s.split('"')
                .next()
                .filter(|u| u.starts_with("/portal/assets/portal.css?v="))
        })
        .expect("versioned stylesheet link")
        .to_owned();
    let css = http
        .get(format!("{}{css_url}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = css.headers()["etag"].clone();
    // The favicon is linked and served.
    let icon_url = page
        .split("<link rel=\"icon\" href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("favicon link")
        .to_owned();
    let icon = http
        .get(format!("{}{icon_url}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(icon.status(), StatusCode::OK);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let unversioned = http
        .get(format!("{}/portal/assets/portal.css", server.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unversioned.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(unversioned.headers()["cache-control"], "no-cache");
    let js = http
        .get(format!("{}/portal/assets/servers.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        http.get(format!("{}/portal/assets/nope.js", server.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // A signed-in admin whose role cannot view a category gets a 403 page, not the data.
    let admin = server.admin().await;
    let (_, role) = admin
        .post(
            "/api/v1/adminRoles",
            json!({"name": "auditor", "permissions": {"auditLogs": "view_only", "apiCredentials": "view_only"}}),
        )
        .await;
    let (status, body) = admin
        .post(
            "/api/v1/admins",
            json!({"login": "auditor", "name": "A", "roleId": role["id"], "password": "auditor-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let auditor = server.client();
    assert_eq!(
        auditor.login("auditor", "auditor-password-1").await.0,
        StatusCode::OK
    );
    let forbidden = auditor
        .raw()
        .get(format!("{}/portal/authorization-servers", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
    assert!(forbidden.headers().contains_key("content-security-policy"));
    // The 403 keeps the portal's layout (the admin's menu) and names the permission needed.
    let page = forbidden.text().await.unwrap();
    assert!(
        page.contains("id=\"main-nav\"") && page.contains("href=\"/portal/audit-log\""),
        "{page}"
    );
    assert!(page.contains("Authorization servers"), "{page}");
    let allowed = auditor
        .raw()
        .get(format!("{}/portal/audit-log", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    let html = allowed.text().await.unwrap();
    // Navigation offers only what the role may see.
    assert!(html.contains("href=\"/portal/audit-log\""));
    assert!(!html.contains("href=\"/portal/authorization-servers\""));
    assert!(
        !html.contains("href=\"/portal/token-tester\""),
        "Test a Token needs Full on API credentials (View only is not enough)"
    );
    // Neither the page nor the evaluation: the report names routes, roles and servers, and
    // each evaluation is a signature check on demand (the sandbox token's bar is Full too).
    let page = auditor
        .raw()
        .get(format!("{}/portal/token-tester", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("(Full)"));
    let evaluation = auditor
        .raw()
        .post(format!("{}/portal/token-tester/evaluate", server.base))
        .header("x-csrf-token", auditor.csrf())
        .json(&json!({"token": "a.b.c", "method": "GET", "path": "/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(evaluation.status(), StatusCode::FORBIDDEN);

    // A route with an upstream that claims `/` gets `/` (the portal keeps only its prefix).
    let upstream = support::EchoUpstream::start().await;
    let (status, body) = admin
        .post(
            "/api/v1/routes",
            json!({"name": "site", "match": {"pathPrefix": "/"},
                   "upstream": format!("http://127.0.0.1:{}", upstream.port),
                   "policy": {"credentials": ["none"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let root = http.get(format!("{}/", server.base)).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    assert!(root.text().await.unwrap().starts_with("GET / "));
    assert_eq!(upstream.hits(), 1);
    let portal = http
        .get(format!("{}/portal/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(portal.status(), StatusCode::OK);
    assert_eq!(upstream.hits(), 1, "the portal's prefix is never proxied");
    server.stop().await;
}

// -------------------------------------------------------------------------------------------------
// The browser harness

/// chromedriver on an ephemeral loopback port and a WebDriver session to a headless Chromium.
struct Browser {
    client: Client,
    driver: Child,
    base: String,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/bin"));
    dirs.push(PathBuf::from("/usr/lib/chromium"));
    names
        .iter()
        .find_map(|name| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
}

/// The browser binaries, or `None` (and a loud message) when they are missing and not required.
fn browser_programs() -> Option<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("PORTCULLIS_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find_program(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("PORTCULLIS_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_program(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        (c, d) => {
            let message = format!(
                "portal browser test needs chromium ({}) and chromedriver ({}): apt-get install chromium chromium-driver",
                if c.is_some() { "found" } else { "MISSING" },
                if d.is_some() { "found" } else { "MISSING" },
            );
            if std::env::var("PORTCULLIS_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("{message} (PORTCULLIS_REQUIRE_BROWSER=1)");
            }
            portcullis_testkit::skip::whole(&message);
            None
        }
    }
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path, base: &str) -> Browser {
        Browser::start_sized(chromium, chromedriver, base, None).await
    }

    /// A browser whose page is exactly `phone` (width, height) through Chromium's device
    /// emulation (a desktop window cannot be narrower than 500 px), or a 1280x800 window.
    async fn start_sized(
        chromium: &Path,
        chromedriver: &Path,
        base: &str,
        phone: Option<(u32, u32)>,
    ) -> Browser {
        let mut driver = Command::new(chromedriver)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // chromedriver prints the port it chose.
        let stdout = driver.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("chromedriver did not report its port");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        let mut options = json!({
                "binary": chromium.to_string_lossy(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,800", "--no-first-run", "--no-default-browser-check",
                         "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
                         format!("--user-data-dir={}", profile.path().display())],
        });
        if let Some((width, height)) = phone {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}});
        }
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("portal-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let browser = Browser {
            client,
            driver,
            base: base.to_owned(),
            shots,
            _profile: profile,
        };
        if phone.is_none() {
            browser.viewport(1280, 800).await;
        }
        browser
    }

    /// Sizes the window so the page itself (the viewport) is `width` x `height`.
    async fn viewport(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.unwrap();
        let chrome = self
            .js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
            .await;
        let dw = u32::try_from(chrome[0].as_u64().unwrap_or(0)).unwrap_or(0);
        let dh = u32::try_from(chrome[1].as_u64().unwrap_or(0)).unwrap_or(0);
        self.client
            .set_window_size(width + dw, height + dh)
            .await
            .unwrap();
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
        self.js("window.__seen = true").await;
    }

    async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls a JS boolean expression until it holds (5 s), then fails naming `what`.
    async fn until(&self, expression: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let script = format!("try {{ return !!({expression}); }} catch (e) {{ return false; }}");
        loop {
            if self.js(&script).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                self.shot("failure").await;
                panic!(
                    "timed out waiting for {what}: {expression}\npage: {}\n{}",
                    self.path().await,
                    self.js("return document.body ? document.body.innerText.slice(0, 3000) : ''")
                        .await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.until(
            &format!("document.querySelector({})", json!(css)),
            &format!("element {css}"),
        )
        .await;
        self.client.find(Locator::Css(css)).await.unwrap()
    }

    /// Clicks `css`, finding it again if the page replaced it between finding and clicking.
    async fn click(&self, css: &str) {
        for _ in 0..20 {
            match self.find(css).await.click().await {
                Ok(()) => return,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("clicking {css} failed: {e}"),
            }
        }
        panic!("{css} kept going stale");
    }

    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.js(&format!(
            "return document.querySelector({}).textContent.trim()",
            json!(css)
        ))
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    async fn enabled(&self, css: &str) -> bool {
        self.find(css).await.is_enabled().await.unwrap()
    }

    /// Waits until the page shows the flash message a change leaves after its reload. The page
    /// that was there before is marked, so an earlier flash with the same text on the old page
    /// never counts.
    async fn flash(&self, text: &str) {
        self.until(
            &format!(
                "!window.__seen && !document.getElementById('flash').hidden && document.getElementById('flash').textContent.includes({})",
                json!(text)
            ),
            &format!("flash \"{text}\""),
        )
        .await;
        self.js("window.__seen = true").await;
    }

    async fn shot(&self, name: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(self.shots.join(format!("{name}.png")), png);
        }
    }

    /// Clicks the row action `action` of the servers table row named `name` (opening the row's
    /// Actions menu first).
    async fn row_action(&self, name: &str, action: &str) {
        self.click(&format!(
            "#servers-table tr[data-name=\"{name}\"] details.row-menu > summary"
        ))
        .await;
        self.click(&format!(
            "#servers-table tr[data-name=\"{name}\"] button[data-action=\"{action}\"]"
        ))
        .await;
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed assertion unwinds without `close`: never leave chromedriver running.
        let _ = self.driver.kill();
    }
}

/// The visible data columns of the servers table, in order.
const VISIBLE_COLUMNS: &str = "return Array.from(document.querySelectorAll('#servers-table thead th[data-col]')).filter(th => !th.hidden).map(th => th.dataset.col)";
/// The server names in table order (visible rows only).
const ROW_NAMES: &str = "return Array.from(document.querySelectorAll('#servers-table tbody tr')).filter(r => !r.hidden).map(r => r.dataset.name)";

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

// -------------------------------------------------------------------------------------------------
// The walk through the portal

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        return;
    };
    let started = Instant::now();
    let server = TestServer::start("sqlite").await;
    let api = server.admin().await;
    let idp = IdpServer::start().await;
    let signing = TestKey::ec("k1", "ES256");
    let encryption = TestKey::ec("enc-1", "ES256");
    idp.serve(
        "/keys",
        200,
        &jwks_of(vec![
            signing.jwk(),
            encryption.jwk_with("use", json!("enc")),
        ])
        .to_string(),
    );
    idp.serve(
        "/enc-only",
        200,
        &jwks_of(vec![encryption.jwk_with("use", json!("enc"))]).to_string(),
    );
    let b = Browser::start(&chromium, &chromedriver, &server.base).await;
    println!("portal screenshots: {}", b.shots.display());

    // --- Without a session every page sends the browser to the sign-in page, and back after.
    b.go("/portal/authorization-servers").await;
    b.find("#login-form").await;
    assert_eq!(
        b.path().await,
        "/portal/login?next=/portal/authorization-servers"
    );
    b.shot("login").await;

    // --- Lockout: five wrong passwords within a minute lock the admin for five minutes, and
    // then even the right password is refused (the API's rule, shown by the sign-in page).
    let (status, _) = api
        .post(
            "/api/v1/admins",
            json!({"login": "locky", "name": "Locky", "roleId": super_admin_role(&api).await,
                   "password": "locky-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for attempt in 1..=5 {
        b.type_into("#login", "locky").await;
        b.type_into("#password", &format!("wrong-{attempt}")).await;
        b.click("#login-submit").await;
        b.until(
            "!document.getElementById('login-error').hidden && document.getElementById('login-error').textContent.includes('Wrong login or password') && !document.getElementById('login-submit').disabled",
            "wrong-password message",
        )
        .await;
        b.js("document.getElementById('login-error').hidden = true")
            .await;
    }
    b.type_into("#login", "locky").await;
    b.type_into("#password", "locky-password-1").await;
    b.click("#login-submit").await;
    b.until(
        "document.getElementById('login-error').textContent.includes('Too many failed sign-ins')",
        "lockout message",
    )
    .await;
    assert!(b.path().await.starts_with("/portal/login"));
    b.shot("login-locked").await;
    assert_eq!(
        server.client().login("locky", "locky-password-1").await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "the API enforces the same lock"
    );

    // --- Sign in; land on the page asked for, with its navigation entry marked current.
    b.type_into("#login", "admin").await;
    b.type_into("#password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    b.find("#servers-table").await;
    assert_eq!(b.path().await, "/portal/authorization-servers");
    assert_eq!(
        b.text("nav a[aria-current=page]").await,
        "Authorization Servers"
    );
    assert_eq!(
        b.text("#api-base-url").await,
        format!("{}/api/v1", server.base),
        "the cloud service API base URL from /api/v1/status"
    );
    b.shot("servers-empty").await;
    b.click("#copy-api-base").await;
    b.until(
        "['Copied.', 'Selected: press Ctrl+C to copy.'].includes(document.getElementById('copy-status').textContent)",
        "copy feedback",
    )
    .await;

    // --- Discovery: Validate with a metadata URL reports the issuer it found and offers it.
    idp.serve(
        "/.well-known/openid-configuration",
        200,
        &json!({"issuer": idp.base, "jwks_uri": idp.url("/keys")}).to_string(),
    );
    b.click("#add-server").await;
    b.until(
        "document.getElementById('server-dialog').open",
        "add dialog",
    )
    .await;
    b.type_into(
        "#f-metadataUrl",
        &idp.url("/.well-known/openid-configuration"),
    )
    .await;
    b.click("#validate-button").await;
    b.until(
        "document.getElementById('validate-summary') && document.getElementById('validate-summary').textContent.includes('✓')",
        "validation through discovery",
    )
    .await;
    assert!(b.text("#validate-report").await.contains(&idp.base));
    b.click("#validate-report button").await;
    assert_eq!(
        b.js("return document.getElementById('f-issuer').value")
            .await,
        json!(idp.base),
        "Use as issuer fills the field"
    );
    assert!(b.enabled("#server-save").await);
    // Typed input is not thrown away silently: Esc and Cancel ask first; keeping it keeps the
    // dialog open with what was typed.
    b.find("#f-issuer")
        .await
        .send_keys(&fantoccini::key::Key::Escape.to_string())
        .await
        .unwrap();
    b.until(
        "document.getElementById('confirm-dialog').open && document.getElementById('server-dialog').open",
        "the discard question after Esc",
    )
    .await;
    b.click("#confirm-cancel").await;
    b.until(
        "!document.getElementById('confirm-dialog').open && document.getElementById('server-dialog').open",
        "the kept dialog",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('f-issuer').value")
            .await,
        json!(idp.base)
    );
    b.click("#server-cancel").await;
    b.until(
        "document.getElementById('confirm-dialog').open && document.getElementById('server-dialog').open",
        "the discard question",
    )
    .await;
    assert_eq!(b.text("#confirm-ok").await, "Discard changes");
    b.click("#confirm-ok").await;
    b.until(
        "!document.getElementById('server-dialog').open",
        "the discarded dialog",
    )
    .await;

    // --- Add a server against the real JWKS: Save stays disabled until the key location
    // validated; a bad location and a changed location disable it again.
    b.click("#add-server").await;
    b.until(
        "document.getElementById('server-dialog').open",
        "add dialog",
    )
    .await;
    assert!(!b.enabled("#server-save").await, "Save before Validate");
    // The preset picker fills the vendor's defaults.
    b.click("#f-preset option[value=okta]").await;
    assert_eq!(
        b.js("return document.getElementById('f-scopeClaims').value")
            .await,
        "scp"
    );
    assert_eq!(
        b.js("return Array.from(document.querySelectorAll('input[name=allowedAlgs]:checked')).map(b => b.value)").await,
        json!(["RS256"])
    );
    b.click("#f-preset option[value=generic]").await;
    assert_eq!(
        b.js("return document.querySelectorAll('input[name=allowedAlgs]:checked').length")
            .await,
        json!(10)
    );
    b.type_into("#f-name", "bad name").await;
    // The rarely needed settings wait under Advanced.
    assert!(!b.find("#f-description").await.is_displayed().await.unwrap());
    b.click("#server-advanced > summary").await;
    b.type_into("#f-description", "Terraform and CI clients")
        .await;
    b.type_into("#f-jwksUri", &idp.url("/enc-only")).await;
    b.click("#validate-button").await;
    b.until(
        "document.getElementById('validate-summary') && document.getElementById('validate-summary').textContent.includes('✗')",
        "a failed validation",
    )
    .await;
    assert!(!b.enabled("#server-save").await, "no usable key: no Save");
    assert!(
        b.text("#save-reason")
            .await
            .contains("no usable signing key"),
        "a disabled Save says why"
    );
    assert!(
        b.find("#server-save-anyway")
            .await
            .is_displayed()
            .await
            .unwrap(),
        "saving without keys is offered"
    );
    assert!(
        b.text("#ignored-keys tbody").await.contains("enc-1"),
        "the ignored key is listed with its reason"
    );
    b.type_into("#f-jwksUri", &idp.url("/keys")).await;
    assert!(
        !b.enabled("#server-save").await,
        "a new location needs Validate"
    );
    b.click("#validate-button").await;
    b.until(
        "document.getElementById('validate-summary') && document.getElementById('validate-summary').textContent.includes('✓ 1 usable signing key, 1 ignored')",
        "a successful validation",
    )
    .await;
    assert_eq!(b.text("#usable-keys tbody td").await, "k1");
    let ignored_reason = b.text("#ignored-keys tbody td:last-child").await;
    assert!(!ignored_reason.is_empty(), "ignored keys carry a reason");
    assert!(b.enabled("#server-save").await, "validated: Save enabled");
    b.shot("server-dialog-validated").await;
    // Editing the URL disables Save again; putting it back needs no new fetch to be judged,
    // but the rule is simple: the validated location must be the one in the form.
    b.find("#f-jwksUri").await.send_keys("x").await.unwrap();
    assert!(
        !b.enabled("#server-save").await,
        "changed URL disables Save"
    );
    b.type_into("#f-jwksUri", &idp.url("/keys")).await;
    assert!(
        b.enabled("#server-save").await,
        "same location as validated"
    );
    // No audience and no client id: a visible warning, gone once an audience is given.
    assert!(
        b.find("#audience-warning")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    // The API's field error shows next to the field it names.
    b.click("#server-save").await;
    b.until(
        "document.getElementById('err-name').textContent.length > 0",
        "name error",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('f-name').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    b.shot("server-dialog-field-error").await;
    b.type_into("#f-name", "okta-prod").await;
    b.type_into("#f-issuer", "https://idp.example.com/oauth2/default")
        .await;
    b.type_into("#f-audiences", "api://portcullis").await;
    assert!(
        !b.find("#audience-warning")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    b.click("#server-save").await;
    b.flash("Added okta-prod.").await;
    let status = b
        .text("#servers-table tr[data-name=okta-prod] td[data-col=status]")
        .await;
    assert!(
        status.contains("Enabled") && status.contains("Keys fresh"),
        "{status}"
    );
    b.shot("servers").await;
    // The name leads to the server's page: its settings and the keys in use.
    b.click("#servers-table tr[data-name=okta-prod] a.server-name")
        .await;
    b.find("#server-keys").await;
    assert_eq!(b.text("#server-name").await, "okta-prod");
    assert!(b.text("#server-keys tbody").await.contains("k1"));
    assert!(
        b.text("#server-settings")
            .await
            .contains("api://portcullis")
    );
    b.shot("server-page").await;
    b.go("/portal/authorization-servers").await;
    b.find("#servers-table").await;

    // --- XSS: markup in a description is shown as text and never runs (escaped by the
    // template; the CSP would also block inline handlers, so the test checks the DOM itself).
    let xss = r#"<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"#;
    let (status, created) = api
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "xss-test", "description": xss, "jwksUri": idp.url("/keys")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let xss_id = created["id"].as_str().unwrap().to_owned();
    b.go("/portal/authorization-servers").await;
    b.find("#servers-table tr[data-name=xss-test]").await;
    assert_eq!(
        b.text("#servers-table tr[data-name=xss-test] td[data-col=description]")
            .await,
        xss
    );
    assert_eq!(b.js("return typeof window.__xss").await, "undefined");
    assert_eq!(
        b.js(
            "return document.querySelectorAll('#servers-table img, #servers-table script').length"
        )
        .await,
        json!(0)
    );
    // A server with neither audience nor client id carries the warning in the table.
    assert!(
        b.text("#servers-table tr[data-name=xss-test] td[data-col=name]")
            .await
            .contains("No audience and no client ID")
    );
    b.row_action("xss-test", "edit").await;
    b.until(
        "document.getElementById('server-dialog').open && document.getElementById('f-name').value === 'xss-test'",
        "edit dialog of xss-test",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('f-description').value")
            .await,
        xss
    );
    b.click("#server-cancel").await;
    assert_eq!(b.js("return typeof window.__xss").await, "undefined");

    // --- Edit: the saved key location needs no new Validate; the change shows after saving.
    b.row_action("okta-prod", "edit").await;
    b.until(
        "document.getElementById('server-dialog').open && document.getElementById('f-name').value === 'okta-prod'",
        "edit dialog of okta-prod",
    )
    .await;
    assert!(b.enabled("#server-save").await);
    b.click("#server-advanced > summary").await;
    b.type_into("#f-description", "Edited in the browser").await;
    b.click("#server-save").await;
    b.flash("Saved okta-prod.").await;
    assert_eq!(
        b.text("#servers-table tr[data-name=okta-prod] td[data-col=description]")
            .await,
        "Edited in the browser"
    );

    // --- Refresh keys now.
    b.row_action("okta-prod", "refresh").await;
    b.flash("Refreshed the keys of okta-prod: 1 usable.").await;
    // The server's page shows the fetch in its history and when its key was first seen.
    b.click("#servers-table tr[data-name=okta-prod] a.server-name")
        .await;
    b.find("#server-fetches").await;
    assert!(
        b.text("#server-fetches tbody")
            .await
            .contains("Keys fetched")
    );
    assert!(!b.text("#server-keys tbody").await.contains("never"));
    b.go("/portal/authorization-servers").await;
    b.find("#servers-table").await;
    // The IdP fails: the last good keys stay in use, the row says the keys are stale and shows
    // the error.
    idp.serve("/keys", 500, "{}");
    b.row_action("okta-prod", "refresh").await;
    b.flash("Key refresh for okta-prod failed").await;
    let status = b
        .text("#servers-table tr[data-name=okta-prod] td[data-col=status]")
        .await;
    assert!(
        status.contains("Keys stale")
            && status.contains("answered with an error")
            && status.contains("stay in use until"),
        "{status}"
    );
    assert!(
        b.text("#servers-table tr[data-name=okta-prod] td[data-col=lastFetch]")
            .await
            .contains("stale")
    );
    b.shot("servers-key-failure").await;
    idp.serve(
        "/keys",
        200,
        &jwks_of(vec![
            signing.jwk(),
            encryption.jwk_with("use", json!("enc")),
        ])
        .to_string(),
    );

    // --- Disable (PUT with the version the page showed), after a confirmation naming what
    // stops working.
    b.row_action("okta-prod", "toggle").await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "the disable confirmation",
    )
    .await;
    assert!(b.text("#confirm-message").await.contains("rejected"));
    b.click("#confirm-ok").await;
    b.flash("Disabled okta-prod.").await;
    assert!(
        b.text("#servers-table tr[data-name=okta-prod] td[data-col=status]")
            .await
            .contains("Disabled")
    );
    let okta_id = b
        .js("return document.querySelector('#servers-table tr[data-name=okta-prod]').dataset.id")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    let (_, current) = api
        .get(&format!("/api/v1/authorizationServers/{okta_id}"))
        .await;
    assert_eq!(current["enabled"], json!(false));

    // --- A change made elsewhere after the page loaded: enabling from the stale page is a 409,
    // shown with a Reload button, and changes nothing.
    let mut elsewhere = current.clone();
    elsewhere["description"] = json!("changed elsewhere");
    let (status, _) = api
        .put(
            &format!("/api/v1/authorizationServers/{okta_id}"),
            elsewhere,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    b.row_action("okta-prod", "toggle").await;
    b.until(
        "!document.getElementById('alert').hidden && document.getElementById('alert-text').textContent.includes('Conflict')",
        "the conflict message",
    )
    .await;
    assert!(b.find("#alert-reload").await.is_displayed().await.unwrap());
    b.shot("servers-conflict").await;
    let (_, after) = api
        .get(&format!("/api/v1/authorizationServers/{okta_id}"))
        .await;
    assert_eq!(
        after["enabled"],
        json!(false),
        "the stale toggle changed nothing"
    );
    b.click("#alert-reload").await;
    b.until(
        "document.querySelector('#servers-table tr[data-name=okta-prod] td[data-col=description]').textContent.includes('changed elsewhere')",
        "the reloaded page",
    )
    .await;

    // --- Columns: show/hide and move with the keyboard alternative in the chooser, drag a
    // header, resize with the keyboard, sort by a header button; all survive a reload.
    b.click("#columns-button").await;
    b.until(
        "document.getElementById('columns-dialog').open",
        "columns dialog",
    )
    .await;
    b.click("#col-issuer").await;
    b.click("#col-keys").await;
    b.click("#col-description").await;
    b.click("#columns-list button[aria-label='Move Status left']")
        .await;
    assert_eq!(
        b.js("return document.activeElement.getAttribute('aria-label')")
            .await,
        "Move Status right",
        "focus stays on the moved column's controls"
    );
    b.shot("columns-dialog").await;
    b.click("#columns-close").await;
    assert_eq!(
        strings(&b.js(VISIBLE_COLUMNS).await),
        ["status", "name", "lastFetch", "issuer", "keys"]
    );
    b.js(r#"
        const src = document.querySelector('#servers-table th[data-col=keys]');
        const dst = document.querySelector('#servers-table th[data-col=status]');
        const dt = new DataTransfer();
        src.dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true}));
        dst.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
        dst.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
        src.dispatchEvent(new DragEvent('dragend', {dataTransfer: dt, bubbles: true}));
    "#)
    .await;
    assert_eq!(
        strings(&b.js(VISIBLE_COLUMNS).await),
        ["keys", "status", "name", "lastFetch", "issuer"],
        "dragging Keys onto Status puts it before"
    );
    let width_before = b
        .js("return document.querySelector('#servers-table th[data-col=name]').getBoundingClientRect().width")
        .await
        .as_f64()
        .unwrap();
    let handle = b.find("#servers-table th[data-col=name] .resize").await;
    handle
        .send_keys(&fantoccini::key::Key::Right.to_string())
        .await
        .unwrap();
    let name_sort = "#servers-table th[data-col=name] .sort";
    b.click(name_sort).await;
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["okta-prod", "xss-test"]);
    // The second press comes from the keyboard: the header buttons are real buttons.
    b.find(name_sort)
        .await
        .send_keys(&fantoccini::key::Key::Enter.to_string())
        .await
        .unwrap();
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["xss-test", "okta-prod"]);
    b.client.refresh().await.unwrap();
    b.find("#servers-table").await;
    assert_eq!(
        strings(&b.js(VISIBLE_COLUMNS).await),
        ["keys", "status", "name", "lastFetch", "issuer"],
        "order and visibility survive a reload"
    );
    assert_eq!(
        b.js("return document.querySelector('#servers-table th[data-col=name]').getAttribute('aria-sort')").await,
        "descending"
    );
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["xss-test", "okta-prod"]);
    let width_after = b
        .js("return document.querySelector('#servers-table th[data-col=name]').getBoundingClientRect().width")
        .await
        .as_f64()
        .unwrap();
    assert!(
        width_after >= width_before + 15.0,
        "the keyboard resize survives a reload: {width_before} -> {width_after}"
    );
    b.shot("servers-customised").await;
    // The search also looks in hidden columns (Audience is hidden).
    b.type_into("#server-search", "api://portcullis").await;
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["okta-prod"]);
    assert_eq!(b.text("#row-count").await, "1 of 2 servers");
    b.type_into("#server-search", "no-such-thing").await;
    assert!(b.find("#no-matches").await.is_displayed().await.unwrap());
    // At least one column stays visible: hiding all but one disables the last checkbox.
    b.click("#columns-button").await;
    for col in ["keys", "status", "lastFetch", "issuer"] {
        b.click(&format!("#col-{col}")).await;
    }
    assert_eq!(strings(&b.js(VISIBLE_COLUMNS).await), ["name"]);
    assert!(
        !b.enabled("#col-name").await,
        "the last visible column cannot be hidden"
    );
    b.click("#columns-close").await;
    // Reset: the default columns, no sort, the search cleared; and it stays so after a reload.
    b.click("#reset-table").await;
    let defaults = ["name", "status", "description", "lastFetch"];
    assert_eq!(strings(&b.js(VISIBLE_COLUMNS).await), defaults);
    assert_eq!(
        b.js("return document.querySelectorAll('#servers-table th[aria-sort]').length")
            .await,
        json!(0)
    );
    b.client.refresh().await.unwrap();
    b.find("#servers-table").await;
    assert_eq!(strings(&b.js(VISIBLE_COLUMNS).await), defaults);
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["okta-prod", "xss-test"]);

    // --- Delete asks first, naming the server; Cancel keeps it.
    b.row_action("xss-test", "delete").await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    assert!(
        b.text("#confirm-message").await.contains("“xss-test”"),
        "the confirmation names the server"
    );
    b.shot("server-delete-confirm").await;
    b.click("#confirm-cancel").await;
    b.until(
        "!document.getElementById('confirm-dialog').open",
        "cancelled confirmation",
    )
    .await;
    assert_eq!(
        api.get(&format!("/api/v1/authorizationServers/{xss_id}"))
            .await
            .0,
        StatusCode::OK
    );
    b.row_action("xss-test", "delete").await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    b.click("#confirm-ok").await;
    b.flash("Deleted xss-test.").await;
    assert_eq!(strings(&b.js(ROW_NAMES).await), ["okta-prod"]);
    assert_eq!(
        api.get(&format!("/api/v1/authorizationServers/{xss_id}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // --- CSRF: a script in the signed-in browser that does not send the session's token (or
    // sends a wrong one) is refused with 403 and changes nothing.
    let statuses = b
        .client
        .execute_async(
            r#"
            const done = arguments[arguments.length - 1];
            const id = arguments[0];
            (async () => {
                const out = [];
                for (const token of [null, 'wrong-token']) {
                    const headers = {'Content-Type': 'application/json'};
                    if (token) headers['X-CSRF-Token'] = token;
                    const create = await fetch('/api/v1/apiRoles', {method: 'POST', headers,
                        credentials: 'same-origin', body: JSON.stringify({name: 'csrf-evil'})});
                    out.push(create.status);
                    const del = await fetch('/api/v1/authorizationServers/' + id,
                        {method: 'DELETE', headers, credentials: 'same-origin'});
                    out.push(del.status);
                }
                done(out);
            })();
            "#,
            vec![json!(okta_id)],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([403, 403, 403, 403]));
    let (_, roles) = api.get("/api/v1/apiRoles").await;
    assert!(roles["items"].as_array().unwrap().is_empty(), "{roles}");
    assert_eq!(
        api.get(&format!("/api/v1/authorizationServers/{okta_id}"))
            .await
            .0,
        StatusCode::OK
    );

    // --- API roles: a role added in the permissions grid dialog shows in the grid.
    b.go("/portal/api-roles").await;
    assert_eq!(b.text("nav a[aria-current=page]").await, "API Roles");
    b.click("#add-role").await;
    b.until("document.getElementById('role-dialog').open", "role dialog")
        .await;
    b.type_into("#r-name", "automation").await;
    b.click("input[name='perm-authorizationServers'][value=full]")
        .await;
    b.click("input[name='perm-auditLogs'][value=view_only]")
        .await;
    b.click("#role-save").await;
    b.flash("Saved API role automation.").await;
    let grid = "#roles-table tr[data-name=automation]";
    assert_eq!(
        b.js(&format!(
            "return Array.from(document.querySelectorAll('{grid} td[data-category]')).map(td => td.dataset.category + '=' + td.dataset.access)"
        ))
        .await,
        json!(["authorizationServers=full", "apiRoles=none", "apiCredentials=none",
               "routes=none", "auditLogs=view_only", "admins=none"])
    );
    b.click(&format!("{grid} button[data-action=edit]")).await;
    b.until(
        "document.getElementById('role-dialog').open && document.getElementById('r-name').value === 'automation'",
        "role edit dialog",
    )
    .await;
    b.until(
        "document.querySelector(\"input[name='perm-auditLogs']:checked\").value === 'view_only'",
        "the role's saved permissions in the dialog",
    )
    .await;
    b.click("input[name='perm-routes'][value=view_only]").await;
    b.click("#role-save").await;
    b.flash("Saved API role automation.").await;
    assert_eq!(
        b.js(&format!(
            "return document.querySelector('{grid} td[data-category=routes]').dataset.access"
        ))
        .await,
        "view_only"
    );
    b.shot("api-roles").await;

    // --- Routes: a claim-rules text that is not JSON and a path the API refuses are both
    // reported next to their fields; the corrected route is listed.
    b.go("/portal/routes").await;
    b.click("#add-route").await;
    b.until(
        "document.getElementById('route-dialog').open",
        "route dialog",
    )
    .await;
    b.type_into("#rt-name", "orders").await;
    b.type_into("#rt-path", "orders").await;
    b.type_into("#rt-claims", "[{not json").await;
    b.click("#route-save").await;
    b.until(
        "document.getElementById('err-claims').textContent.includes('not valid JSON')",
        "claim rules error",
    )
    .await;
    b.type_into(
        "#rt-claims",
        r#"[{"path": "tid", "op": "equals", "value": "72f988bf"}]"#,
    )
    .await;
    b.type_into("#rt-allOf", "orders:read").await;
    b.click("input[name=servers][value=okta-prod]").await;
    b.click("#route-save").await;
    b.until(
        "document.getElementById('err-match').textContent.length > 0",
        "path error from the API",
    )
    .await;
    b.shot("route-dialog-error").await;
    b.type_into("#rt-path", "/orders").await;
    b.click("#route-save").await;
    b.flash("Saved route orders.").await;
    let route_row = b.text("#routes-table tr[data-name=orders]").await;
    assert!(
        route_row.contains("/orders")
            && route_row.contains("orders:read")
            && route_row.contains("72f988bf"),
        "{route_row}"
    );
    b.shot("routes").await;

    // --- Admins and admin roles render (locky shows as locked).
    b.go("/portal/admins").await;
    assert!(
        b.text("#admins-table tr[data-login=locky]")
            .await
            .contains("Locked until")
    );
    b.shot("admins").await;
    b.go("/portal/admin-roles").await;
    assert!(b.text("#roles-table").await.contains("Super Admin"));
    b.shot("admin-roles").await;

    // --- Audit log: the portal's changes, recorded as "Admin UI", with before/after diffs;
    // filters and the CSV link follow the form.
    b.go("/portal/audit-log?resource=okta-prod").await;
    let column = |field: &str| {
        format!(
            "return Array.from(document.querySelectorAll('#audit-table tbody td[data-field={field}]')).map(td => td.textContent.trim())"
        )
    };
    let actions = strings(&b.js(&column("action")).await);
    assert_eq!(
        actions,
        ["update", "disable", "update", "create"],
        "newest first"
    );
    assert_eq!(
        strings(&b.js(&column("interface")).await),
        ["API", "Admin UI", "Admin UI", "Admin UI"]
    );
    let diffs = b.text("#audit-table").await;
    assert!(
        diffs.contains("Edited in the browser") && diffs.contains("changed elsewhere"),
        "{diffs}"
    );
    let csv = b
        .js("return document.getElementById('csv-download').getAttribute('href')")
        .await;
    assert_eq!(csv, "/api/v1/auditLogs.csv?resource=okta-prod");
    b.click("#q-interface option[value='Admin UI']").await;
    b.click("#audit-filters button[type=submit]").await;
    b.until(
        "location.search.includes('interface=Admin+UI')",
        "filtered audit page",
    )
    .await;
    assert_eq!(
        strings(&b.js(&column("action")).await),
        ["disable", "update", "create"]
    );
    b.js("document.querySelectorAll('#audit-table details').forEach(d => d.open = true)")
        .await;
    b.shot("audit-log").await;
    b.go("/portal/audit-log?category=apiRoles").await;
    assert_eq!(
        strings(&b.js(&column("action")).await),
        ["update", "create"]
    );
    assert_eq!(
        strings(&b.js(&column("resource")).await),
        ["automation", "automation"]
    );
    b.go("/portal/audit-log?action=sign_in&result=failure&actor=locky")
        .await;
    assert_eq!(strings(&b.js(&column("result")).await).len(), 7);

    // --- Cloud Service API Key tab: add (a too-short key is refused next to the field, then a
    // random one), masked after a reload and revealed on demand, edit, regenerate, delete.
    b.go("/portal/credentials/api-key").await;
    assert_eq!(
        b.text(".tabs a[aria-current=page]").await,
        "Cloud Service API Key"
    );
    b.until(
        "!document.getElementById('api-key-none').hidden",
        "the no-key state",
    )
    .await;
    b.type_into("#k-new", "short").await;
    b.click("#api-key-add button[type=submit]").await;
    b.until(
        "document.getElementById('err-k-new').textContent.length > 0",
        "the key's field error",
    )
    .await;
    b.find("#k-new").await.clear().await.unwrap();
    b.click("#api-key-add button[type=submit]").await;
    b.until(
        "!document.getElementById('api-key-present').hidden && /^[A-Za-z0-9]{12}$/.test(document.getElementById('api-key-value').textContent)",
        "the new key in full",
    )
    .await;
    let first_key = b.text("#api-key-value").await;
    let (_, stored) = api.get("/api/v1/apiKey").await;
    assert!(
        stored["apiKey"]
            .as_str()
            .unwrap()
            .ends_with(&first_key[10..]),
        "{stored}"
    );
    b.client.refresh().await.unwrap();
    b.until(
        "document.getElementById('api-key-value').textContent.startsWith('*')",
        "the masked key after a reload",
    )
    .await;
    assert_eq!(b.text("#api-key-by").await, "admin");
    b.click("#api-key-reveal").await;
    b.until(
        &format!(
            "document.getElementById('api-key-value').textContent === {}",
            json!(first_key)
        ),
        "the revealed key",
    )
    .await;
    b.type_into("#k-edit", &first_key).await;
    b.click("#api-key-edit button[type=submit]").await;
    b.until(
        "document.getElementById('err-k-edit').textContent.includes('differ')",
        "the must-differ error",
    )
    .await;
    b.type_into("#k-edit", "AbCdEf123456").await;
    b.click("#api-key-edit button[type=submit]").await;
    b.until(
        "document.getElementById('api-key-value').textContent === 'AbCdEf123456'",
        "the edited key",
    )
    .await;
    b.click("#api-key-regenerate").await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    b.click("#confirm-ok").await;
    b.until(
        "/^[A-Za-z0-9]{12}$/.test(document.getElementById('api-key-value').textContent) && document.getElementById('api-key-value').textContent !== 'AbCdEf123456'",
        "the regenerated key",
    )
    .await;
    b.shot("api-key").await;
    b.click("#api-key-delete").await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    b.click("#confirm-ok").await;
    b.flash("Deleted the Cloud Service API Key.").await;
    b.until(
        "!document.getElementById('api-key-none').hidden",
        "the no-key state again",
    )
    .await;
    assert_eq!(api.get("/api/v1/apiKey").await.0, StatusCode::NOT_FOUND);

    // --- Sandbox API Token tab: a new token is shown once (masked until revealed), listed by
    // its hint; rename, regenerate and delete.
    b.go("/portal/credentials/sandbox-tokens").await;
    b.until(
        "document.getElementById('sandbox-count').textContent === '0 of 5 tokens'",
        "the empty token list",
    )
    .await;
    b.type_into("#t-name", "dev-laptop").await;
    b.click("#sandbox-add button[type=submit]").await;
    b.until(
        "!document.getElementById('new-token').hidden && document.querySelector('#sandbox-table tr[data-name=dev-laptop]')",
        "the new token",
    )
    .await;
    let masked = b.text("#new-token-value").await;
    b.click("#new-token-reveal").await;
    let sandbox_token = b.text("#new-token-value").await;
    assert!(
        masked.contains('•') && masked != sandbox_token,
        "masked until revealed: {masked}"
    );
    assert!(
        sandbox_token.starts_with("pcs_") && sandbox_token.len() >= 32,
        "{sandbox_token}"
    );
    let listed = b.text("#sandbox-table tr[data-name=dev-laptop]").await;
    assert!(
        listed.contains(&sandbox_token[sandbox_token.len() - 4..])
            && !listed.contains(&sandbox_token),
        "the list shows only the hint: {listed}"
    );
    b.shot("sandbox-tokens").await;

    // --- Test a token: the sandbox API's evaluation of a real token from the real IdP's key.
    let (status, _) = api
        .put(&format!("/api/v1/authorizationServers/{okta_id}"), {
            let (_, mut current) = api
                .get(&format!("/api/v1/authorizationServers/{okta_id}"))
                .await;
            current["enabled"] = json!(true);
            current
        })
        .await;
    assert_eq!(status, StatusCode::OK);
    let now = portcullis_testkit::now();
    let token = signing.sign(&json!({
        "iss": "https://idp.example.com/oauth2/default", "sub": "svc-1", "aud": "api://portcullis",
        "client_id": "cli-1", "iat": now, "exp": now + 600,
        "scope": format!("portcullis.local::{}::automation", server.org),
    }));
    // On the Super Admin's own session: no sandbox token needed.
    b.go("/portal/token-tester").await;
    assert_eq!(
        b.js("return document.getElementById('tt-sandbox')").await,
        Value::Null
    );
    b.type_into("#tt-token", &token).await;
    b.click("#tester-submit").await;
    b.until(
        "!document.getElementById('tester-result').hidden",
        "the evaluation",
    )
    .await;
    assert!(
        b.text("#tester-verdict").await.starts_with("✓ Allowed"),
        "{}",
        b.text("#tester-verdict").await
    );
    assert!(b.text("#tester-summary").await.contains("okta-prod"));
    assert!(
        b.text("#tester-token-state").await.starts_with("✓ Valid"),
        "{}",
        b.text("#tester-token-state").await
    );
    assert!(
        b.text("#tester-summary").await.contains(" UTC (in "),
        "readable times: {}",
        b.text("#tester-summary").await
    );
    assert!(b.text("#tester-authorization").await.contains("automation"));
    assert!(
        b.js("return document.querySelectorAll('#tester-steps .trace-step[data-outcome=pass]').length > 3")
            .await
            == json!(true)
    );
    b.shot("token-tester").await;
    // The same token for a route request that its claims do not satisfy.
    b.type_into("#tt-path", "/orders/1").await;
    b.click("#tester-submit").await;
    b.until(
        "document.getElementById('tester-verdict').textContent.startsWith('✗ Denied')",
        "the route denial",
    )
    .await;
    assert!(b.text("#tester-authorization").await.contains("orders"));
    assert!(
        b.text("#tester-token-state").await.starts_with("✓ Valid"),
        "a valid token denied by a route is still shown as valid"
    );
    // The pasted token and request survive a visit to another page.
    b.go("/portal/credentials/sandbox-tokens").await;
    b.go("/portal/token-tester").await;
    assert_eq!(
        b.js("return document.getElementById('tt-token').value")
            .await,
        json!(token)
    );
    assert_eq!(
        b.js("return document.getElementById('tt-path').value")
            .await,
        json!("/orders/1")
    );

    b.go("/portal/credentials/sandbox-tokens").await;
    b.click("#sandbox-table tr[data-name=dev-laptop] button[data-action=rename]")
        .await;
    b.until(
        "document.getElementById('rename-dialog').open",
        "rename dialog",
    )
    .await;
    b.type_into("#rn-name", "ci-runner").await;
    b.click("#rename-form button[type=submit]").await;
    b.flash("Renamed the sandbox token to ci-runner.").await;
    b.click("#sandbox-table tr[data-name=ci-runner] button[data-action=regenerate]")
        .await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    b.click("#confirm-ok").await;
    b.until(
        "!document.getElementById('new-token').hidden",
        "the regenerated token",
    )
    .await;
    b.click("#new-token-reveal").await;
    assert_ne!(b.text("#new-token-value").await, sandbox_token);
    b.click("#sandbox-table tr[data-name=ci-runner] button[data-action=delete]")
        .await;
    b.until(
        "document.getElementById('confirm-dialog').open",
        "confirmation",
    )
    .await;
    assert!(b.text("#confirm-message").await.contains("“ci-runner”"));
    b.click("#confirm-ok").await;
    b.flash("Deleted the sandbox token ci-runner.").await;
    let (_, tokens) = api.get("/api/v1/sandboxTokens").await;
    assert!(tokens["items"].as_array().unwrap().is_empty());

    // --- The dashboard (the landing page): its chart of decisions changes after traffic.
    b.go("/portal/").await;
    b.find("#decisions-chart").await;
    assert_eq!(b.path().await, "/portal/dashboard");
    let chart = "const c = document.getElementById('decisions-chart'); \
                 return [Number(c.dataset.allowed), Number(c.dataset.denied), c.querySelectorAll('g.minute rect').length]";
    let before = b.js(chart).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let bearer = format!("Bearer {token}");
    for (path, authorization) in [
        ("/orders/1", bearer.as_str()),
        ("/orders/1", ""),
        ("/nothing-routes-here", bearer.as_str()),
    ] {
        let mut request = http
            .get(format!("{}/authz", server.base))
            .header("x-original-method", "GET")
            .header("x-original-uri", path);
        if !authorization.is_empty() {
            request = request.header("authorization", authorization);
        }
        assert_ne!(
            request.send().await.unwrap().status(),
            StatusCode::OK,
            "{path}"
        );
    }
    b.go("/portal/dashboard").await;
    let after = b.js(chart).await;
    assert_eq!(
        after[1].as_u64().unwrap(),
        before[1].as_u64().unwrap() + 3,
        "three more denials: {before} -> {after}"
    );
    assert!(after[2].as_u64().unwrap() >= 2, "a bar is drawn: {after}");
    assert!(b.text("#top-reasons").await.contains("no_route"));
    assert!(b.text("#key-freshness").await.contains("okta-prod"));
    assert!(b.text("#nodes-summary").await.contains("1 of 1 node up"));
    b.shot("dashboard").await;
    // The server's page counts the decisions on its tokens (here the one the route's claim
    // rule denied).
    b.click("#key-freshness a").await;
    b.find("#server-keys").await;
    assert_eq!(
        b.js("return Number(document.getElementById('decisions-chart').dataset.denied)")
            .await,
        json!(1)
    );

    // --- Cluster nodes: this node, up, with the configuration version it applied.
    b.go("/portal/cluster").await;
    b.until(
        "document.querySelector('#cluster-table tbody tr') && document.getElementById('cluster-summary').textContent.includes('1 up')",
        "the node list",
    )
    .await;
    let node = b.text("#cluster-table tbody tr").await;
    assert!(
        node.contains("this node") && node.contains("up") && node.contains("current"),
        "{node}"
    );
    b.shot("cluster").await;

    // --- A narrow screen: the navigation folds into a menu, tables scroll, dialogs fit.
    b.viewport(500, 844).await;
    b.go("/portal/authorization-servers").await;
    b.find("#servers-table").await;
    assert!(!b.find("#main-nav").await.is_displayed().await.unwrap());
    b.shot("narrow-servers").await;
    b.click("#nav-toggle").await;
    assert!(b.find("#main-nav").await.is_displayed().await.unwrap());
    b.shot("narrow-menu").await;
    b.click("#nav-toggle").await;
    b.click("#add-server").await;
    b.until(
        "document.getElementById('server-dialog').open",
        "add dialog",
    )
    .await;
    b.shot("narrow-server-dialog").await;
    b.click("#server-cancel").await;
    b.go("/portal/audit-log").await;
    b.shot("narrow-audit-log").await;
    b.viewport(1280, 800).await;

    // --- A session that ends while a page is open (here: signed out from another tab): the
    // next action the page's script takes leads to the sign-in page, which comes back here.
    b.go("/portal/authorization-servers").await;
    b.js("fetch('/api/v1/auth/logout', {method: 'POST', credentials: 'same-origin', headers: {'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}})")
        .await;
    b.until(
        "!document.cookie.includes('portcullis_csrf')",
        "the session to end",
    )
    .await;
    b.row_action("okta-prod", "edit").await;
    b.until(
        "location.pathname === '/portal/login'",
        "sign-in page after the session ended",
    )
    .await;
    assert_eq!(
        b.path().await,
        "/portal/login?next=%2Fportal%2Fauthorization-servers"
    );
    b.type_into("#login", "admin").await;
    b.type_into("#password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    b.find("#servers-table").await;
    assert_eq!(b.path().await, "/portal/authorization-servers");

    // --- Sign out: the session is gone, pages send the browser to the sign-in page again.
    b.click("#sign-out").await;
    b.until(
        "location.pathname === '/portal/login'",
        "sign-in page after sign-out",
    )
    .await;
    b.go("/portal/routes").await;
    b.find("#login-form").await;
    assert_eq!(b.path().await, "/portal/login?next=/portal/routes");

    println!("browser walk took {:?}", started.elapsed());
    b.close().await;
    server.stop().await;
}

async fn super_admin_role(api: &support::Client) -> String {
    let (_, roles) = api.get("/api/v1/adminRoles").await;
    roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["builtin"] == json!(true))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Issue 14: the Org Settings page switches read-only on (banner on every page, a refused change
/// explained in plain words) and off again.
#[tokio::test]
async fn the_org_settings_page_switches_read_only() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        return;
    };
    let server = TestServer::start("sqlite").await;
    let api = server.admin().await;
    let (status, _) = api.post("/api/v1/apiRoles", json!({"name": "keep"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let b = Browser::start(&chromium, &chromedriver, &server.base).await;
    b.go("/portal/login?next=/portal/org-settings").await;
    b.type_into("#login", "admin").await;
    b.type_into("#password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    b.until(
        "document.getElementById('read-only-state') && document.getElementById('read-only-state').textContent === 'off'",
        "the settings, read-write",
    )
    .await;
    assert!(b.text("#limits-table tbody").await.contains("1 per 1 min"));
    b.click("#read-only-toggle").await;
    b.until(
        "document.getElementById('read-only-banner') && document.getElementById('read-only-state').textContent === 'on'",
        "the read-only banner",
    )
    .await;
    b.shot("org-settings-read-only").await;

    b.go("/portal/api-roles").await;
    b.find("#read-only-banner").await;
    b.click("tr[data-name=\"keep\"] button[data-action=\"delete\"]")
        .await;
    b.click("#confirm-ok").await;
    b.until(
        "!document.getElementById('alert').hidden && document.getElementById('alert-text').textContent.includes('Read-only mode')",
        "the read-only explanation",
    )
    .await;

    b.go("/portal/org-settings").await;
    // The switch is shown once the settings have loaded.
    b.until(
        "document.getElementById('read-only-state') && document.getElementById('read-only-state').textContent === 'on'",
        "the settings, read-only",
    )
    .await;
    b.click("#read-only-toggle").await;
    b.until(
        "!document.getElementById('read-only-banner') && document.getElementById('read-only-state').textContent === 'off'",
        "read-write again",
    )
    .await;
    let (status, _) = api.post("/api/v1/apiRoles", json!({"name": "after"})).await;
    assert_eq!(status, StatusCode::CREATED);
    b.close().await;
    server.stop().await;
}

/// Issue 14: staged activation in the portal. A delete made in the portal is pending (the flash
/// says so, the bar appears on every page, the route is still there and still decides); the
/// review page shows each change with its diff; Discard withdraws one; Activate applies the rest
/// and the bar goes.
#[tokio::test]
async fn the_pending_changes_bar_reviews_and_activates() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        return;
    };
    let server = TestServer::start("sqlite").await;
    let api = server.admin().await;
    let route = |name: &str, scope: &str| {
        json!({"name": name, "match": {"pathPrefix": format!("/{name}")},
               "policy": {"scopes": {"allOf": [scope]}}})
    };
    for name in ["orders", "billing", "legacy"] {
        let (status, body) = api.post("/api/v1/routes", route(name, "read")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = api
        .put("/api/v1/orgSettings", json!({"activation": "staged"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Two changes staged through the API by the same admin: a new scope, and a route to drop.
    let (_, routes) = api.get("/api/v1/routes").await;
    let id_of = |name: &str| {
        routes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (status, body) = api
        .put(
            &format!("/api/v1/routes/{}", id_of("orders")),
            route("orders", "write"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, body) = api
        .put(
            &format!("/api/v1/routes/{}", id_of("billing")),
            route("billing", "pay"),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let b = Browser::start(&chromium, &chromedriver, &server.base).await;
    b.go("/portal/login?next=/portal/routes").await;
    b.type_into("#login", "admin").await;
    b.type_into("#password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    b.until(
        "document.getElementById('pending-bar') && document.getElementById('pending-bar').textContent.includes('2 pending changes')",
        "the pending-changes bar",
    )
    .await;
    // A delete in the portal is staged too: the flash says it is not live yet.
    b.click("#routes-table tr[data-name=\"legacy\"] button[data-action=\"delete\"]")
        .await;
    b.click("#confirm-ok").await;
    b.flash("It is pending").await;
    assert!(b.text("#pending-bar").await.contains("3 pending changes"));
    assert!(
        b.text("#routes-table").await.contains("legacy"),
        "a staged delete must leave the route in place until activation"
    );

    b.click("#pending-bar a").await;
    b.until(
        "document.querySelectorAll('#pending-list section.change').length === 3",
        "the three pending changes",
    )
    .await;
    let list = b.text("#pending-list").await;
    assert!(list.contains("Change route “orders”"), "{list}");
    assert!(list.contains("Delete route “legacy”"), "{list}");
    assert!(list.contains("/policy/scopes/allOf"), "{list}");
    assert!(list.contains("[\"write\"]"), "{list}");
    b.shot("pending-changes").await;

    // Discard the billing change: it never applies.
    b.click("section.change:nth-of-type(2) button[data-action=\"discard\"]")
        .await;
    b.click("#confirm-ok").await;
    b.flash("Discarded").await;
    b.until(
        "document.querySelectorAll('#pending-list section.change').length === 2",
        "two changes left",
    )
    .await;

    b.click("#activate-all").await;
    b.flash("Activated 2 changes").await;
    b.until(
        "!document.getElementById('pending-bar') && document.getElementById('no-pending')",
        "nothing pending, no bar",
    )
    .await;
    let (_, routes) = api.get("/api/v1/routes").await;
    let names: Vec<&str> = routes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["billing", "orders"], "{routes}");
    let scopes = |name: &str| {
        routes["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["policy"]["scopes"]["allOf"]
            .clone()
    };
    assert_eq!(scopes("orders"), json!(["write"]));
    assert_eq!(scopes("billing"), json!(["read"]));
    b.close().await;
    server.stop().await;
}
