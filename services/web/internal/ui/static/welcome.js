// The success page: follows provisioning over server-sent events, then
// reveals the API key once to this browser (which holds the checkout's
// nonce in an HttpOnly cookie) and is signed in by the same answer.
"use strict";
(function () {
  const root = document.getElementById("welcome");
  const session = root.dataset.session;
  const canReveal = root.dataset.canReveal === "true";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const steps = document.getElementById("steps");
  const status = document.getElementById("progress-status");
  const labels = { database: "Database", compute: "Compute", workspace: "Workspace", instance: "Instance check", prepare: "Preparing compute" };
  const items = {};

  function showStep(s) {
    const key = s.name + (s.compensation ? "/undo" : "");
    let li = items[key];
    if (!li) {
      li = document.createElement("li");
      items[key] = li;
      steps.appendChild(li);
    }
    const label = (labels[s.name] || s.name) + (s.compensation ? " (undone)" : "");
    li.dataset.status = s.status;
    li.textContent = label + ": " + s.status;
    status.textContent = label + " " + s.status;
  }

  async function reveal(attempt) {
    const resp = await fetch("/welcome/reveal", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ session_id: session }),
    });
    if (resp.status === 409 && attempt < 50) {
      setTimeout(() => reveal(attempt + 1), 200);
      return;
    }
    if (!resp.ok) {
      document.getElementById("key-gone").hidden = false;
      return;
    }
    const body = await resp.json();
    document.getElementById("api-key").value = body.api_key;
    document.getElementById("instance-url").textContent = body.instance_url;
    document.getElementById("key-box").hidden = false;
  }

  document.getElementById("copy-key").addEventListener("click", () => {
    const input = document.getElementById("api-key");
    input.select();
    if (navigator.clipboard) navigator.clipboard.writeText(input.value).catch(() => {});
  });

  const es = new EventSource("/welcome/events?session_id=" + encodeURIComponent(session));
  es.addEventListener("step", (e) => showStep(JSON.parse(e.data)));
  es.addEventListener("ready", () => {
    es.close();
    status.textContent = "Ready";
    document.getElementById("ready").hidden = false;
    if (canReveal) reveal(0); else document.getElementById("key-gone").hidden = false;
  });
  es.addEventListener("failed", (e) => {
    es.close();
    status.textContent = "Failed";
    document.getElementById("failure-reason").textContent = JSON.parse(e.data).reason;
    document.getElementById("failed").hidden = false;
  });
})();
