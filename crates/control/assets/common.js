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

  // Set when the API answered 202 (a staged change): see flashAfterReload.
  let stagedChange = false;

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
      return { status: 0, ok: false, data: { code: "network", message: "Portcullis did not answer: check your network connection, then try again.", detail: String(err && err.message) } };
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
    }
    if (response.status === 401) {
      signInAgain();
    }
    // 202: the org stages its changes; the next message says it is not live yet.
    if (response.status === 202) stagedChange = true;
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
    // A message inside a closed section (e.g. Advanced) opens it.
    form.querySelectorAll("[data-error-for]").forEach(function (slot) {
      const section = slot.textContent ? slot.closest("details") : null;
      if (section) section.open = true;
    });
    const firstInvalid = form.querySelector('[aria-invalid="true"]');
    if (firstInvalid) firstInvalid.focus();
    return placed;
  }

  // A message that survives the reload that follows a change.
  // `kind` "warn" marks a message about something that did not work as hoped.
  function flashAfterReload(message, kind) {
    if (stagedChange) {
      message += " It is pending: it goes live when the configuration is activated (see the bar above).";
    }
    try {
      sessionStorage.setItem("portcullis.flash", JSON.stringify({ message: message, kind: kind || "ok" }));
    } catch (_) { /* private mode */ }
    window.location.reload();
  }

  // A success message goes away by itself after a while; a warning stays until dismissed.
  let flashTimer = null;
  function showFlash(message, kind) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const text = document.getElementById("flash-text") || flash;
    text.textContent = message;
    flash.classList.toggle("warn", kind === "warn");
    flash.hidden = false;
    if (flashTimer) clearTimeout(flashTimer);
    flashTimer = kind === "warn" ? null : setTimeout(function () { flash.hidden = true; }, 10000);
  }

  // A page-level error (e.g. a 409 from a row action), with a Reload button when reloading helps.
  // `detail` (optional) is the technical text, shown behind a disclosure.
  function showAlert(message, offerReload, detail) {
    const alert = document.getElementById("alert");
    if (!alert) { window.alert(message); return; }
    const text = document.getElementById("alert-text");
    text.textContent = message;
    if (detail) text.appendChild(techDetail(detail));
    document.getElementById("alert-reload").hidden = !offerReload;
    // A success message from before the failure would contradict it.
    const flash = document.getElementById("flash");
    if (flash) flash.hidden = true;
    alert.hidden = false;
    alert.scrollIntoView({ block: "nearest" });
  }

  // A "Technical detail" disclosure holding `text`.
  function techDetail(text) {
    const details = el("details", { class: "tech" });
    details.appendChild(el("summary", {}, "Technical detail"));
    details.appendChild(el("p", { class: "mono small-text" }, String(text).replace(/`/g, "")));
    return details;
  }

  // The plain-words sentence for a key-fetch error message, from the table the page carries
  // (`data-plain` on the element with id `plain-errors`, written by the server from the same
  // table it uses for the pages it renders).
  let plainTable = null;
  function plainFetchError(message) {
    if (plainTable === null) {
      const holder = document.querySelector("[data-plain]");
      try { plainTable = JSON.parse(holder ? holder.dataset.plain : "{}"); } catch (_) { plainTable = {}; }
    }
    const sentences = plainTable.sentences || {};
    const found = (plainTable.phrases || []).find(function (p) { return String(message).indexOf(p[0]) >= 0; });
    return sentences[found ? found[1] : "unknown"] || "The keys could not be fetched: check the key location, then try again.";
  }

  // The sentence for a failure code of the key check (the Validate report's `error.code`).
  function plainCode(code) {
    plainFetchError("");
    return (plainTable.sentences || {})[code] || plainFetchError("");
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

  // ---------------------------------------------------------------------------------------------
  // Dialogs that hold typed input: closing one (Cancel, Esc) with changes asks first.

  function formState(form) {
    return JSON.stringify(Array.from(form.elements).map(function (e) {
      return (e.type === "checkbox" || e.type === "radio") ? e.checked : e.value;
    }));
  }

  function isDirty(dialog) {
    const form = dialog.querySelector("form");
    return !!form && dialog.open && dialog.dataset.clean !== undefined && dialog.dataset.clean !== formState(form);
  }

  // Closes `dialog`, after asking when what was typed would be lost.
  async function dismiss(dialog) {
    if (isDirty(dialog)) {
      const yes = await confirmAction("Discard what you typed in this dialog? Nothing has been saved.", "Discard changes");
      if (!yes) return false;
    }
    dialog.close();
    return true;
  }

  // Remembers a dialog's form as it is now (after a save, nothing is unsaved).
  function markClean(dialog) {
    const form = dialog.querySelector("form");
    if (form) dialog.dataset.clean = formState(form);
  }

  function guardDialogs() {
    document.querySelectorAll("dialog").forEach(function (dialog) {
      if (dialog.id === "confirm-dialog" || !dialog.querySelector("form")) return;
      // The state when the dialog opens is the "clean" one (an edit dialog opens filled in).
      new MutationObserver(function () {
        if (dialog.open) markClean(dialog); else delete dialog.dataset.clean;
      }).observe(dialog, { attributes: true, attributeFilter: ["open"] });
      dialog.addEventListener("cancel", function (event) {
        if (!isDirty(dialog)) return;
        event.preventDefault();
        dismiss(dialog);
      });
    });
    window.addEventListener("beforeunload", function (event) {
      const dirty = Array.from(document.querySelectorAll("dialog[open]")).some(isDirty);
      if (dirty) { event.preventDefault(); event.returnValue = ""; }
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Tables: each cell carries its column's name (shown beside the value when rows become cards
  // on narrow screens), clipped values become focusable with their whole text, row menus close
  // when something else is clicked.

  function labelCells(table) {
    const head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    const names = Array.from(head.cells).map(function (th) { return (th.dataset.label || th.textContent).trim(); });
    Array.from(table.tBodies).forEach(function (body) {
      Array.from(body.rows).forEach(function (row) {
        Array.from(row.cells).forEach(function (cell, i) {
          if (!cell.dataset.label && names[i] && !cell.classList.contains("actions-col")) cell.dataset.label = names[i];
          // An empty value is left out of a card.
          cell.classList.toggle("blank", !cell.classList.contains("actions-col") && cell.textContent.trim() === "");
        });
      });
    });
  }

  function markClipped(root) {
    (root || document).querySelectorAll(".clip").forEach(function (span) {
      if (span === document.activeElement) return;
      if (span.scrollWidth > span.clientWidth + 1) {
        span.tabIndex = 0;
        span.title = span.textContent.trim();
      } else {
        span.removeAttribute("tabindex");
        span.removeAttribute("title");
      }
    });
  }

  function setUpTables() {
    document.querySelectorAll(".table-wrap table.data").forEach(function (table) {
      labelCells(table);
      Array.from(table.tBodies).forEach(function (body) {
        new MutationObserver(function () { labelCells(table); }).observe(body, { childList: true });
      });
    });
    markClipped();
    let resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { markClipped(); }, 150);
    });
    document.addEventListener("click", function (event) {
      document.querySelectorAll("details.row-menu[open]").forEach(function (menu) {
        if (!menu.contains(event.target) || event.target.closest(".menu button")) menu.open = false;
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") return;
      document.querySelectorAll("details.row-menu[open]").forEach(function (menu) {
        menu.open = false;
        menu.querySelector("summary").focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    guardDialogs();
    setUpTables();
    const flashDismiss = document.getElementById("flash-dismiss");
    if (flashDismiss) flashDismiss.addEventListener("click", function () { document.getElementById("flash").hidden = true; });
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
        // A pasted token must not outlive the admin's session in this tab.
        try { sessionStorage.clear(); } catch (_) { /* storage unavailable */ }
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
    techDetail: techDetail,
    plainFetchError: plainFetchError,
    plainCode: plainCode,
    dismiss: dismiss,
    markClean: markClean,
    markClipped: markClipped,
    confirm: confirmAction,
    lines: lines,
    words: words,
    utc: utc,
    el: el,
  };
})();
