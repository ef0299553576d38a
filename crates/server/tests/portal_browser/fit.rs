//! Every portal page at a desktop (1280x800) and a phone (390x844) viewport, with data that has
//! long values and every optional column of the servers table shown: the page never scrolls
//! sideways, no table scrolls sideways, every row's actions are on screen, each dialog's Save is
//! on screen without scrolling, and axe-core (from the npm registry, installed into
//! `target/axe/` on first use; test-only, never shipped) finds no serious or critical
//! violation. Each page and dialog is photographed (`fit-<page>-<width>.png`), and what axe
//! found (every impact) is written to `axe-report.json` beside the screenshots.
//!
//! Without npm or a network the axe part is skipped loudly (`testkit::skip::part`), unless
//! `PORTCULLIS_REQUIRE_BROWSER=1` (CI), where that fails the test.

use super::*;

/// The viewports every page is checked at.
const VIEWPORTS: [(u32, u32, &str); 2] = [(1280, 800, "desktop"), (390, 844, "phone")];

/// The axe-core release line the check is written against.
const AXE_PACKAGE: &str = "axe-core@4";

/// `axe.min.js`, installed with npm into `target/axe/` when it is not there yet. `None` (and a
/// loud skip message) when it cannot be had and is not required.
fn axe_source() -> Option<String> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(tmp).join("axe");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    if !script.is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .arg(AXE_PACKAGE)
            .stdin(Stdio::null())
            .status();
        if !matches!(status, Ok(s) if s.success()) || !script.is_file() {
            let message = format!(
                "the accessibility check needs axe-core: `npm install --prefix {} {AXE_PACKAGE}` failed ({status:?})",
                dir.display()
            );
            if std::env::var("PORTCULLIS_REQUIRE_BROWSER").as_deref() == Ok("1") {
                panic!("{message} (PORTCULLIS_REQUIRE_BROWSER=1)");
            }
            portcullis_testkit::skip::part(&message);
            return None;
        }
    }
    Some(std::fs::read_to_string(script).unwrap())
}

/// What the page shows wrong, as lines for the closing report.
const LAYOUT_PROBLEMS: &str = r#"
    const out = [];
    const vw = window.innerWidth, vh = window.innerHeight;
    const page = document.documentElement.scrollWidth;
    if (page > vw + 1) out.push('the page scrolls sideways: ' + page + 'px wide in a ' + vw + 'px viewport');
    const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
    document.querySelectorAll('.table-wrap, table.data').forEach(t => {
        if (shown(t) && t.scrollWidth > t.clientWidth + 1)
            out.push('table ' + (t.id || t.className) + ' scrolls sideways: ' + t.scrollWidth + 'px in ' + t.clientWidth + 'px');
    });
    document.querySelectorAll('tbody tr').forEach(row => {
        if (!shown(row)) return;
        const cell = row.querySelector('.actions-col');
        if (!cell || !cell.querySelector('button, a, summary')) return;
        const r = cell.getBoundingClientRect();
        const wrap = cell.closest('.table-wrap');
        const right = wrap ? Math.min(vw, wrap.getBoundingClientRect().right) : vw;
        if (r.width < 1 || r.left < -1 || r.right > right + 1)
            out.push('actions of row ' + (row.dataset.name || row.dataset.login || row.rowIndex) +
                     ' are off screen: ' + Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + Math.round(right));
    });
    return out;
"#;

/// Runs axe-core on the document; answers the violations as {id, impact, nodes, targets}.
const RUN_AXE: &str = r#"
    const done = arguments[arguments.length - 1];
    axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
        targets: v.nodes.slice(0, 4).map(n => n.target.join(' '))
    })))).catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: 0, targets: []}]));
"#;

/// Everything found while walking the pages.
struct Findings {
    axe: Option<String>,
    problems: Vec<String>,
    report: Vec<Value>,
}

impl Findings {
    /// Checks the page (or open dialog) as it is now, and photographs it.
    async fn check(&mut self, b: &Browser, name: &str, size: &str) {
        let place = format!("{name} at {size}");
        for problem in strings(&b.js(LAYOUT_PROBLEMS).await) {
            self.problems.push(format!("{place}: {problem}"));
        }
        if let Some(axe) = &self.axe {
            if b.js("return typeof window.axe").await != json!("object") {
                b.js(axe).await;
            }
            let violations = b.client.execute_async(RUN_AXE, Vec::new()).await.unwrap();
            for v in violations.as_array().unwrap() {
                if matches!(v["impact"].as_str(), Some("serious" | "critical")) {
                    self.problems.push(format!(
                        "{place}: axe {} ({}): {} ({} nodes: {})",
                        v["id"], v["impact"], v["help"], v["nodes"], v["targets"]
                    ));
                }
            }
            self.report
                .push(json!({"page": name, "viewport": size, "violations": violations}));
        }
        b.shot(&format!("fit-{name}-{size}")).await;
    }

    /// Opens a dialog with `opener`, checks that `save` is on screen without scrolling, checks
    /// the page with the dialog open, and closes it.
    async fn dialog(&mut self, b: &Browser, opener: &str, dialog: &str, save: &str, size: &str) {
        b.click(opener).await;
        b.until(
            &format!("document.getElementById({}).open", json!(dialog)),
            dialog,
        )
        .await;
        let rect = b
            .js(&format!(
                "const r = document.querySelector({}).getBoundingClientRect(); \
                 const d = document.getElementById({}).getBoundingClientRect(); \
                 return [r.left, r.top, r.right, r.bottom, Math.min(window.innerWidth, d.right), Math.min(window.innerHeight, d.bottom)]",
                json!(save),
                json!(dialog)
            ))
            .await;
        let r: Vec<f64> = rect
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        if r[2] - r[0] < 1.0 || r[0] < 0.0 || r[1] < 0.0 || r[2] > r[4] + 1.0 || r[3] > r[5] + 1.0 {
            self.problems.push(format!(
                "{dialog} at {size}: {save} is not on screen without scrolling ({r:?})"
            ));
        }
        self.check(b, dialog, size).await;
        b.js(&format!(
            "document.getElementById({}).close()",
            json!(dialog)
        ))
        .await;
    }
}

/// The text of `css` without what hides behind "Technical detail" disclosures.
fn main_text(css: &str) -> String {
    format!(
        "const e = document.querySelector({}).cloneNode(true); \
         e.querySelectorAll('details.tech').forEach(d => d.remove()); return e.textContent",
        json!(css)
    )
}

/// Jargon that must stay behind the disclosure.
const JARGON: [&str; 5] = ["tcp", "os error", "(Connect)", "`", "client error"];

/// A key location nothing answers at: the table and the Validate report say so in plain
/// words, each once, with the technical text behind a disclosure.
async fn plain_words(b: &Browser, findings: &mut Findings) {
    b.go("/portal/authorization-servers").await;
    let row = "#servers-table tr[data-name=legacy-idp]";
    let shown = b.js(&main_text(row)).await.as_str().unwrap().to_owned();
    let all = b.text(row).await;
    for word in JARGON {
        if shown.contains(word) {
            findings
                .problems
                .push(format!("the servers table shows {word:?}: {shown}"));
        }
    }
    if !all.contains("os error") {
        findings
            .problems
            .push(format!("the technical detail is missing: {all}"));
    }
    if shown.matches("could not be reached").count() != 1 {
        findings
            .problems
            .push(format!("the error is not shown exactly once: {shown}"));
    }
    b.click("#add-server").await;
    b.until(
        "document.getElementById('server-dialog').open",
        "add dialog",
    )
    .await;
    let down = support::unreachable_url("/keys").await;
    b.type_into("#f-jwksUri", &down).await;
    b.click("#validate-button").await;
    b.until(
        "document.getElementById('validate-summary') && document.getElementById('validate-summary').textContent.includes('✗')",
        "the failed validation",
    )
    .await;
    let report = b.js(&main_text("#validate-report")).await;
    let report = report.as_str().unwrap();
    for word in JARGON {
        if report.contains(word) {
            findings
                .problems
                .push(format!("the Validate report shows {word:?}: {report}"));
        }
    }
    if !b
        .text("#save-reason")
        .await
        .contains("no usable signing key")
    {
        findings
            .problems
            .push("a disabled Save does not say why".to_owned());
    }
    b.shot("fit-server-dialog-unreachable-desktop").await;
    b.js("document.getElementById('server-dialog').close()")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_both_widths_and_passes_axe() {
    let Some((chromium, chromedriver)) = browser_programs() else {
        return;
    };
    let server = TestServer::start("sqlite").await;
    let api = server.admin().await;
    let idp = IdpServer::start().await;
    let signing = TestKey::ec("signing-key-2025-rotation-b", "ES256");
    idp.serve("/keys", 200, &jwks_of(vec![signing.jwk()]).to_string());

    // Data with long values: the layout has to hold them.
    let (status, body) = api
        .post(
            "/api/v1/authorizationServers",
            json!({
                "name": "payments-eu-production-okta-tenant",
                "description": "Tokens of the payment service's machine clients in the EU production tenant, rotated quarterly by the identity team.",
                "issuer": "https://login.example-identity-provider.com/oauth2/aus1a2b3c4d5e6f7g8h9/v1/tenants/payments-production",
                "audiences": ["api://payments-production-gateway", "https://api.example.com/payments/v2"],
                "clientIds": ["0oa1b2c3d4e5f6g7h8i9", "payments-batch-settlement-worker"],
                "jwksUri": idp.url("/keys"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let down = support::unreachable_url("/oauth2/v1/keys").await;
    let (status, body) = api
        .post(
            "/api/v1/authorizationServers",
            json!({"name": "legacy-idp", "jwksUri": down, "skipValidation": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .post(
            "/api/v1/apiRoles",
            json!({"name": "terraform-automation", "permissions": {"authorizationServers": "full", "routes": "view_only"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, role) = api
        .post(
            "/api/v1/adminRoles",
            json!({"name": "auditor", "permissions": {"auditLogs": "view_only"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let (status, body) = api
        .post(
            "/api/v1/admins",
            json!({"login": "jane.auditor-longname", "name": "Jane Auditor-Longname",
                   "roleId": role["id"], "password": "auditor-password-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .post(
            "/api/v1/routes",
            json!({
                "name": "orders-service-v2",
                "match": {"host": "api.orders.example.com", "pathPrefix": "/orders/v2/customers", "methods": ["GET", "POST"]},
                "upstream": "http://orders-service.internal.example.com:8080/base",
                "policy": {
                    "servers": ["payments-eu-production-okta-tenant"],
                    "scopes": {"allOf": ["orders:read", "orders:write"], "anyOf": ["customers:read"]},
                    "claims": [{"path": "tid", "op": "equals", "value": "72f988bf-86f1-41af-91ab-2d7cd011db47"}],
                    "forwardClaims": {"X-Customer-Id": "sub", "X-Tenant-Id": "tid"}
                }
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api
        .post("/api/v1/sandboxTokens", json!({"name": "ci-runner"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // An update, so the audit log has a before and an after.
    let (_, routes) = api.get("/api/v1/routes").await;
    let mut route = routes["items"][0].clone();
    route["policy"]["claims"] = json!([{"path": "tid", "op": "equals", "value": "another-tenant"}]);
    let id = route["id"].as_str().unwrap().to_owned();
    let (status, body) = api.put(&format!("/api/v1/routes/{id}"), route).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let mut findings = Findings {
        axe: axe_source(),
        problems: Vec::new(),
        report: Vec::new(),
    };
    let pages = [
        ("dashboard", "/portal/dashboard"),
        ("servers", "/portal/authorization-servers"),
        ("api-roles", "/portal/api-roles"),
        ("routes", "/portal/routes"),
        ("api-key", "/portal/credentials/api-key"),
        ("sandbox-tokens", "/portal/credentials/sandbox-tokens"),
        ("token-tester", "/portal/token-tester"),
        ("admins", "/portal/admins"),
        ("admin-roles", "/portal/admin-roles"),
        ("audit-log", "/portal/audit-log"),
        ("cluster", "/portal/cluster"),
        ("org-settings", "/portal/org-settings"),
        ("pending-changes", "/portal/pending-changes"),
        ("not-found", "/portal/no-such-page"),
    ];
    let dialogs = [
        ("servers", "#add-server", "server-dialog", "#server-save"),
        ("api-roles", "#add-role", "role-dialog", "#role-save"),
        ("routes", "#add-route", "route-dialog", "#route-save"),
        ("admins", "#add-admin", "admin-dialog", "#admin-save"),
    ];
    let mut shots = PathBuf::new();
    // One browser per viewport: a phone-sized page needs Chromium's device emulation.
    for (width, height, size) in VIEWPORTS {
        let phone = (size == "phone").then_some((width, height));
        let b = Browser::start_sized(&chromium, &chromedriver, &server.base, phone).await;
        shots.clone_from(&b.shots);
        b.go("/portal/login").await;
        findings.check(&b, "login", size).await;
        b.type_into("#login", "admin").await;
        b.type_into("#password", ADMIN_PASSWORD).await;
        b.click("#login-submit").await;
        b.find("#main").await;
        // Every optional column of the servers table shown.
        b.js("localStorage.setItem('portcullis.servers.table.v1', JSON.stringify({hidden: []}))")
            .await;
        for (name, path) in pages {
            b.go(path).await;
            b.until("document.readyState === 'complete'", "the page")
                .await;
            if name == "audit-log" {
                b.js(
                    "document.querySelectorAll('#audit-table details').forEach(d => d.open = true)",
                )
                .await;
            }
            findings.check(&b, name, size).await;
            for (page, opener, dialog, save) in dialogs {
                if page == name {
                    findings.dialog(&b, opener, dialog, save, size).await;
                }
            }
            if name == "servers" {
                // Server names lead to the server's own page.
                b.click("#servers-table tr[data-name=legacy-idp] a.server-name")
                    .await;
                b.find("#server-name").await;
                findings.check(&b, "server-page", size).await;
            }
        }
        if size == "desktop" {
            plain_words(&b, &mut findings).await;
        }
        // A limited admin (audit logs only): the menu offers only the pages they can use, and a
        // page they cannot use keeps the layout and names the permission.
        b.go("/portal/dashboard").await;
        b.find("#sign-out").await;
        // (On a phone the button sits in the folded menu.)
        b.js("document.getElementById('sign-out').click()").await;
        b.find("#login-form").await;
        b.type_into("#login", "jane.auditor-longname").await;
        b.type_into("#password", "auditor-password-1").await;
        b.click("#login-submit").await;
        b.find("#main").await;
        let menu = strings(&b.js("return Array.from(document.querySelectorAll('#main-nav a')).map(a => a.textContent.trim())").await);
        // Org Settings can be read by every admin (only a Super Admin gets its buttons).
        assert_eq!(menu, ["Dashboard", "Audit Log", "Org Settings"], "{size}");
        b.go("/portal/authorization-servers").await;
        b.find("#forbidden").await;
        assert!(b.text("#forbidden").await.contains("Authorization servers"));
        findings.check(&b, "forbidden", size).await;
        b.close().await;
    }

    let report = shots.join("axe-report.json");
    std::fs::write(
        &report,
        serde_json::to_string_pretty(&findings.report).unwrap(),
    )
    .unwrap();
    println!("axe report: {}", report.display());
    server.stop().await;
    assert!(
        findings.problems.is_empty(),
        "{} problems:\n{}",
        findings.problems.len(),
        findings.problems.join("\n")
    );
}
