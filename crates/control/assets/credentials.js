// Credentials tabs: the Cloud Service API Key (add, edit, regenerate, delete, reveal) and the
// Sandbox API tokens (create, rename, regenerate, delete; a value is shown once, masked until
// revealed). Both render what the JSON API answers; values only ever go in with textContent.
"use strict";

(function () {
  const P = window.Portal;

  // -------------------------------------------------------------------------------------------
  // Cloud Service API Key

  const keyPanel = document.getElementById("api-key-panel");
  if (keyPanel) {
    const API = "/api/v1/apiKey";
    let revealed = false;

    function show(view) {
      document.getElementById("api-key-loading").hidden = true;
      document.getElementById("api-key-none").hidden = !!view;
      document.getElementById("api-key-present").hidden = !view;
      if (!view) return;
      document.getElementById("api-key-value").textContent = view.apiKey;
      document.getElementById("api-key-by").textContent = view.lastModifiedBy || "";
      document.getElementById("api-key-on").textContent = view.lastModifiedOn ? P.utc(view.lastModifiedOn) : "";
      const reveal = document.getElementById("api-key-reveal");
      if (reveal) {
        revealed = view.masked === false;
        reveal.textContent = revealed ? "Hide" : "Reveal";
        reveal.setAttribute("aria-pressed", String(revealed));
      }
    }

    // Add, edit and regenerate answer with the full key: show it at once, with the message.
    function changed(view, message) {
      show(view);
      P.showFlash(message);
    }

    async function load() {
      const result = await P.api("GET", API);
      if (result.status === 404) { show(null); return; }
      if (!result.ok) { P.showAlert(P.errorText(result), true); return; }
      show(result.data);
    }

    const addForm = document.getElementById("api-key-add");
    if (addForm) {
      addForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const value = addForm.elements.apiKey.value.trim();
        const result = await P.api("POST", API, value ? { apiKey: value } : {});
        if (!result.ok) { P.showErrors(addForm, result); return; }
        P.clearErrors(addForm);
        addForm.reset();
        changed(result.data, "Added the Cloud Service API Key. It is shown in full below; copy it now (Reveal shows it again later).");
      });
    }
    const editForm = document.getElementById("api-key-edit");
    if (editForm) {
      editForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const result = await P.api("PUT", API, { apiKey: editForm.elements.apiKey.value.trim() });
        if (!result.ok) { P.showErrors(editForm, result); return; }
        P.clearErrors(editForm);
        editForm.reset();
        changed(result.data, "Saved the new Cloud Service API Key; the old one no longer works.");
      });
      document.getElementById("api-key-regenerate").addEventListener("click", async function () {
        const yes = await P.confirm("Regenerate the Cloud Service API Key? The current key stops working at once.", "Regenerate");
        if (!yes) return;
        const result = await P.api("POST", API + "/regenerate");
        if (!result.ok) { P.showErrors(editForm, result); return; }
        P.clearErrors(editForm);
        changed(result.data, "Regenerated the Cloud Service API Key; the old one no longer works. The new key is shown below.");
      });
      document.getElementById("api-key-delete").addEventListener("click", async function () {
        const yes = await P.confirm("Delete the Cloud Service API Key? Legacy session logins stop working until a new key is added.", "Delete key");
        if (!yes) return;
        const result = await P.api("DELETE", API);
        if (result.ok) P.flashAfterReload("Deleted the Cloud Service API Key.");
        else P.showErrors(editForm, result);
      });
    }
    const reveal = document.getElementById("api-key-reveal");
    if (reveal) {
      reveal.addEventListener("click", async function () {
        if (revealed) { load(); return; }
        const result = await P.api("POST", API + "/reveal");
        if (result.ok) show(result.data); else P.showAlert(P.errorText(result), false);
      });
    }
    load();
  }

  // -------------------------------------------------------------------------------------------
  // Sandbox API tokens

  const sandboxPanel = document.getElementById("sandbox-panel");
  if (sandboxPanel) {
    const API = "/api/v1/sandboxTokens";
    const canWrite = sandboxPanel.dataset.canWrite === "true";
    const tbody = document.querySelector("#sandbox-table tbody");
    const newToken = document.getElementById("new-token");
    const newValue = document.getElementById("new-token-value");
    let secret = "";

    function mask(value) {
      return value.length > 8 ? value.slice(0, 4) + "…" + "•".repeat(8) + value.slice(-4) : "•".repeat(value.length);
    }
    function showSecret(title, value) {
      secret = value;
      document.getElementById("new-token-title").textContent = title;
      newValue.textContent = mask(value);
      newValue.dataset.masked = "true";
      document.getElementById("new-token-reveal").textContent = "Reveal";
      document.getElementById("new-token-reveal").setAttribute("aria-pressed", "false");
      document.getElementById("new-token-status").textContent = "";
      newToken.hidden = false;
    }
    document.getElementById("new-token-reveal").addEventListener("click", function () {
      const masked = newValue.dataset.masked === "true";
      newValue.textContent = masked ? secret : mask(secret);
      newValue.dataset.masked = String(!masked);
      this.textContent = masked ? "Hide" : "Reveal";
      this.setAttribute("aria-pressed", String(masked));
    });
    document.getElementById("new-token-copy").addEventListener("click", async function () {
      const status = document.getElementById("new-token-status");
      try { await navigator.clipboard.writeText(secret); status.textContent = "Copied."; }
      catch (_) { status.textContent = "Copy failed: reveal the token and copy it by hand."; }
    });

    function render(items, limit) {
      tbody.textContent = "";
      items.forEach(function (t) {
        const row = tbody.insertRow();
        row.dataset.id = t.id;
        row.dataset.name = t.name;
        row.dataset.version = String(t.version);
        row.insertCell().textContent = t.name;
        const value = row.insertCell();
        value.appendChild(P.el("span", { class: "secret" }, t.maskedToken));
        row.insertCell().textContent = t.lastModifiedBy || "";
        row.insertCell().textContent = t.updatedAt ? P.utc(t.updatedAt) : "";
        const actions = row.insertCell();
        actions.className = "actions-col";
        if (canWrite) {
          const box = P.el("div", { class: "row-actions" });
          [["rename", "Rename", ""], ["regenerate", "Regenerate", ""], ["delete", "Delete", " danger"]].forEach(function (a) {
            box.appendChild(P.el("button", { type: "button", class: "btn small" + a[2], "data-action": a[0], "aria-label": a[1] + " " + t.name }, a[1]));
          });
          actions.appendChild(box);
        }
      });
      document.getElementById("sandbox-count").textContent = items.length + " of " + limit + " tokens";
      const add = document.getElementById("sandbox-add");
      if (add) add.querySelector("button[type=submit]").disabled = items.length >= limit;
    }

    async function load() {
      const result = await P.api("GET", API);
      if (!result.ok) { P.showAlert(P.errorText(result), true); return; }
      render(result.data.items || [], result.data.limit || 5);
    }

    const addForm = document.getElementById("sandbox-add");
    if (addForm) {
      addForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        const result = await P.api("POST", API, { name: addForm.elements.name.value.trim() });
        if (!result.ok) { P.showErrors(addForm, result); return; }
        P.clearErrors(addForm);
        addForm.reset();
        showSecret("Created “" + result.data.name + "”. Copy the token now; it is not shown again.", result.data.token || "");
        load();
      });
    }

    const renameDialog = document.getElementById("rename-dialog");
    const renameForm = document.getElementById("rename-form");
    let renaming = null;
    renameForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const result = await P.api("PUT", API + "/" + encodeURIComponent(renaming.id),
        { name: renameForm.elements.name.value.trim(), version: renaming.version });
      if (result.ok) { renameDialog.close(); P.flashAfterReload("Renamed the sandbox token to " + result.data.name + "."); }
      else P.showErrors(renameForm, result);
    });
    document.getElementById("rename-cancel").addEventListener("click", function () { P.dismiss(renameDialog); });

    tbody.addEventListener("click", async function (event) {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("tr");
      const path = API + "/" + encodeURIComponent(row.dataset.id);
      const name = row.dataset.name;
      if (button.dataset.action === "rename") {
        renaming = { id: row.dataset.id, version: Number(row.dataset.version) };
        P.clearErrors(renameForm);
        renameForm.elements.name.value = name;
        renameDialog.showModal();
      } else if (button.dataset.action === "regenerate") {
        if (!await P.confirm("Regenerate the sandbox token “" + name + "”? The current value stops working at once.", "Regenerate")) return;
        const result = await P.api("POST", path + "/regenerate");
        if (!result.ok) { P.showAlert(P.errorText(result), true); return; }
        showSecret("Regenerated “" + name + "”. Copy the new token now; it is not shown again.", result.data.token || "");
        load();
      } else if (button.dataset.action === "delete") {
        if (!await P.confirm("Delete the sandbox token “" + name + "”? Whoever uses it is refused from now on.", "Delete " + name)) return;
        const result = await P.api("DELETE", path);
        if (result.ok) P.flashAfterReload("Deleted the sandbox token " + name + ".");
        else P.showAlert(P.errorText(result), true);
      }
    });
    load();
  }
})();
