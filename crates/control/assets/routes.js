// Routes: add/edit in a dialog (match, upstream, policy with scopes, claim rules as a JSON array
// and identity headers as "Header: claim" lines), delete with a confirmation naming the route.
"use strict";

(function () {
  const P = window.Portal;
  const API = "/api/v1/routes";
  const table = document.getElementById("routes-table");
  const dialog = document.getElementById("route-dialog");
  const form = document.getElementById("route-form");
  const f = form.elements;
  const DEFAULT_FORWARD = f.forwardClaims.value;
  let editing = null;

  function checkAll(name, values) {
    form.querySelectorAll('input[name="' + name + '"]').forEach(function (box) {
      box.checked = values.indexOf(box.value) >= 0;
    });
  }
  function checked(name) {
    return Array.from(form.querySelectorAll('input[name="' + name + '"]:checked')).map(function (b) { return b.value; });
  }

  function open(route) {
    form.reset();
    P.clearErrors(form);
    editing = route ? { id: route.id, version: route.version } : null;
    document.getElementById("route-dialog-title").textContent = route ? "Edit " + route.name : "Add route";
    f.forwardClaims.value = DEFAULT_FORWARD;
    f.claims.value = "[]";
    if (route) {
      const m = route.match || {};
      const policy = route.policy || {};
      f.name.value = route.name;
      f.host.value = m.host || "";
      f.path.value = m.exactPath || m.pathPrefix || "";
      form.querySelector('input[name="pathKind"][value="' + (m.exactPath ? "exact" : "prefix") + '"]').checked = true;
      checkAll("methods", m.methods || []);
      f.upstream.value = route.upstream || "";
      checkAll("credentials", policy.credentials || []);
      checkAll("servers", policy.servers || []);
      f.allOf.value = ((policy.scopes || {}).allOf || []).join(" ");
      f.anyOf.value = ((policy.scopes || {}).anyOf || []).join(" ");
      f.claims.value = JSON.stringify(policy.claims || [], null, 2);
      f.forwardClaims.value = Object.keys(policy.forwardClaims || {}).map(function (h) { return h + ": " + policy.forwardClaims[h]; }).join("\n");
      f.keepAuthorization.checked = !!policy.keepAuthorization;
    }
    dialog.showModal();
    f.name.focus();
  }

  // Builds the API body; a claim-rules text that is not JSON is reported on its field here,
  // because it never reaches the API.
  function body() {
    let claims;
    try {
      claims = JSON.parse(f.claims.value.trim() || "[]");
    } catch (err) {
      return { error: { status: 422, data: { message: "some fields are invalid", fields: { "policy.claims": "not valid JSON: " + err.message } } } };
    }
    const forward = {};
    const bad = [];
    f.forwardClaims.value.split("\n").map(function (l) { return l.trim(); }).filter(Boolean).forEach(function (line) {
      const at = line.indexOf(":");
      if (at <= 0) { bad.push(line); return; }
      forward[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    });
    if (bad.length) {
      return { error: { status: 422, data: { message: "some fields are invalid", fields: { "policy.forwardClaims": "write one Header: claim per line (not: " + bad.join(", ") + ")" } } } };
    }
    const exact = form.querySelector('input[name="pathKind"]:checked').value === "exact";
    const path = f.path.value.trim();
    const out = {
      name: f.name.value.trim(),
      match: {
        host: f.host.value.trim() || null,
        pathPrefix: exact ? null : (path || null),
        exactPath: exact ? (path || null) : null,
        methods: checked("methods"),
      },
      upstream: f.upstream.value.trim() || null,
      policy: {
        credentials: checked("credentials"),
        servers: checked("servers"),
        scopes: { allOf: P.words(f.allOf.value), anyOf: P.words(f.anyOf.value) },
        claims: claims,
        forwardClaims: forward,
        keepAuthorization: f.keepAuthorization.checked,
      },
    };
    return { body: out };
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const built = body();
    if (built.error) { P.showErrors(form, built.error); return; }
    let result;
    if (editing) {
      built.body.version = editing.version;
      result = await P.api("PUT", API + "/" + encodeURIComponent(editing.id), built.body);
    } else {
      result = await P.api("POST", API, built.body);
    }
    if (result.ok) {
      dialog.close();
      P.flashAfterReload("Saved route " + result.data.name + ".");
    } else {
      P.showErrors(form, result);
    }
  });
  document.getElementById("route-cancel").addEventListener("click", function () { P.dismiss(dialog); });
  const add = document.getElementById("add-route");
  if (add) add.addEventListener("click", function () { open(null); });

  table.tBodies[0].addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const path = API + "/" + encodeURIComponent(row.dataset.id);
    if (button.dataset.action === "edit") {
      const result = await P.api("GET", path);
      if (result.ok) open(result.data); else P.showAlert(P.errorText(result), true);
    } else if (button.dataset.action === "delete") {
      const yes = await P.confirm("Delete the route “" + row.dataset.name + "”? Requests it matched fall to a less specific route, or are denied.", "Delete " + row.dataset.name);
      if (!yes) return;
      const result = await P.api("DELETE", path);
      if (result.ok) P.flashAfterReload("Deleted route " + row.dataset.name + ".");
      else P.showAlert(P.errorText(result), result.status === 404);
    }
  });
})();
