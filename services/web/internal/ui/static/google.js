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
    if (!resp.ok) throw new Error(data.error || ("error " + resp.status));
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
  google("GET").then(show).catch((e) => { $("google-state").textContent = e.message; });
})();
