// Test a token: sends the JWT (and an optional request) for evaluation on the admin's own session
// (POST /portal/token-tester/evaluate, the sandbox API's answer) and shows it: whether the token
// is valid, then the access decision, each check, authorization, decoded parts. What was typed
// stays in sessionStorage (this tab) while the admin visits other pages.
"use strict";

(function () {
  const P = window.Portal;
  const form = document.getElementById("tester-form");
  const f = form.elements;
  const KEY = "portcullis.tester";
  const FIELDS = ["token", "method", "host", "path"];
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) || "{}");
    FIELDS.forEach(function (name) { if (typeof saved[name] === "string") f[name].value = saved[name]; });
  } catch (_) { /* private mode or not ours */ }
  function remember() {
    const saved = {};
    FIELDS.forEach(function (name) { saved[name] = f[name].value; });
    try { sessionStorage.setItem(KEY, JSON.stringify(saved)); } catch (_) { /* private mode */ }
  }
  form.addEventListener("input", remember);
  form.addEventListener("change", remember);

  // A NumericDate as "2025-01-31 14:05:09 UTC (in 10 min)".
  function when(seconds) {
    if (typeof seconds !== "number") return null;
    const ms = seconds * 1000;
    const minutes = Math.round((ms - Date.now()) / 60000);
    const rel = minutes === 0 ? "now" : (minutes > 0 ? "in " + minutes + " min" : -minutes + " min ago");
    return P.utc(new Date(ms).toISOString()) + " (" + rel + ")";
  }

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
    // The token's validity and the access decision are two questions: a valid token can still
    // be denied because no API role or route grants it anything.
    const valid = !!r.token;
    const tokenState = document.getElementById("tester-token-state");
    tokenState.className = "verdict " + (valid ? "allow" : "deny");
    tokenState.textContent = valid
      ? "✓ Valid" + (r.server ? ": verified by " + r.server.name : "")
      : "✗ Rejected" + (r.reason ? ": " + r.reason : "");
    const a0 = r.authorization || {};
    document.getElementById("tester-decision-label").textContent =
      a0.kind === "route" ? "Access decision for this request" : "Access decision for the cloud service API";
    const verdict = document.getElementById("tester-verdict");
    verdict.className = "verdict " + (r.verdict === "allow" ? "allow" : "deny");
    verdict.textContent = (r.verdict === "allow" ? "✓ Allowed" : "✗ Denied") + " (HTTP " + r.status + ")" +
      (valid && r.reason ? ": " + r.reason : (valid ? "" : ": the token was rejected"));
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
      ["Expires", when(t.expiresAt)],
    ]);
    const payload = r.payload || {};
    if (!valid) {
      pairs(summary, [
        ["Issued at (unverified)", when(payload.iat)],
        ["Expires (unverified)", when(payload.exp)],
        ["Not before (unverified)", when(payload.nbf)],
      ]);
    }
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
    remember();
    const body = { token: f.token.value.trim() };
    if (f.path.value.trim()) {
      body.path = f.path.value.trim();
      if (f.method.value) body.method = f.method.value;
      if (f.host.value.trim()) body.host = f.host.value.trim();
    }
    const result = await P.api("POST", "/portal/token-tester/evaluate", body);
    if (result.ok && result.data) { render(result.data); return; }
    P.showErrors(form, result);
  });
})();
