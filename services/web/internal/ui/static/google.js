// Connect Google on the dashboard: shows the connection (through the
// instance proxy) and disconnects it; connecting is a plain form POST to
// /google/connect, which sends the browser to Google's consent.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  async function google(method) {
    const resp = await fetch("/app/api/instance/api/google", { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } });
    const data = await resp.json();
    if (!resp.ok) {
      const err = new Error(data.error || ("error " + resp.status));
      err.retryAfter = resp.status === 429 ? Math.min(Number(resp.headers.get("Retry-After")) || 1, 5) : 0;
      throw err;
    }
    return data;
  }
  function show(st) {
    $("google-state").textContent = st.connected
      ? (st.broken ? "Connection broken: " + st.broken : "Connected as " + st.email + ".")
      : "Not connected.";
    $("google-disconnect").hidden = !st.connected;
    $("google-connect").querySelector("button").textContent = st.connected ? "Reconnect Google" : "Connect Google";
  }
  $("google-disconnect").addEventListener("click", async () => {
    try { await google("DELETE"); show({ connected: false }); } catch (e) { $("google-state").textContent = e.message; }
  });
  // Shown once, retried when the instance's rate limit asks to wait.
  function load() {
    google("GET").then(show).catch((e) => {
      $("google-state").textContent = e.message;
      if (e.retryAfter) setTimeout(load, e.retryAfter * 1000);
    });
  }
  load();
})();
