// API roles and admin roles: one permission grid, add/edit in a dialog, delete with a
// confirmation naming the role. Rules (names, limits, the built-in role) are the API's.
"use strict";

(function () {
  const P = window.Portal;
  const table = document.getElementById("roles-table");
  const api = table.dataset.api;
  const singular = table.dataset.singular;
  const dialog = document.getElementById("role-dialog");
  const form = document.getElementById("role-form");
  const categories = Array.from(table.querySelectorAll("thead th[data-category]")).map(function (th) { return th.dataset.category; });
  let editing = null;

  function setAccess(permissions) {
    categories.forEach(function (c) {
      const value = (permissions && permissions[c]) || "none";
      const radio = form.querySelector('input[name="perm-' + c + '"][value="' + value + '"]');
      if (radio) radio.checked = true;
    });
  }

  function open(role) {
    form.reset();
    P.clearErrors(form);
    editing = role ? { id: role.id, version: role.version } : null;
    document.getElementById("role-dialog-title").textContent = role ? "Edit " + role.name : "Add " + singular;
    form.elements.name.value = role ? role.name : "";
    setAccess(role ? role.permissions : null);
    dialog.showModal();
    form.elements.name.focus();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const permissions = {};
    categories.forEach(function (c) {
      const checked = form.querySelector('input[name="perm-' + c + '"]:checked');
      permissions[c] = checked ? checked.value : "none";
    });
    const body = { name: form.elements.name.value.trim(), permissions: permissions };
    let result;
    if (editing) {
      body.version = editing.version;
      result = await P.api("PUT", api + "/" + encodeURIComponent(editing.id), body);
    } else {
      result = await P.api("POST", api, body);
    }
    if (result.ok) {
      dialog.close();
      P.flashAfterReload("Saved " + singular + " " + result.data.name + ".");
    } else {
      P.showErrors(form, result);
    }
  });
  document.getElementById("role-cancel").addEventListener("click", function () { P.dismiss(dialog); });
  const add = document.getElementById("add-role");
  if (add) add.addEventListener("click", function () { open(null); });
  // Arriving from another page's "create a role" link opens the add dialog.
  if (add && window.location.hash === "#add") open(null);

  table.tBodies[0].addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const path = api + "/" + encodeURIComponent(row.dataset.id);
    if (button.dataset.action === "copy") {
      const scope = row.querySelector(".scope-string").textContent.trim();
      const status = document.getElementById("copy-status");
      try {
        await navigator.clipboard.writeText(scope);
        status.textContent = "Copied " + scope + ".";
      } catch (_) {
        // No clipboard access (e.g. plain http): select the text for a manual copy.
        const range = document.createRange();
        range.selectNodeContents(row.querySelector(".scope-string"));
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        status.textContent = "Selected: press Ctrl+C to copy.";
      }
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    } else if (button.dataset.action === "edit") {
      const result = await P.api("GET", path);
      if (result.ok) open(result.data); else P.showAlert(P.errorText(result), true);
    } else if (button.dataset.action === "delete") {
      const yes = await P.confirm("Delete the " + singular + " “" + row.dataset.name + "”? Whoever relies on it loses its permissions at once.", "Delete " + row.dataset.name);
      if (!yes) return;
      const result = await P.api("DELETE", path);
      if (result.ok) P.flashAfterReload("Deleted " + singular + " " + row.dataset.name + ".");
      else P.showAlert(P.errorText(result), result.status === 404);
    }
  });
})();
