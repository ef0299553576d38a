// Audit log: quick time ranges for the filter form (the times are UTC, like the inputs' labels).
"use strict";

(function () {
  const form = document.getElementById("audit-filters");
  const actions = form.querySelector(".filter-actions");
  function utcLocal(date) {
    // datetime-local wants "YYYY-MM-DDTHH:MM"; the page reads it as UTC.
    return date.toISOString().slice(0, 16);
  }
  [["Last hour", 3600], ["Last 24 h", 86400], ["Last 7 days", 7 * 86400]].forEach(function (range) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn";
    button.textContent = range[0];
    button.addEventListener("click", function () {
      const now = new Date();
      form.elements.from.value = utcLocal(new Date(now.getTime() - range[1] * 1000));
      form.elements.to.value = "";
      form.submit();
    });
    actions.appendChild(button);
  });
})();
