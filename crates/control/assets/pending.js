// Pending changes: Activate all (POST /api/v1/status/activate) and Discard one
// (DELETE /api/v1/status/pending/{id}); the page reloads to show what is left.
"use strict";

(function () {
  const P = window.Portal;
  const activate = document.getElementById("activate-all");
  if (activate) {
    activate.addEventListener("click", async function () {
      // Exactly the changes on this page, at the versions shown: one edited or staged since is
      // refused (409) or left pending, never applied unseen.
      const changes = Array.prototype.map.call(
        document.querySelectorAll('section.change[data-activate="true"]'),
        function (section) { return { id: section.dataset.id, version: Number(section.dataset.version) }; });
      activate.disabled = true;
      const result = await P.api("POST", "/api/v1/status/activate", { changes: changes });
      activate.disabled = false;
      if (result.ok) {
        const n = (result.data.activated || []).length;
        P.flashAfterReload("Activated " + n + " change" + (n === 1 ? "" : "s") + ": they are live on every node (configuration version " + result.data.configVersion + ").");
      } else {
        P.showAlert(P.errorText(result), result.status === 409);
      }
    });
  }
  const list = document.getElementById("pending-list");
  if (list) {
    list.addEventListener("click", async function (event) {
      const button = event.target.closest("button[data-action=discard]");
      if (!button) return;
      const section = button.closest("section[data-id]");
      const yes = await P.confirm("Discard “" + button.dataset.name + "”? It will never be applied.", "Discard");
      if (!yes) return;
      const result = await P.api("DELETE", "/api/v1/status/pending/" + encodeURIComponent(section.dataset.id));
      if (result.ok) P.flashAfterReload("Discarded: " + button.dataset.name + ".");
      else P.showAlert(P.errorText(result), true);
    });
  }
})();
