// Portcullis portal: what every signed-in page shares. Calls to the JSON API (with the session's
// CSRF token), field errors from the API's {code, message, fields} answers, messages, the
// confirmation dialog, sign-out and the narrow-screen menu. Text from the server or the user is
// only ever put into the page with textContent, never as HTML.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');

  function csrfToken() {
    return csrfMeta ? csrfMeta.content : "";
  }

  function signInAgain() {
    const here = window.location.pathname + window.location.search;
    window.location.assign("/portal/login?next=" + encodeURIComponent(here));
  }

  // Calls the cloud service API as the signed-in admin. Resolves to {status, ok, data}; data is
  // the parsed JSON body (or null). A 401 means the session is gone: back to the sign-in page.
  async function api(method, path, body) {
    const headers = {
      "X-CSRF-Token": csrfToken(),
      // Audited as "Admin UI" rather than "API".
      "X-Portcullis-Interface": "admin-ui",
      "Accept": "application/json",
    };
    const init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { status: 0, ok: false, data: { code: "network", message: "The server could not be reached: " + err.message } };
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
    }
    if (response.status === 401) {
      signInAgain();
    }
    return { status: response.status, ok: response.ok, data: data };
  }

  // The candidates for an error slot of `field`: "policy.claims[0].op" tries itself, then
  // "policy.claims[0]", "policy.claims", "policy".
  function fieldCandidates(field) {
    const out = [field];
    let f = field;
    for (;;) {
      const cut = Math.max(f.lastIndexOf("."), f.lastIndexOf("["));
      if (cut <= 0) break;
      f = f.slice(0, cut);
      out.push(f);
    }
    return out;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (el) { el.removeAttribute("aria-invalid"); });
    const general = form.querySelector(".form-error");
    if (general) { general.textContent = ""; general.hidden = true; }
  }

  // Shows an API error on `form`: each field message next to its field (and the field marked
  // invalid), the rest in the form's general error box. Returns the number of field messages placed.
  function showErrors(form, result) {
    clearErrors(form);
    const data = result.data || {};
    const fields = data.fields || {};
    const leftovers = [];
    let placed = 0;
    Object.keys(fields).forEach(function (field) {
      const slot = fieldCandidates(field)
        .map(function (f) { return form.querySelector('[data-error-for="' + CSS.escape(f) + '"]'); })
        .find(Boolean);
      if (slot) {
        slot.textContent = slot.textContent ? slot.textContent + " " + fields[field] : fields[field];
        placed += 1;
        const input = form.querySelector('[name="' + CSS.escape(slot.dataset.errorFor) + '"]') ||
          form.querySelector('[aria-describedby~="' + CSS.escape(slot.id || "-") + '"]');
        if (input) input.setAttribute("aria-invalid", "true");
      } else {
        leftovers.push(field + ": " + fields[field]);
      }
    });
    const general = form.querySelector(".form-error");
    if (general) {
      let message = data.message || ("Request failed (HTTP " + result.status + ")");
      message = message.charAt(0).toUpperCase() + message.slice(1);
      if (data.code === "validation_failed" && placed) message += ": see the marked fields.";
      if (data.code === "version_conflict") {
        message = "Someone else changed this since you opened it. Close the dialog and reload the page to see the current settings (" + message + ").";
      }
      if (leftovers.length) message += " — " + leftovers.join("; ");
      general.textContent = message;
      general.hidden = false;
    }
    const firstInvalid = form.querySelector('[aria-invalid="true"]');
    if (firstInvalid) firstInvalid.focus();
    return placed;
  }

  // A message that survives the reload that follows a change.
  // `kind` "warn" marks a message about something that did not work as hoped.
  function flashAfterReload(message, kind) {
    try {
      sessionStorage.setItem("portcullis.flash", JSON.stringify({ message: message, kind: kind || "ok" }));
    } catch (_) { /* private mode */ }
    window.location.reload();
  }

  function showFlash(message, kind) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    flash.textContent = message;
    flash.classList.toggle("warn", kind === "warn");
    flash.hidden = false;
  }

  // A page-level error (e.g. a 409 from a row action), with a Reload button when reloading helps.
  function showAlert(message, offerReload) {
    const alert = document.getElementById("alert");
    if (!alert) { window.alert(message); return; }
    document.getElementById("alert-text").textContent = message;
    document.getElementById("alert-reload").hidden = !offerReload;
    // A success message from before the failure would contradict it.
    const flash = document.getElementById("flash");
    if (flash) flash.hidden = true;
    alert.hidden = false;
    alert.scrollIntoView({ block: "nearest" });
  }

  function errorText(result) {
    const data = result.data || {};
    if (data.code === "version_conflict") {
      return "Conflict: someone else changed this since the page was loaded. Reload to see the current state, then try again. (" + (data.message || "version conflict") + ")";
    }
    if (data.code === "rate_limited") {
      return "Too many changes in a short time: try again in " + (data.retryAfter || 1) + " s. (" + (data.message || "rate limited") + ")";
    }
    if (data.code === "STATE_READONLY") {
      return "Read-only mode: changes are refused until a Super Admin switches it off in Org Settings. (" + (data.message || "read-only") + ")";
    }
    const fields = data.fields ? Object.keys(data.fields).map(function (f) { return f + ": " + data.fields[f]; }) : [];
    return (data.message || ("Request failed (HTTP " + result.status + ")")) + (fields.length ? " — " + fields.join("; ") : "");
  }

  // Asks for confirmation in the shared <dialog>; resolves true when confirmed.
  function confirmAction(message, confirmLabel) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-message").textContent = message;
    document.getElementById("confirm-ok").textContent = confirmLabel || "Delete";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "confirm");
      });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  function lines(text) {
    return text.split(/[\n,]/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function words(text) {
    return text.split(/[\s,]+/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  // RFC 3339 from the API as "2025-01-31 14:05:09 UTC", like the server-rendered pages.
  function utc(rfc3339) {
    const d = new Date(rfc3339);
    return isNaN(d.getTime()) ? (rfc3339 || "") : d.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  document.addEventListener("DOMContentLoaded", function () {
    let pending = null;
    try {
      pending = sessionStorage.getItem("portcullis.flash");
      sessionStorage.removeItem("portcullis.flash");
    } catch (_) { /* private mode */ }
    if (pending) {
      try {
        const parsed = JSON.parse(pending);
        showFlash(String(parsed.message), parsed.kind);
      } catch (_) { /* not ours */ }
    }

    const dismiss = document.getElementById("alert-dismiss");
    if (dismiss) dismiss.addEventListener("click", function () { document.getElementById("alert").hidden = true; });
    const reload = document.getElementById("alert-reload");
    if (reload) reload.addEventListener("click", function () { window.location.reload(); });

    const signOut = document.getElementById("sign-out");
    if (signOut) {
      signOut.addEventListener("click", async function () {
        await api("POST", "/api/v1/auth/logout");
        window.location.assign("/portal/login");
      });
    }

    const toggle = document.getElementById("nav-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        const nav = document.getElementById("main-nav");
        const open = !nav.classList.contains("open");
        nav.classList.toggle("open", open);
        toggle.closest(".sidebar").classList.toggle("open", open);
        toggle.setAttribute("aria-expanded", String(open));
      });
    }
  });

  window.Portal = {
    api: api,
    clearErrors: clearErrors,
    showErrors: showErrors,
    flashAfterReload: flashAfterReload,
    showFlash: showFlash,
    showAlert: showAlert,
    errorText: errorText,
    confirm: confirmAction,
    lines: lines,
    words: words,
    utc: utc,
    el: el,
  };
})();
