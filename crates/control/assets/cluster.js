// Cluster nodes: what GET /api/v1/cluster/nodes answers, as a table (refreshable in place).
"use strict";

(function () {
  const P = window.Portal;
  const tbody = document.querySelector("#cluster-table tbody");
  const summary = document.getElementById("cluster-summary");

  function badge(text, kind) {
    return P.el("span", { class: "badge " + kind }, text);
  }

  async function load() {
    const result = await P.api("GET", "/api/v1/cluster/nodes");
    if (!result.ok) { summary.textContent = P.errorText(result); return; }
    const items = result.data.items || [];
    tbody.textContent = "";
    let up = 0;
    items.forEach(function (n) {
      if (n.state === "up") up += 1;
      const row = tbody.insertRow();
      row.dataset.id = n.id;
      const name = row.insertCell();
      name.appendChild(P.el("span", { class: "mono" }, n.id));
      if (n.self) { name.appendChild(document.createTextNode(" ")); name.appendChild(badge("this node", "")); }
      row.insertCell().appendChild(badge(n.state, n.state === "up" ? "on" : "health-failing"));
      row.insertCell().textContent = n.address || "";
      row.insertCell().textContent = n.version || "";
      const config = row.insertCell();
      config.appendChild(document.createTextNode(String(n.configVersion) + " "));
      config.appendChild(n.configCurrent ? badge("current", "on") : badge("behind", "health-stale"));
      row.insertCell().textContent = P.utc(n.startedAt);
      row.insertCell().textContent = P.utc(n.heartbeatAt);
      const keys = row.insertCell();
      if (!(n.keyStatus || []).length) keys.appendChild(P.el("span", { class: "muted" }, "none reported"));
      (n.keyStatus || []).forEach(function (k) {
        const line = P.el("div", { class: "small-text" });
        line.appendChild(P.el("strong", {}, k.serverName || k.serverId));
        line.appendChild(document.createTextNode(": "));
        if (k.lastFetchError) {
          line.appendChild(P.el("span", { class: "error-text" }, P.plainFetchError(k.lastFetchError)));
          line.appendChild(P.techDetail(k.lastFetchError));
        } else {
          line.appendChild(document.createTextNode(k.lastSuccessfulFetchAt ? "fetched " + P.utc(k.lastSuccessfulFetchAt) : "never fetched"));
        }
        keys.appendChild(line);
      });
    });
    summary.textContent = items.length + (items.length === 1 ? " node" : " nodes") + ", " + up + " up; configuration version " + result.data.configVersion + ".";
  }

  document.getElementById("cluster-refresh").addEventListener("click", load);
  load();
})();
