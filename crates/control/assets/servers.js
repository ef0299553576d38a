// OAuth 2.0 Authorization Servers page: the table's preferences (column order, visibility,
// widths, sort; saved in localStorage), search, the add/edit dialog with the preset picker and
// the Validate gate, and the row actions (enable/disable, refresh keys, delete).
"use strict";

(function () {
  const P = window.Portal;
  const PREFS_KEY = "portcullis.servers.table.v1";
  const API = "/api/v1/authorizationServers";

  // ---------------------------------------------------------------------------------------------
  // Table preferences

  const table = document.getElementById("servers-table");
  const headRow = table.tHead.rows[0];
  const body = table.tBodies[0];
  const headers = Array.from(headRow.querySelectorAll("th[data-col]"));
  const defaultOrder = headers.map(function (th) { return th.dataset.col; });
  const labels = {};
  headers.forEach(function (th) { labels[th.dataset.col] = th.dataset.label; });
  Array.from(body.rows).forEach(function (row, i) { row.dataset.index = String(i); });

  function defaults() {
    return {
      order: defaultOrder.slice(),
      hidden: headers.filter(function (th) { return th.dataset.defaultShown !== "true"; })
        .map(function (th) { return th.dataset.col; }),
      widths: {},
      sort: null,
    };
  }

  // Saved preferences, cleaned against the columns that exist now (a column added by a newer
  // version appears at the end; unknown names are dropped; at least one column stays visible).
  function load() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(PREFS_KEY) || "null"); } catch (_) { saved = null; }
    const base = defaults();
    if (!saved || typeof saved !== "object") return base;
    const known = function (k) { return defaultOrder.indexOf(k) >= 0; };
    const order = Array.isArray(saved.order) ? saved.order.filter(known) : [];
    defaultOrder.forEach(function (k) { if (order.indexOf(k) < 0) order.push(k); });
    let hidden = Array.isArray(saved.hidden) ? saved.hidden.filter(known) : base.hidden;
    if (hidden.length >= order.length) hidden = base.hidden;
    const widths = {};
    if (saved.widths && typeof saved.widths === "object") {
      Object.keys(saved.widths).filter(known).forEach(function (k) {
        const w = Number(saved.widths[k]);
        if (w >= 40 && w <= 2000) widths[k] = w;
      });
    }
    const sort = saved.sort && known(saved.sort.col) && (saved.sort.dir === "asc" || saved.sort.dir === "desc")
      ? { col: saved.sort.col, dir: saved.sort.dir } : null;
    return { order: order, hidden: hidden, widths: widths, sort: sort };
  }

  let prefs = load();

  function save() {
    try { localStorage.setItem(PREFS_KEY, JSON.stringify(prefs)); } catch (_) { /* storage full or off */ }
  }

  function cellsOf(row) {
    const map = {};
    Array.from(row.children).forEach(function (cell) {
      if (cell.dataset.col) map[cell.dataset.col] = cell;
    });
    return map;
  }

  function apply() {
    [headRow].concat(Array.from(body.rows)).forEach(function (row) {
      const cells = cellsOf(row);
      const actions = row.querySelector(".actions-col");
      prefs.order.forEach(function (key) {
        const cell = cells[key];
        if (!cell) return;
        cell.hidden = prefs.hidden.indexOf(key) >= 0;
        row.insertBefore(cell, actions);
      });
    });
    headers.forEach(function (th) {
      const w = prefs.widths[th.dataset.col];
      th.style.width = w ? w + "px" : "";
      th.style.minWidth = w ? w + "px" : "";
      th.removeAttribute("aria-sort");
    });
    sortRows();
    filterRows();
    // Many columns: a denser table (smaller type, the absolute times only on hover).
    table.classList.toggle("dense", prefs.order.length - prefs.hidden.length > 7);
    P.markClipped(table);
    headers.forEach(function (th) {
      th.querySelector(".resize").setAttribute("aria-valuenow", String(Math.round(th.getBoundingClientRect().width)));
    });
  }

  function sortKey(row, col) {
    const cell = cellsOf(row)[col];
    return cell ? (cell.dataset.sort || "") : "";
  }

  function sortRows() {
    const rows = Array.from(body.rows);
    if (prefs.sort) {
      const col = prefs.sort.col;
      const dir = prefs.sort.dir === "desc" ? -1 : 1;
      const th = headRow.querySelector('th[data-col="' + col + '"]');
      if (th) th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      rows.sort(function (a, b) {
        const x = sortKey(a, col);
        const y = sortKey(b, col);
        const nx = Number(x);
        const ny = Number(y);
        const cmp = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny))
          ? nx - ny
          : x.localeCompare(y, undefined, { sensitivity: "base", numeric: true });
        return cmp * dir || Number(a.dataset.index) - Number(b.dataset.index);
      });
    } else {
      rows.sort(function (a, b) { return Number(a.dataset.index) - Number(b.dataset.index); });
    }
    rows.forEach(function (row) { body.appendChild(row); });
  }

  // The search looks at every cell, hidden columns included (they are in the DOM, only hidden).
  const search = document.getElementById("server-search");
  const count = document.getElementById("row-count");
  function filterRows() {
    const q = search.value.trim().toLowerCase();
    let shown = 0;
    Array.from(body.rows).forEach(function (row) {
      const text = Array.from(row.cells).filter(function (c) { return c.dataset.col; })
        .map(function (c) { return c.textContent; }).join(" ").toLowerCase();
      const match = !q || text.indexOf(q) >= 0;
      row.hidden = !match;
      if (match) shown += 1;
    });
    const total = body.rows.length;
    count.textContent = q ? shown + " of " + total + " servers" : total + (total === 1 ? " server" : " servers");
    document.getElementById("no-matches").hidden = !(q && shown === 0 && total > 0);
  }
  search.addEventListener("input", filterRows);

  headers.forEach(function (th) {
    th.querySelector(".sort").addEventListener("click", function () {
      const col = th.dataset.col;
      const dir = prefs.sort && prefs.sort.col === col && prefs.sort.dir === "asc" ? "desc" : "asc";
      prefs.sort = { col: col, dir: dir };
      save();
      apply();
    });
  });

  // Drag a header onto another to move it there.
  let dragged = null;
  headers.forEach(function (th) {
    th.addEventListener("dragstart", function (event) {
      dragged = th.dataset.col;
      th.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged);
    });
    th.addEventListener("dragend", function () {
      th.classList.remove("dragging");
      headers.forEach(function (h) { h.classList.remove("drag-over"); });
      dragged = null;
    });
    th.addEventListener("dragover", function (event) {
      if (!dragged || dragged === th.dataset.col) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      th.classList.add("drag-over");
    });
    th.addEventListener("dragleave", function () { th.classList.remove("drag-over"); });
    th.addEventListener("drop", function (event) {
      event.preventDefault();
      th.classList.remove("drag-over");
      const from = dragged || event.dataTransfer.getData("text/plain");
      moveTo(from, th.dataset.col);
    });
  });

  function moveTo(from, target) {
    if (!from || from === target || prefs.order.indexOf(from) < 0) return;
    const order = prefs.order.filter(function (k) { return k !== from; });
    const fromIndex = prefs.order.indexOf(from);
    let at = order.indexOf(target);
    // Dropping on a column to the right puts the dragged one after it, to the left before it.
    if (fromIndex <= prefs.order.indexOf(target)) at += 1;
    order.splice(at, 0, from);
    prefs.order = order;
    save();
    apply();
  }

  function move(key, delta) {
    const i = prefs.order.indexOf(key);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= prefs.order.length) return;
    const order = prefs.order.slice();
    order[i] = order[j];
    order[j] = key;
    prefs.order = order;
    save();
    apply();
  }

  // Resize by dragging a header's right edge, or with the arrow keys on the focused edge.
  headers.forEach(function (th) {
    const handle = th.querySelector(".resize");
    handle.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      event.stopPropagation();
      th.draggable = false;
      handle.setPointerCapture(event.pointerId);
      const startX = event.clientX;
      const startW = th.getBoundingClientRect().width;
      function onMove(e) {
        const w = Math.max(60, Math.round(startW + e.clientX - startX));
        th.style.width = w + "px";
        th.style.minWidth = w + "px";
      }
      function onUp() {
        handle.removeEventListener("pointermove", onMove);
        handle.removeEventListener("pointerup", onUp);
        th.draggable = true;
        prefs.widths[th.dataset.col] = Math.round(th.getBoundingClientRect().width);
        save();
      }
      handle.addEventListener("pointermove", onMove);
      handle.addEventListener("pointerup", onUp);
    });
    handle.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      event.preventDefault();
      const current = th.getBoundingClientRect().width;
      const w = Math.max(60, Math.round(current + (event.key === "ArrowRight" ? 20 : -20)));
      prefs.widths[th.dataset.col] = w;
      save();
      apply();
    });
  });

  // The column chooser: show/hide and move left/right (the keyboard alternative to dragging).
  const columnsDialog = document.getElementById("columns-dialog");
  const columnsList = document.getElementById("columns-list");

  function renderChooser(focusKey, focusWhat) {
    columnsList.textContent = "";
    const visible = prefs.order.filter(function (k) { return prefs.hidden.indexOf(k) < 0; });
    prefs.order.forEach(function (key, i) {
      const li = P.el("li", { "data-col": key });
      const label = P.el("label");
      const box = P.el("input", { type: "checkbox", id: "col-" + key, "data-col": key });
      box.checked = prefs.hidden.indexOf(key) < 0;
      // The last visible column cannot be hidden.
      if (box.checked && visible.length === 1) {
        box.disabled = true;
        box.title = "At least one column stays visible";
      }
      box.addEventListener("change", function () {
        if (box.checked) {
          prefs.hidden = prefs.hidden.filter(function (k) { return k !== key; });
        } else if (visible.length > 1) {
          prefs.hidden = prefs.hidden.concat([key]);
        }
        save();
        apply();
        renderChooser(key, "box");
      });
      label.appendChild(box);
      label.appendChild(document.createTextNode(" " + labels[key]));
      li.appendChild(label);
      const buttons = P.el("span", { class: "move" });
      const left = P.el("button", { type: "button", class: "btn small", "data-move": "left", "aria-label": "Move " + labels[key] + " left" }, "← Left");
      const right = P.el("button", { type: "button", class: "btn small", "data-move": "right", "aria-label": "Move " + labels[key] + " right" }, "Right →");
      left.disabled = i === 0;
      right.disabled = i === prefs.order.length - 1;
      left.addEventListener("click", function () { move(key, -1); renderChooser(key, "left"); });
      right.addEventListener("click", function () { move(key, 1); renderChooser(key, "right"); });
      buttons.appendChild(left);
      buttons.appendChild(right);
      li.appendChild(buttons);
      columnsList.appendChild(li);
    });
    if (focusKey) {
      const li = columnsList.querySelector('li[data-col="' + focusKey + '"]');
      if (li) {
        let target = focusWhat === "box" ? li.querySelector("input")
          : li.querySelector('[data-move="' + focusWhat + '"]');
        if (target && target.disabled) target = li.querySelector("button:not([disabled])") || li.querySelector("input");
        if (target) target.focus();
      }
    }
  }

  document.getElementById("columns-button").addEventListener("click", function () {
    renderChooser();
    columnsDialog.showModal();
  });
  document.getElementById("columns-close").addEventListener("click", function () { columnsDialog.close(); });
  function reset() {
    try { localStorage.removeItem(PREFS_KEY); } catch (_) { /* ignore */ }
    prefs = defaults();
    search.value = "";
    apply();
  }
  document.getElementById("columns-reset").addEventListener("click", function () { reset(); renderChooser(); });
  document.getElementById("reset-table").addEventListener("click", reset);

  apply();

  // ---------------------------------------------------------------------------------------------
  // Copy the API base URL

  document.getElementById("copy-api-base").addEventListener("click", async function () {
    const text = document.getElementById("api-base-url").textContent.trim();
    const status = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied.";
    } catch (_) {
      // No clipboard access (e.g. an insecure context): select the text for a manual copy.
      const range = document.createRange();
      range.selectNodeContents(document.getElementById("api-base-url"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      status.textContent = "Selected: press Ctrl+C to copy.";
    }
  });

  // ---------------------------------------------------------------------------------------------
  // Add / edit dialog

  const dialog = document.getElementById("server-dialog");
  const form = document.getElementById("server-form");
  if (!form) return;
  const presets = JSON.parse(form.dataset.presets || "{}");
  const saveButton = document.getElementById("server-save");
  const validateState = document.getElementById("validate-state");
  const report = document.getElementById("validate-report");
  const f = form.elements;
  let mode = { kind: "add", id: null, version: null };
  let validatedLocation = null;

  function keyLocation() {
    return f.jwksUri.value.trim() + "\n" + f.metadataUrl.value.trim();
  }

  const saveReason = document.getElementById("save-reason");
  const saveAnyway = document.getElementById("server-save-anyway");
  // Whether the last Validate (or Save) of the location in the form found no usable key: then
  // "Save without keys" is offered.
  let failedLocation = null;

  function updateSaveState() {
    const ok = validatedLocation !== null && validatedLocation === keyLocation();
    saveButton.disabled = !ok;
    saveAnyway.hidden = ok || failedLocation === null || failedLocation !== keyLocation();
    if (ok) {
      saveReason.textContent = "";
    } else if (!saveAnyway.hidden) {
      saveReason.textContent = "Save is off because no usable signing key was found at this key location. Fix it and Validate again, or save without keys.";
    } else {
      saveReason.textContent = "Save turns on once Validate finds a usable signing key at the key location.";
      validateState.className = "muted";
      validateState.textContent = "Not validated yet.";
    }
  }

  function updateAudienceWarning() {
    const none = P.lines(f.audiences.value).length === 0 && P.lines(f.clientIds.value).length === 0;
    document.getElementById("audience-warning").hidden = !none;
  }

  function setAlgs(list) {
    form.querySelectorAll('input[name="allowedAlgs"]').forEach(function (box) {
      box.checked = list.indexOf(box.value) >= 0;
    });
  }

  function applyPreset(name) {
    const p = presets[name];
    if (!p) return;
    setAlgs(p.allowedAlgs);
    f.scopeClaims.value = p.scopeClaims.join(" ");
    f.clientIdClaims.value = p.clientIdClaims.join(" ");
    f.issuer.placeholder = p.issuerExample;
    f.maxTokenLifetimeS.value = p.maxTokenLifetimeS;
  }

  function number(input) {
    const v = input.value.trim();
    if (v === "") return undefined;
    const n = Number(v);
    // Not an integer: send it as typed, so the API names the field.
    return Number.isInteger(n) ? n : v;
  }

  function formBody() {
    const nullIfEmpty = function (v) { v = v.trim(); return v === "" ? null : v; };
    const out = {
      name: f.name.value.trim(),
      description: f.description.value,
      enabled: f.enabled.checked,
      preset: f.preset.value,
      jwksUri: nullIfEmpty(f.jwksUri.value),
      metadataUrl: nullIfEmpty(f.metadataUrl.value),
      verifyTls: f.verifyTls.checked,
      caBundlePem: nullIfEmpty(f.caBundlePem.value),
      issuer: nullIfEmpty(f.issuer.value),
      audiences: P.lines(f.audiences.value),
      clientIds: P.lines(f.clientIds.value),
      clientIdClaims: P.words(f.clientIdClaims.value),
      allowedAlgs: Array.from(form.querySelectorAll('input[name="allowedAlgs"]:checked')).map(function (b) { return b.value; }),
      requireTypAtJwt: f.requireTypAtJwt.checked,
      scopeClaims: P.words(f.scopeClaims.value),
    };
    ["clockSkewS", "maxTokenLifetimeS", "refreshIntervalS", "maxStaleS"].forEach(function (name) {
      const v = number(f[name]);
      if (v !== undefined) out[name] = v;
    });
    return out;
  }

  function resetDialog() {
    form.reset();
    P.clearErrors(form);
    report.hidden = true;
    report.textContent = "";
    validatedLocation = null;
    failedLocation = null;
  }

  function openAdd() {
    resetDialog();
    mode = { kind: "add", id: null, version: null };
    document.getElementById("server-dialog-title").textContent = "Add authorization server";
    applyPreset(f.preset.value);
    updateSaveState();
    updateAudienceWarning();
    dialog.showModal();
    f.name.focus();
  }

  async function openEdit(id) {
    const result = await P.api("GET", API + "/" + encodeURIComponent(id));
    if (!result.ok) { P.showAlert(P.errorText(result), result.status === 404); return; }
    const s = result.data;
    resetDialog();
    mode = { kind: "edit", id: s.id, version: s.version };
    document.getElementById("server-dialog-title").textContent = "Edit " + s.name;
    f.name.value = s.name;
    f.description.value = s.description || "";
    f.enabled.checked = !!s.enabled;
    f.preset.value = s.preset;
    f.issuer.placeholder = (presets[s.preset] || {}).issuerExample || "";
    f.jwksUri.value = s.jwksUri || "";
    f.metadataUrl.value = s.metadataUrl || "";
    f.verifyTls.checked = s.verifyTls !== false;
    f.caBundlePem.value = s.caBundlePem || "";
    f.issuer.value = s.issuer || "";
    f.audiences.value = (s.audiences || []).join("\n");
    f.clientIds.value = (s.clientIds || []).join("\n");
    f.clientIdClaims.value = (s.clientIdClaims || []).join(" ");
    setAlgs(s.allowedAlgs || []);
    f.clockSkewS.value = s.clockSkewS;
    f.requireTypAtJwt.checked = !!s.requireTypAtJwt;
    f.scopeClaims.value = (s.scopeClaims || []).join(" ");
    f.refreshIntervalS.value = s.refreshIntervalS;
    f.maxStaleS.value = s.maxStaleS;
    f.maxTokenLifetimeS.value = s.maxTokenLifetimeS;
    // The saved key location was checked when it was saved (and the API checks it again on
    // save); changing it requires a new Validate.
    validatedLocation = keyLocation();
    updateSaveState();
    validateState.className = "muted";
    validateState.textContent = "The saved key location is checked again on save; Validate to see its keys now.";
    updateAudienceWarning();
    dialog.showModal();
    f.name.focus();
  }

  function renderReport(r) {
    report.textContent = "";
    const summary = P.el("p", { class: "summary " + (r.ok ? "ok" : "bad"), id: "validate-summary" });
    if (r.ok) {
      summary.textContent = "✓ " + r.usableKeys.length + " usable signing key" + (r.usableKeys.length === 1 ? "" : "s") +
        (r.ignoredKeys.length ? ", " + r.ignoredKeys.length + " ignored" : "") + ".";
    } else {
      summary.textContent = "✗ " + P.plainCode((r.error && r.error.code) || "no_usable_key");
    }
    report.appendChild(summary);
    if (!r.ok && r.error && r.error.message) report.appendChild(P.techDetail(r.error.message));
    if (r.discoveredIssuer) {
      const p = P.el("p", {}, "Discovered issuer: ");
      p.appendChild(P.el("code", {}, r.discoveredIssuer));
      if (f.issuer.value.trim() !== r.discoveredIssuer) {
        const use = P.el("button", { type: "button", class: "btn small" }, "Use as issuer");
        use.addEventListener("click", function () { f.issuer.value = r.discoveredIssuer; use.remove(); });
        p.appendChild(document.createTextNode(" "));
        p.appendChild(use);
      }
      report.appendChild(p);
    }
    if (r.jwksUri && r.metadataUrl) {
      const p = P.el("p", {}, "JWKS URL from discovery: ");
      p.appendChild(P.el("code", {}, r.jwksUri));
      report.appendChild(p);
    }
    if (r.usableKeys && r.usableKeys.length) {
      report.appendChild(P.el("h3", {}, "Usable keys"));
      const t = P.el("table", { id: "usable-keys" });
      const head = t.createTHead().insertRow();
      ["Key ID", "Type", "Algorithm", "Size / curve"].forEach(function (h) { head.appendChild(P.el("th", { scope: "col" }, h)); });
      const tb = t.createTBody();
      r.usableKeys.forEach(function (k) {
        const row = tb.insertRow();
        [k.kid || "(none)", k.kty, k.alg || "any allowed", k.params].forEach(function (v) { row.insertCell().textContent = v; });
      });
      report.appendChild(t);
    }
    if (r.ignoredKeys && r.ignoredKeys.length) {
      report.appendChild(P.el("h3", {}, "Ignored keys"));
      const t = P.el("table", { id: "ignored-keys" });
      const head = t.createTHead().insertRow();
      ["#", "Key ID", "Type", "Why it is ignored"].forEach(function (h) { head.appendChild(P.el("th", { scope: "col" }, h)); });
      const tb = t.createTBody();
      r.ignoredKeys.forEach(function (k) {
        const row = tb.insertRow();
        [k.index, k.kid || "(none)", k.kty || "?", k.reason].forEach(function (v) { row.insertCell().textContent = v; });
      });
      report.appendChild(t);
    }
    const timing = "Fetched in " + r.durationMs + " ms" + (r.cacheMaxAgeS ? "; the server asks for a cache of " + r.cacheMaxAgeS + " s." : ".");
    report.appendChild(P.el("p", { class: "muted small-text" }, timing));
    report.hidden = false;
  }

  document.getElementById("validate-button").addEventListener("click", async function () {
    const button = this;
    const location = keyLocation();
    P.clearErrors(form);
    button.disabled = true;
    validateState.className = "muted";
    validateState.textContent = "Fetching the keys…";
    const result = await P.api("POST", API + "/validate", formBody());
    button.disabled = false;
    if (!result.ok) {
      P.showErrors(form, result);
      validateState.className = "bad";
      validateState.textContent = "Validation could not run.";
      report.hidden = true;
      return;
    }
    renderReport(result.data);
    if (result.data.ok && location === keyLocation()) {
      validatedLocation = location;
      updateSaveState();
      validateState.className = "ok";
      validateState.textContent = "Key location validated.";
    } else {
      validatedLocation = null;
      failedLocation = location === keyLocation() ? location : null;
      updateSaveState();
      validateState.className = "bad";
      validateState.textContent = "No usable signing key at this location.";
    }
  });

  ["jwksUri", "metadataUrl"].forEach(function (name) {
    f[name].addEventListener("input", function () {
      updateSaveState();
      if (validatedLocation === null) report.hidden = true;
    });
  });
  f.audiences.addEventListener("input", updateAudienceWarning);
  f.clientIds.addEventListener("input", updateAudienceWarning);
  f.preset.addEventListener("change", function () { applyPreset(f.preset.value); });

  // The key check failed on save (the provider went down since): say so in plain words on the
  // field, keep the API's text as the technical detail, and offer to save without keys.
  function explainKeyCheck(result) {
    const fields = (result.data && result.data.fields) || {};
    let failed = false;
    ["jwksUri", "metadataUrl"].forEach(function (name) {
      const message = fields[name];
      if (!message || message.indexOf("key check failed") < 0) return;
      const slot = document.getElementById("err-" + name);
      slot.textContent = P.plainFetchError(message);
      slot.appendChild(P.techDetail(message.replace(/ \(send "skipValidation": true to save anyway\)/, "")));
      failed = true;
    });
    if (failed) failedLocation = keyLocation();
  }

  async function saveServer(skipValidation) {
    saveButton.disabled = true;
    const payload = formBody();
    if (skipValidation) payload.skipValidation = true;
    let result;
    if (mode.kind === "add") {
      result = await P.api("POST", API, payload);
    } else {
      payload.version = mode.version;
      result = await P.api("PUT", API + "/" + encodeURIComponent(mode.id), payload);
    }
    if (result.ok) {
      dialog.close();
      P.flashAfterReload((mode.kind === "add" ? "Added " : "Saved ") + result.data.name +
        (skipValidation ? " without keys: its tokens are rejected until its keys can be fetched." : "."), skipValidation ? "warn" : "ok");
      return;
    }
    P.showErrors(form, result);
    explainKeyCheck(result);
    updateSaveState();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!saveButton.disabled) saveServer(false);
  });
  saveAnyway.addEventListener("click", async function () {
    const name = f.name.value.trim() || "this server";
    const yes = await P.confirm("Save “" + name + "” without usable keys? Until its keys can be fetched, every token it issued is rejected. Portcullis keeps trying at each refresh.", "Save without keys");
    if (yes) saveServer(true);
  });
  document.getElementById("server-cancel").addEventListener("click", function () { P.dismiss(dialog); });

  const add = document.getElementById("add-server");
  if (add) add.addEventListener("click", openAdd);

  // ---------------------------------------------------------------------------------------------
  // Row actions

  // What stops working besides API calls: the routes that name the server.
  function usedBy(row) {
    const routes = row.dataset.routes;
    return routes ? ", by the cloud service API and by the routes " + routes : " by the cloud service API and by every route that accepts it";
  }

  body.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const id = row.dataset.id;
    const name = row.dataset.name;
    const action = button.dataset.action;
    const menu = button.closest("details.row-menu");
    if (menu) menu.open = false;
    if (action === "edit") {
      openEdit(id);
    } else if (action === "toggle") {
      if (row.dataset.enabled === "true") {
        const yes = await P.confirm("Disable “" + name + "”? Tokens it issued are rejected from now on" + usedBy(row) + ", until you enable it again.", "Disable " + name);
        if (!yes) return;
      }
      button.disabled = true;
      const current = await P.api("GET", API + "/" + encodeURIComponent(id));
      if (!current.ok) { button.disabled = false; P.showAlert(P.errorText(current), true); return; }
      const enable = row.dataset.enabled !== "true";
      // The version the page showed: if the server changed since, the API answers 409.
      const payload = Object.assign({}, current.data, { enabled: enable, version: Number(row.dataset.version) });
      // Disabling must work while the IdP is down; enabling runs the key check.
      if (!enable) payload.skipValidation = true;
      const result = await P.api("PUT", API + "/" + encodeURIComponent(id), payload);
      button.disabled = false;
      if (result.ok) {
        P.flashAfterReload((enable ? "Enabled " : "Disabled ") + name + ".");
      } else {
        P.showAlert((enable ? "Could not enable " : "Could not disable ") + name + ": " + P.errorText(result), result.status === 409);
      }
    } else if (action === "refresh") {
      button.disabled = true;
      const result = await P.api("POST", API + "/" + encodeURIComponent(id) + "/refresh");
      button.disabled = false;
      if (!result.ok) { P.showAlert(P.errorText(result), false); return; }
      const r = result.data.report || {};
      if (r.ok) {
        P.flashAfterReload("Refreshed the keys of " + name + ": " + (r.usableKeys || []).length + " usable.");
      } else {
        const until = row.dataset.keysUntil;
        P.flashAfterReload("Key refresh for " + name + " failed. " + P.plainCode((r.error && r.error.code) || "no_usable_key") +
          (until ? " The last good keys stay in use until " + until + "." : " It has no good keys to fall back on, so its tokens are rejected."), "warn");
      }
    } else if (action === "delete") {
      const yes = await P.confirm("Delete the authorization server “" + name + "”? Tokens it issued are rejected from now on" + usedBy(row) + ". This cannot be undone.", "Delete " + name);
      if (!yes) return;
      const result = await P.api("DELETE", API + "/" + encodeURIComponent(id));
      if (result.ok) {
        P.flashAfterReload("Deleted " + name + ".");
      } else {
        P.showAlert(P.errorText(result), result.status === 404 || result.status === 409);
      }
    }
  });
})();
