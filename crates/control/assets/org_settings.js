// Org settings: activation, read-only mode and rate limits, from GET /api/v1/orgSettings; changed with
// PUT /api/v1/orgSettings (with the version read, so a concurrent change is a conflict).
"use strict";

(function () {
  const P = window.Portal;
  const panel = document.getElementById("settings-panel");
  const canWrite = panel.dataset.canWrite === "true";
  let current = null;

  function windowText(w) {
    return w.limit + " per " + (w.windowSeconds % 3600 === 0 ? (w.windowSeconds / 3600) + " h" : w.windowSeconds % 60 === 0 ? (w.windowSeconds / 60) + " min" : w.windowSeconds + " s");
  }

  function render(settings) {
    current = settings;
    document.getElementById("settings-loading").hidden = true;
    document.getElementById("settings-body").hidden = false;
    document.getElementById("read-only-state").textContent = settings.readOnly ? "on" : "off";
    document.getElementById("activation-state").textContent = settings.activation;
    const activationToggle = document.getElementById("activation-toggle");
    if (activationToggle) activationToggle.textContent = settings.activation === "staged" ? "Switch to immediate activation" : "Switch to staged activation";
    const toggle = document.getElementById("read-only-toggle");
    if (toggle) toggle.textContent = settings.readOnly ? "Switch read-only off" : "Switch read-only on";
    const limits = settings.rateLimits;
    document.getElementById("limits-state").textContent = limits.enabled ? "on" : "off";
    const tbody = document.querySelector("#limits-table tbody");
    tbody.textContent = "";
    [["API clients", limits.api], ["Portal sessions", limits.interactive]].forEach(function (pair) {
      ["heavy", "medium", "light"].forEach(function (weight) {
        const row = tbody.insertRow();
        row.insertCell().textContent = pair[0];
        row.insertCell().textContent = weight;
        row.insertCell().textContent = windowText(pair[1][weight].short);
        row.insertCell().textContent = windowText(pair[1][weight].long);
      });
    });
    (limits.exceptions || []).forEach(function (e) {
      const row = tbody.insertRow();
      row.insertCell().textContent = "Everyone";
      row.insertCell().textContent = e.method + " " + e.path;
      row.insertCell().textContent = windowText(e.limits.short);
      row.insertCell().textContent = windowText(e.limits.long);
    });
    const editor = document.getElementById("limits-json");
    if (editor) editor.value = JSON.stringify(limits, null, 2);
  }

  async function save(change) {
    const body = Object.assign({}, current, change);
    const result = await P.api("PUT", "/api/v1/orgSettings", body);
    if (!result.ok) return P.errorText(result);
    render(result.data);
    // The banner is part of every page: reload so it shows the new mode.
    if ("readOnly" in change || "activation" in change) window.location.reload();
    return null;
  }

  async function load() {
    const result = await P.api("GET", "/api/v1/orgSettings");
    if (!result.ok) { document.getElementById("settings-loading").textContent = P.errorText(result); return; }
    render(result.data);
  }

  if (canWrite) {
    document.getElementById("activation-toggle").addEventListener("click", async function () {
      const error = await save({ activation: current.activation === "staged" ? "immediate" : "staged" });
      if (error) P.showAlert(error, false);
    });
    document.getElementById("read-only-toggle").addEventListener("click", async function () {
      const error = await save({ readOnly: !current.readOnly });
      if (error) P.showAlert(error, false);
    });
    const form = document.getElementById("limits-form");
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const message = form.querySelector(".form-error");
      message.hidden = true;
      let limits;
      try { limits = JSON.parse(document.getElementById("limits-json").value); } catch (e) {
        message.textContent = "Not valid JSON: " + e.message; message.hidden = false; return;
      }
      const error = await save({ rateLimits: limits });
      if (error) { message.textContent = error; message.hidden = false; }
    });
  }
  load();
})();
