// Admins: add/edit in a dialog (an empty password on edit keeps the current one), delete with
// a confirmation naming the admin.
"use strict";

(function () {
  const P = window.Portal;
  const API = "/api/v1/admins";
  const table = document.getElementById("admins-table");
  const dialog = document.getElementById("admin-dialog");
  const form = document.getElementById("admin-form");
  const f = form.elements;
  let editing = null;

  function open(row) {
    form.reset();
    P.clearErrors(form);
    editing = row ? { id: row.dataset.id, version: Number(row.dataset.version) } : null;
    document.getElementById("admin-dialog-title").textContent = row ? "Edit " + row.dataset.login : "Add admin";
    document.getElementById("a-password-keep").hidden = !row;
    if (row) {
      f.login.value = row.dataset.login;
      f.name.value = row.dataset.displayName;
      f.roleId.value = row.dataset.roleId;
    }
    dialog.showModal();
    f.login.focus();
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const body = { login: f.login.value.trim(), name: f.name.value.trim(), roleId: f.roleId.value };
    if (f.password.value || !editing) body.password = f.password.value;
    let result;
    if (editing) {
      body.version = editing.version;
      result = await P.api("PUT", API + "/" + encodeURIComponent(editing.id), body);
    } else {
      result = await P.api("POST", API, body);
    }
    if (result.ok) {
      dialog.close();
      P.flashAfterReload("Saved admin " + result.data.login + ".");
    } else {
      P.showErrors(form, result);
    }
  });
  document.getElementById("admin-cancel").addEventListener("click", function () { P.dismiss(dialog); });
  const add = document.getElementById("add-admin");
  if (add) add.addEventListener("click", function () { open(null); });

  table.tBodies[0].addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    if (button.dataset.action === "edit") {
      open(row);
    } else if (button.dataset.action === "delete") {
      const yes = await P.confirm("Delete the admin “" + row.dataset.login + "”? Their sessions end at once.", "Delete " + row.dataset.login);
      if (!yes) return;
      const result = await P.api("DELETE", API + "/" + encodeURIComponent(row.dataset.id));
      if (result.ok) P.flashAfterReload("Deleted admin " + row.dataset.login + ".");
      else P.showAlert(P.errorText(result), result.status === 404);
    }
  });
})();
