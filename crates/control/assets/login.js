// Sign-in: posts {login, password} as JSON to the API's login (the one place lockout and session
// creation live), then continues to the page the server validated as `data-next` (a local path).
"use strict";
// Whatever a previous admin left in this tab (a pasted token) goes with their session.
try { sessionStorage.clear(); } catch (_) { /* storage unavailable */ }

document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const submit = document.getElementById("login-submit");

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    error.hidden = true;
    const login = form.elements.login.value.trim();
    const password = form.elements.password.value;
    if (!login || !password) {
      error.textContent = "Enter your login ID and password.";
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    let response;
    try {
      response = await fetch("/api/v1/auth/login", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Portcullis-Interface": "admin-ui" },
        body: JSON.stringify({ login: login, password: password }),
      });
    } catch (err) {
      error.textContent = "The server could not be reached.";
      error.hidden = false;
      submit.disabled = false;
      return;
    }
    if (response.ok) {
      window.location.assign(form.dataset.next || "/portal/");
      return;
    }
    let message = "Sign-in failed (HTTP " + response.status + ").";
    try {
      const body = await response.json();
      if (body && body.message) message = body.message.charAt(0).toUpperCase() + body.message.slice(1) + ".";
    } catch (_) { /* not JSON */ }
    error.textContent = message;
    error.hidden = false;
    form.elements.password.value = "";
    form.elements.password.focus();
    submit.disabled = false;
  });
});
