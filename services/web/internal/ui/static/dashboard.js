// The dashboard: every call goes to /app/api/... on this origin; the web
// app adds the instance credential server-side. State-changing calls carry
// the session's CSRF token.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  // send is fetch that rides out rate limits: every tab of a customer's
  // dashboard shares one budget at the instance (5 requests a second, a
  // burst of 30), and a page load alone spends about ten. A 429 is refused
  // before anything runs, so any request may be sent again once the
  // Retry-After has passed; after three refusals the error reaches the page.
  async function send(path, opts) {
    for (let attempt = 1; ; attempt++) {
      const resp = await fetch(path, opts);
      if (resp.status !== 429 || attempt === 3) return resp;
      const wait = Math.min(10, Math.max(1, Number(resp.headers.get("Retry-After")) || 1));
      await new Promise((done) => setTimeout(done, wait * 1000));
    }
  }

  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": csrf } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await send(path, opts);
    let data = null;
    if (resp.status !== 204 && (resp.headers.get("Content-Type") || "").includes("json")) data = await resp.json();
    if (!resp.ok) throw new Error((data && data.error) || ("error " + resp.status));
    return data;
  }
  const inst = (method, path, body) => api(method, "/app/api/instance/" + path, body);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  }
  const day = (t) => (t ? new Date(t).toLocaleString() : "never");

  // --- instance state and health -------------------------------------
  async function refreshState() {
    try {
      const a = await api("GET", "/app/api/account");
      $("state").textContent = a.state;
      $("state").className = "badge " + a.state;
      $("plan-name").textContent = a.plan_name || a.plan;
      const h = await api("GET", "/app/api/health");
      $("health").textContent = h.health === "ok" ? "healthy" : h.health;
      $("health").className = "badge " + h.health;
    } catch (e) { $("health").textContent = "unknown"; }
  }

  // --- the OpenClaw Control UI: offered when the instance runs OpenClaw -
  async function loadEngine() {
    const st = await inst("GET", "status");
    $("control-ui").hidden = st.engine !== "openclaw";
    $("control-ui").dataset.engine = st.engine;
  }

  // --- chat -----------------------------------------------------------
  let conversation = null;
  function bubble(who, text) {
    const span = el("span", {}, text);
    const div = el("div", { class: "msg " + who }, span);
    $("chat-log").append(div);
    $("chat-log").scrollTop = $("chat-log").scrollHeight;
    return span;
  }
  // Tool activity shows above the answer it leads to: one line per call,
  // updated as it runs and ends.
  const toolLines = {};
  function toolActivity(answer, t) {
    let line = toolLines[t.id];
    if (!line) {
      line = el("div", { class: "tool", role: "status" });
      toolLines[t.id] = line;
      answer.parentElement.before(line);
    }
    const took = t.duration_ms ? " (" + t.duration_ms + " ms)" : "";
    line.textContent = "⚙ " + t.name + ": " + t.status + took;
    line.dataset.status = t.status;
  }
  $("chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("chat-input");
    const message = input.value.trim();
    if (!message) return;
    input.value = "";
    $("chat-error").hidden = true;
    bubble("user", message);
    const answer = bubble("assistant", "");
    answer.setAttribute("data-streaming", "true");
    $("chat-send").disabled = true;
    try {
      const body = { message, stream: true };
      if (conversation) body.conversation_id = conversation;
      const resp = await send("/app/api/instance/api/chat", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "text/event-stream" },
        body: JSON.stringify(body),
      });
      if (!resp.ok || !(resp.headers.get("Content-Type") || "").includes("event-stream")) {
        let msg = "error " + resp.status;
        try { msg = (await resp.json()).error || msg; } catch (e) {}
        throw new Error(msg);
      }
      const reader = resp.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let event = "message", data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (!data) continue;
          const d = JSON.parse(data);
          if (event === "start") conversation = d.conversation_id;
          else if (event === "delta") answer.textContent += d.text;
          else if (event === "tool") toolActivity(answer, d);
          else if (event === "error") throw new Error(d.error || "the assistant failed");
        }
      }
      refreshUsage();
    } catch (e) {
      $("chat-error").textContent = e.message;
      $("chat-error").hidden = false;
    } finally {
      answer.removeAttribute("data-streaming");
      $("chat-send").disabled = false;
    }
  });

  // The latest conversation, so a reload keeps the chat in view.
  async function loadConversation() {
    const list = await inst("GET", "api/conversations?limit=1");
    if (!list.conversations || !list.conversations.length) return;
    const c = await inst("GET", "api/conversations/" + encodeURIComponent(list.conversations[0].id));
    conversation = list.conversations[0].id;
    for (const m of c.messages.slice(-50)) bubble(m.role === "user" ? "user" : "assistant", m.content);
  }

  // --- memories -------------------------------------------------------
  function memoryItem(m, highlight) {
    const text = el("span", {});
    if (highlight) text.innerHTML = highlight; // the instance escapes all but <mark>
    else text.textContent = m.content;
    const del = el("button", { type: "button", class: "small danger", "aria-label": "Delete memory: " + m.content.slice(0, 40),
      onclick: async () => { await inst("DELETE", "api/memory/" + m.id); loadMemories(); } }, "Delete");
    return el("li", {}, text, del);
  }
  async function loadMemories() {
    const list = await inst("GET", "api/memory?limit=50");
    $("memory-list").replaceChildren(...list.memories.map((m) => memoryItem(m)));
  }
  $("memory-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const tags = $("memory-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    await inst("POST", "api/memory", { content: $("memory-content").value, tags });
    $("memory-content").value = "";
    $("memory-tags").value = "";
    loadMemories();
  });
  $("memory-search").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = $("memory-q").value.trim();
    if (!q) return loadMemories();
    const res = await inst("GET", "api/memory/search?limit=50&q=" + encodeURIComponent(q));
    $("memory-list").replaceChildren(...res.results.map((h) => memoryItem(h, h.highlight)));
  });

  // --- usage ----------------------------------------------------------
  // bytes formats a size in binary units, as the plans state their caps.
  function bytes(n) {
    const units = ["bytes", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 || n >= 10 || Number.isInteger(n) ? Math.round(n) : n.toFixed(1)) + " " + units[i];
  }
  async function refreshUsage() {
    const u = await inst("GET", "api/usage");
    $("usage-text").textContent = u.total.messages.toLocaleString() + " of " + u.quota.monthly_messages.toLocaleString() +
      " messages used · " + (u.total.input_tokens + u.total.output_tokens).toLocaleString() + " tokens · resets " +
      new Date(u.quota.reset_at).toLocaleDateString();
    if (u.storage && u.storage.limit_bytes > 0) {
      const pct = Math.min(100, Math.round((u.storage.used_bytes / u.storage.limit_bytes) * 100));
      $("usage-storage").textContent = "Storage: " + bytes(u.storage.used_bytes) + " of " + bytes(u.storage.limit_bytes) +
        " (" + pct + "%) for memories and conversations" + (pct >= 90 ? " — delete some or move to a larger plan" : "");
    }
    const max = Math.max(1, ...u.days.map((d) => d.messages));
    const w = 100 / Math.max(u.days.length, 1);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 50");
    svg.setAttribute("preserveAspectRatio", "none");
    u.days.forEach((d, i) => {
      const h = (d.messages / max) * 48;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", (i * w + w * 0.1).toFixed(2));
      r.setAttribute("width", (w * 0.8).toFixed(2));
      r.setAttribute("y", (50 - h).toFixed(2));
      r.setAttribute("height", h.toFixed(2));
      const t = document.createElementNS(ns, "title");
      t.textContent = d.day + ": " + d.messages + " messages";
      r.append(t);
      svg.append(r);
    });
    $("usage-chart").replaceChildren(svg);
  }

  // --- skills ---------------------------------------------------------
  async function loadSkills() {
    const s = await inst("GET", "api/skills");
    $("skills").replaceChildren(...s.skills.map((sk) => {
      const id = "skill-" + sk.name;
      const box = el("input", { type: "checkbox", id, role: "switch" });
      box.checked = sk.enabled;
      box.addEventListener("change", async () => {
        box.disabled = true;
        try { await inst("PUT", "api/skills/" + encodeURIComponent(sk.name), { enabled: box.checked }); }
        catch (e) { box.checked = !box.checked; }
        box.disabled = false;
      });
      return el("li", { title: sk.description }, el("label", { for: id }, sk.name), box);
    }));
  }

  // --- keys -----------------------------------------------------------
  async function loadKeys() {
    const k = await inst("GET", "api/keys");
    $("key-rows").replaceChildren(...k.keys.map((key) => {
      const status = key.revoked_at ? el("span", {}, "revoked") :
        el("button", { type: "button", class: "small danger", "aria-label": "Revoke key " + key.prefix,
          onclick: async () => { await inst("DELETE", "api/keys/" + key.id); loadKeys(); } }, "Revoke");
      return el("tr", { "data-prefix": key.prefix }, el("td", {}, key.name || "—"), el("td", { class: "mono" }, key.prefix + "…"),
        el("td", {}, day(key.created_at)), el("td", {}, day(key.last_used_at)), el("td", {}, status));
    }));
  }
  $("key-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const k = await inst("POST", "api/keys", { name: $("key-name").value });
    $("key-name").value = "";
    $("new-key-value").value = k.key;
    $("new-key").hidden = false;
    loadKeys();
  });

  // --- telegram -------------------------------------------------------
  // The bot's state is read again 5 s after each read, and 1.5 s after
  // while a connected bot waits for its owner's /start, so the pairing
  // shows as it happens. Every read (a click's included) schedules the
  // next one: one timer, never two.
  let tgTimer = 0;
  async function loadTelegram() {
    let waiting = false;
    try { waiting = await showTelegram(); }
    finally {
      clearTimeout(tgTimer);
      tgTimer = setTimeout(loadTelegram, waiting ? 1500 : 5000);
    }
  }
  // showTelegram shows the bot's state and reports whether it waits for
  // its pairing.
  async function showTelegram() {
    let t;
    try { t = await inst("GET", "api/channels/telegram"); }
    catch (e) { $("tg-status").textContent = "Telegram is not available: " + e.message; return false; }
    const status = $("tg-status");
    status.className = "";
    if (!t.connected) {
      status.textContent = "No bot connected.";
    } else if (t.broken) {
      status.textContent = "@" + t.bot_username + " stopped working: " + t.broken_reason;
      status.className = "error";
    } else {
      status.textContent = "Connected to @" + t.bot_username + (t.paired ? " · paired with you" : " · waiting for pairing") +
        " · last message " + day(t.last_message_at);
    }
    if (t.paired) $("tg-pair").hidden = true;
    $("tg-form").hidden = t.connected && !t.broken;
    $("tg-disconnect").hidden = !t.connected;
    return t.connected && !t.broken && !t.paired;
  }
  $("tg-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("tg-error").hidden = true;
    $("tg-connect").disabled = true;
    try {
      const t = await inst("PUT", "api/channels/telegram", { bot_token: $("tg-token").value.trim() });
      $("tg-token").value = "";
      $("tg-pair-command").value = "/start " + t.pairing_code;
      $("tg-pair").hidden = false;
    } catch (e) {
      $("tg-error").textContent = e.message;
      $("tg-error").hidden = false;
    } finally {
      $("tg-connect").disabled = false;
    }
    loadTelegram();
  });
  $("tg-disconnect").addEventListener("click", async () => {
    await inst("DELETE", "api/channels/telegram");
    $("tg-pair").hidden = true;
    loadTelegram();
  });

  refreshState();
  setInterval(refreshState, 5000);
  Promise.allSettled([loadEngine(), loadConversation(), loadMemories(), refreshUsage(), loadSkills(), loadKeys(), loadTelegram()]);
})();
