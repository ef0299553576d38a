// Test a token: sends the JWT (and an optional request) to the Sandbox API with the sandbox token
// the admin gives, and shows the evaluation: verdict, each check, authorization, decoded parts.
"use strict";

(function () {
  const P = window.Portal;
  const form = document.getElementById("tester-form");
  const f = form.elements;
  const KEY = "portcullis.sandboxToken";
  try { f.sandboxToken.value = sessionStorage.getItem(KEY) || ""; } catch (_) { /* private mode */ }

  function pairs(container, list) {
    const dl = P.el("dl", { class: "facts" });
    list.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") return;
      dl.appendChild(P.el("dt", {}, p[0]));
      dl.appendChild(P.el("dd", {}, p[1]));
    });
    container.appendChild(dl);
  }

  function render(r) {
    const verdict = document.getElementById("tester-verdict");
    verdict.className = "verdict " + (r.verdict === "allow" ? "allow" : "deny");
    verdict.textContent = (r.verdict === "allow" ? "✓ Allowed" : "✗ Denied") + " (HTTP " + r.status + ")" + (r.reason ? ": " + r.reason : "");
    const summary = document.getElementById("tester-summary");
    summary.textContent = "";
    summary.appendChild(P.el("h2", {}, "Summary"));
    const t = r.token || {};
    pairs(summary, [
      ["Rejection code", r.code],
      ["Hint", r.hint],
      ["Verified by", r.server ? r.server.name : null],
      ["Issuer", t.issuer],
      ["Subject", t.subject],
      ["Client ID", t.clientId],
      ["Scopes", (t.scopes || []).join(" ")],
      ["Algorithm / key", t.alg ? t.alg + (t.kid ? " / " + t.kid : "") : null],
      ["Expires", t.expiresAt ? new Date(t.expiresAt * 1000).toISOString() : null],
    ]);
    (r.notes || []).forEach(function (n) { summary.appendChild(P.el("p", { class: "muted" }, n)); });

    const steps = document.getElementById("tester-steps");
    steps.textContent = "";
    (r.steps || []).forEach(function (s) {
      const row = P.el("div", { class: "trace-step", "data-outcome": s.outcome });
      const badge = s.outcome === "pass" ? "on" : (s.outcome === "fail" ? "health-failing" : "off");
      const outcome = P.el("span");
      outcome.appendChild(P.el("span", { class: "badge " + badge }, s.outcome));
      row.appendChild(outcome);
      row.appendChild(P.el("strong", {}, s.step));
      row.appendChild(P.el("span", {}, s.detail));
      steps.appendChild(row);
    });

    const auth = document.getElementById("tester-authorization");
    auth.textContent = "";
    const a = r.authorization || {};
    if (a.kind === "apiRoles") {
      auth.appendChild(P.el("h2", {}, "Cloud service API roles"));
      pairs(auth, [["Scope form", a.expectedScope], ["Roles", (a.roles || []).join(", ") || "none"]]);
      if (a.permissions) {
        auth.appendChild(P.el("pre", { class: "json" }, JSON.stringify(a.permissions, null, 2)));
      }
    } else if (a.kind === "route") {
      auth.appendChild(P.el("h2", {}, "Route decision"));
      const req = a.request || {};
      pairs(auth, [
        ["Request", (req.method || "") + " " + (req.host ? req.host : "") + (req.path || "")],
        ["Route", a.route ? a.route.name : "no route matches (deny)"],
        ["Accepted credentials", (a.credentials || []).join(", ")],
      ]);
      const headers = a.identityHeaders || {};
      if (Object.keys(headers).length) {
        auth.appendChild(P.el("h3", {}, "Identity headers sent upstream"));
        auth.appendChild(P.el("pre", { class: "json" }, Object.keys(headers).map(function (h) { return h + ": " + headers[h]; }).join("\n")));
      }
    }
    document.getElementById("tester-header").textContent = r.header ? JSON.stringify(r.header, null, 2) : "(not decodable)";
    document.getElementById("tester-payload").textContent = r.payload ? JSON.stringify(r.payload, null, 2) : "(not decodable)";
    document.getElementById("tester-result").hidden = false;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    P.clearErrors(form);
    const sandbox = f.sandboxToken.value.trim();
    if (!sandbox) {
      P.showErrors(form, { status: 400, data: { message: "A sandbox token is needed", fields: { sandboxToken: "required" } } });
      return;
    }
    try { sessionStorage.setItem(KEY, sandbox); } catch (_) { /* private mode */ }
    const body = { token: f.token.value.trim() };
    if (f.path.value.trim()) {
      body.path = f.path.value.trim();
      if (f.method.value) body.method = f.method.value;
      if (f.host.value.trim()) body.host = f.host.value.trim();
    }
    let response;
    try {
      // The Sandbox API authenticates with the sandbox token only (no session, no CSRF).
      response = await fetch("/sandbox/v1/evaluate", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + sandbox },
        body: JSON.stringify(body),
      });
    } catch (err) {
      P.showErrors(form, { status: 0, data: { message: "The server could not be reached: " + err.message } });
      return;
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (response.ok && data) { render(data); return; }
    if (response.status === 401) {
      P.showErrors(form, { status: 401, data: { message: "The sandbox token was refused", fields: { sandboxToken: "not a valid sandbox token" } } });
      return;
    }
    P.showErrors(form, { status: response.status, data: data || { message: "HTTP " + response.status } });
  });
})();
