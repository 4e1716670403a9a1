// The customer web app, end to end in a real browser: Playwright
// (playwright-core) driving Debian's Chromium headless against a running
// platform (BASE_URL). Started by TestWebApp (cmd/clawctl/internal/platform),
// which runs the whole platform with a test model server; run by hand with
//   BASE_URL=http://127.0.0.1:3000 node web.test.mjs [--bench N]
// A failing step saves a screenshot into ARTIFACTS (default ./artifacts) and
// exits non-zero. The last line is "FIGURES {json}".
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BASE = process.env.BASE_URL || "http://127.0.0.1:3000";
const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const BENCH = Number(process.argv[process.argv.indexOf("--bench") + 1]) || 0;
const REPLY = process.env.MODEL_REPLY || "Hello from the test model.";
const TG_CONTROL = process.env.TELEGRAM_CONTROL_URL;
const TG_TOKEN = process.env.TELEGRAM_BOT_TOKEN;
const figures = {};
let current = "start";
let pages = [];

function check(cond, what) { if (!cond) throw new Error("expected: " + what); }
async function step(name, fn) {
  current = name;
  const t0 = performance.now();
  await fn();
  console.log(`ok   ${name} (${Math.round(performance.now() - t0)} ms)`);
}
async function fetchStatus(url, key) {
  const resp = await fetch(url + "/status", { headers: key ? { Authorization: "Bearer " + key } : {} });
  return resp.status;
}
// tgOwner plays the bot's owner in Telegram through the test's control
// server: send a message, or read what the bot sent.
async function tgOwner(what, text) {
  const resp = what === "send"
    ? await fetch(TG_CONTROL + "/send", { method: "POST", body: JSON.stringify({ text }) })
    : await fetch(TG_CONTROL + "/sent");
  check(resp.ok, "the Telegram control server answers: " + resp.status);
  return resp.status === 204 ? null : resp.json();
}
async function until(what, fn, ms = 20000) {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (performance.now() - t0 > ms) throw new Error("timed out: " + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
function median(xs) { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

// signUp goes from the landing page through the dev checkout to the ready
// success page and returns what it saw.
async function signUp(page, plan, email, name) {
  await page.goto(BASE + "/");
  const t0 = performance.now();
  await page.getByRole("link", { name: "Start free trial of " + plan }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Name").fill(name);
  let navigations = 0;
  const onNav = (f) => { if (f === page.mainFrame()) navigations++; };
  await page.getByRole("button", { name: "Complete dev checkout" }).click();
  await page.waitForURL(/\/welcome\?session_id=cs_/);
  page.on("framenavigated", onNav);
  await page.getByRole("heading", { name: "Your assistant is ready" }).waitFor({ timeout: 60_000 });
  const keyBox = page.getByLabel("API key");
  await keyBox.waitFor();
  await page.waitForFunction(() => document.getElementById("api-key").value.startsWith("claw_"));
  const readyMs = performance.now() - t0;
  page.off("framenavigated", onNav);
  const key = await keyBox.inputValue();
  const instance = await page.locator("#instance-url").textContent();
  const steps = await page.locator("#steps li").allTextContents();
  const session = new URL(page.url()).searchParams.get("session_id");
  return { key, instance, steps, navigations, readyMs, session, welcomeURL: page.url() };
}

async function noHorizontalScroll(page, what) {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(over <= 1, `${what} fits a ${page.viewportSize().width}px window (overflows by ${over}px)`);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const a = await ctxA.newPage();
  pages.push(a);
  const external = [];
  a.on("request", (r) => { if (!r.url().startsWith(BASE) && !r.url().startsWith("data:")) external.push(r.url()); });

  let first;
  await step("landing shows the three plans", async () => {
    await a.goto(BASE + "/");
    for (const p of ["Starter", "Pro", "Team"]) await a.getByRole("heading", { name: p, exact: true }).waitFor();
    check(await a.getByRole("link", { name: /Start free trial/ }).count() === 3, "three Start free trial buttons");
    check((await a.textContent("body")).includes("20,000 messages a month"), "Pro's monthly messages");
  });
  await step("dev checkout → live progress → key shown once", async () => {
    first = await signUp(a, "Pro", "ada@example.com", "Ada Lovelace");
    check(first.key.startsWith("claw_"), "a claw_ key");
    check(first.navigations === 0, "progress without page reloads (" + first.navigations + " navigations)");
    check(first.steps.length >= 3 && first.steps.every((s) => s.endsWith("done")), "every step done: " + first.steps.join(", "));
    check(await fetchStatus(first.instance, first.key) === 200, "the key opens the instance");
    check(await fetchStatus(first.instance, "claw_" + "x".repeat(43)) === 401, "a made-up key is refused");
    figures.signup_to_ready_ms = [Math.round(first.readyMs)];
  });
  await step("a reload does not show the key again", async () => {
    await a.reload();
    await a.getByText("Your API key was already shown").waitFor();
    check(await a.locator("#key-box").isHidden(), "key box hidden");
    check(!(await a.content()).includes(first.key), "the key is nowhere in the page");
  });
  await step("dashboard: state and health", async () => {
    await a.getByRole("link", { name: "Open your dashboard" }).click();
    await a.waitForURL(/\/dashboard/);
    await a.locator("#state", { hasText: "active" }).waitFor();
    await a.locator("#health", { hasText: "healthy" }).waitFor();
  });
  await step("chat streams an answer", async () => {
    await a.getByLabel("Message", { exact: true }).fill("Hello, who are you?");
    const t0 = performance.now();
    await a.getByRole("button", { name: "Send" }).click();
    const bubble = a.locator(".msg.assistant span").last();
    await a.waitForFunction(() => { const b = [...document.querySelectorAll(".msg.assistant span")].pop(); return b && b.textContent.length > 0; });
    figures.first_token_ms = Math.round(performance.now() - t0);
    await a.waitForFunction(() => !document.querySelector("[data-streaming]"));
    check((await bubble.textContent()) === REPLY, "the model's reply, whole");
    check(await a.locator("#chat-error").isHidden(), "no chat error");
  });
  await step("memory added, found with highlights, deleted", async () => {
    await a.getByLabel("New memory").fill("Ada drinks green tea every morning");
    await a.getByLabel("Tags (comma-separated)").fill("drinks, habits");
    await a.getByRole("button", { name: "Add memory" }).click();
    await a.getByRole("listitem").filter({ hasText: "green tea" }).waitFor();
    await a.getByLabel("Search memories").fill("tea");
    await a.getByRole("button", { name: "Search" }).click();
    await a.locator("#memory-list mark", { hasText: /tea/i }).first().waitFor();
    await a.getByLabel("New memory").fill("Ada's cat is called Babbage");
    await a.getByRole("button", { name: "Add memory" }).click();
    await a.getByRole("listitem").filter({ hasText: "Babbage" }).waitFor();
    await a.getByRole("button", { name: /Delete memory: Ada's cat/ }).click();
    await a.getByRole("listitem").filter({ hasText: "Babbage" }).waitFor({ state: "detached" });
  });
  await step("the assistant uses a tool, and the chat shows it", async () => {
    await a.getByLabel("Message", { exact: true }).fill("What do I drink in the morning?");
    await a.getByRole("button", { name: "Send" }).click();
    await a.locator(".tool", { hasText: "memory_search: done" }).waitFor();
    await a.waitForFunction(() => !document.querySelector("[data-streaming]"));
    const answer = await a.locator(".msg.assistant span").last().textContent();
    check(answer.startsWith("From your memories:") && answer.includes("green tea"), "an answer built on the tool's result: " + answer);
  });
  await step("usage this month", async () => {
    await a.locator("#usage-text", { hasText: "2 of 20,000 messages used" }).waitFor();
    check(await a.locator("#usage-chart rect").count() >= 1, "a bar per day");
    // Pro's storage cap, with the chat and the memory above counted.
    const storage = await a.locator("#usage-storage", { hasText: " of 1 GiB (0%) for memories and conversations" }).textContent();
    check(!storage.startsWith("Storage: 0 bytes"), "the chat and memories count against storage: " + storage);
  });
  await step("skills switch", async () => {
    const sw = a.getByRole("switch", { name: "browser" });
    await sw.waitFor();
    check(await sw.isChecked(), "browser on by default on Pro");
    await sw.uncheck();
    await a.waitForFunction(() => !document.getElementById("skill-browser").disabled);
    await a.reload();
    await a.getByRole("switch", { name: "browser" }).waitFor();
    check(!(await a.getByRole("switch", { name: "browser" }).isChecked()), "browser stays off after a reload");
  });
  await step("API key created, used, revoked, refused within 5 s", async () => {
    await a.getByLabel("Key name").fill("ci");
    await a.getByRole("button", { name: "Create key" }).click();
    await a.waitForFunction(() => document.getElementById("new-key-value").value.startsWith("claw_"));
    const key = await a.getByLabel("New API key").inputValue();
    check(await fetchStatus(first.instance, key) === 200, "the new key works");
    const prefix = key.slice(0, 12);
    const row = a.locator(`tr[data-prefix="${prefix}"]`);
    await row.waitFor();
    await a.getByRole("button", { name: "Revoke key " + prefix }).click();
    const t0 = performance.now();
    let status = 200;
    while (performance.now() - t0 < 5000 && status !== 401) {
      status = await fetchStatus(first.instance, key);
      if (status !== 401) await new Promise((r) => setTimeout(r, 50));
    }
    figures.revoke_refused_ms = Math.round(performance.now() - t0);
    check(status === 401, "the revoked key is refused within 5 s");
    await row.getByText("revoked").waitFor();
    check(await fetchStatus(first.instance, first.key) === 200, "the first key still works");
  });
  await step("workspace export downloads", async () => {
    const [dl] = await Promise.all([a.waitForEvent("download"), a.getByRole("link", { name: "Download workspace export" }).click()]);
    const path = await dl.path();
    const { statSync } = await import("node:fs");
    check(statSync(path).size > 100, "a non-empty export");
  });
  await step("the dashboard rides out the instance's rate limit", async () => {
    // Spend the budget every tab of this customer's dashboard shares at the
    // instance, then search: the dashboard waits out the Retry-After.
    const codes = await a.evaluate(() => Promise.all(Array.from({ length: 40 }, () =>
      fetch("/app/api/instance/api/usage", { credentials: "same-origin" }).then((r) => r.status))));
    check(codes.includes(429) && codes.includes(200), "40 requests at once meet the limit: " + codes.join(","));
    check(await a.locator("#memory-list mark").count() === 0, "no highlights before the search");
    await a.getByLabel("Search memories").fill("green");
    await a.getByRole("button", { name: "Search" }).click();
    await a.locator("#memory-list mark", { hasText: /green/i }).first().waitFor({ timeout: 15000 });
  });
  await step("Telegram: a bot connected from the dashboard, paired, answering its owner", async () => {
    check(TG_CONTROL && TG_TOKEN, "TELEGRAM_CONTROL_URL and TELEGRAM_BOT_TOKEN are set (TestWebApp sets them)");
    await a.locator("#tg-status", { hasText: "No bot connected" }).waitFor();
    await a.getByLabel("Bot token from @BotFather").fill("not a token");
    await a.getByRole("button", { name: "Connect bot", exact: true }).click();
    await a.locator("#tg-error", { hasText: "not a BotFather token" }).waitFor();
    await a.getByLabel("Bot token from @BotFather").fill(TG_TOKEN);
    await a.getByRole("button", { name: "Connect bot", exact: true }).click();
    await a.waitForFunction(() => document.getElementById("tg-pair-command").value.startsWith("/start "));
    await a.locator("#tg-status", { hasText: "@web_e2e_bot · waiting for pairing" }).waitFor();
    check(!(await a.content()).includes(TG_TOKEN), "the token is not on the page");
    const tp = performance.now();
    await tgOwner("send", await a.getByLabel("Pairing message").inputValue());
    await a.locator("#tg-status", { hasText: "paired with you" }).waitFor({ timeout: 15000 });
    figures.telegram_paired_shown_ms = Math.round(performance.now() - tp);
    const t0 = performance.now();
    await tgOwner("send", "Hello from Telegram");
    await until("the reply on Telegram", async () => (await tgOwner("sent")).includes(REPLY));
    figures.telegram_reply_ms = Math.round(performance.now() - t0);
    await a.locator("#tg-status", { hasText: /last message (?!never)/ }).waitFor({ timeout: 15000 });
    await a.getByRole("button", { name: "Disconnect bot" }).click();
    await a.locator("#tg-status", { hasText: "No bot connected" }).waitFor();
  });
  await step("page weight of the dashboard", async () => {
    const bodies = [];
    const onResp = async (r) => { if (r.url().startsWith(BASE) && !r.url().includes("/app/api/")) { try { bodies.push(await r.body()); } catch (e) {} } };
    a.on("response", onResp);
    await a.goto(BASE + "/dashboard", { waitUntil: "networkidle" });
    a.off("response", onResp);
    const raw = bodies.reduce((n, b) => n + b.length, 0);
    const gz = bodies.reduce((n, b) => n + gzipSync(b).length, 0);
    figures.dashboard_kb = { uncompressed: +(raw / 1024).toFixed(1), gzip: +(gz / 1024).toFixed(1), files: bodies.length };
    check(external.length === 0, "no request leaves the platform: " + external.join(", "));
  });
  if (process.env.GOOGLE_URL) await step("Connect Google: consent, callback, connected; disconnect", async () => {
    await a.goto(BASE + "/dashboard");
    await a.locator("#google-state", { hasText: "Not connected." }).waitFor();
    const t0 = performance.now();
    await a.getByRole("button", { name: "Connect Google", exact: true }).click();
    await a.waitForURL((u) => u.href.startsWith(process.env.GOOGLE_URL + "/o/oauth2/v2/auth"));
    await a.getByRole("button", { name: "Allow" }).click();
    await a.waitForURL(/\/dashboard\?google=connected/);
    await a.locator("#google-state", { hasText: "Connected as ada@example.com." }).waitFor();
    figures.google_connect_ms = Math.round(performance.now() - t0);
    console.log(`google: Connect Google clicked → connected in ${figures.google_connect_ms} ms`);
    await a.getByText("Google is connected.").waitFor();
    await a.getByRole("button", { name: "Disconnect Google" }).click();
    await a.locator("#google-state", { hasText: "Not connected." }).waitFor();
  });
  await step("sign out, then sign in through the dev mailbox", async () => {
    await a.getByRole("button", { name: "Sign out" }).click();
    await a.waitForURL(BASE + "/");
    await a.goto(BASE + "/dashboard");
    await a.waitForURL(/\/signin$/);
    await a.getByLabel("Email").fill("ada@example.com");
    await a.getByRole("button", { name: "Email me a sign-in link" }).click();
    await a.getByRole("heading", { name: "Check your mail" }).waitFor();
    await a.goto(BASE + "/dev/mail");
    const link = await a.getByRole("link", { name: "Open the link in this mail" }).first().getAttribute("href");
    await a.goto(link);
    await a.getByRole("button", { name: "Sign in" }).click();
    await a.waitForURL(/\/dashboard/);
    await a.getByRole("listitem").filter({ hasText: "green tea" }).waitFor();
    await a.goto(link);
    await a.getByText("expired or was already used").waitFor();
  });

  // A second customer, on a phone-sized window.
  const ctxB = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const b = await ctxB.newPage();
  pages.push(b);
  let second;
  await step("a second customer signs up on a phone", async () => {
    await b.goto(BASE + "/");
    await noHorizontalScroll(b, "the landing page");
    second = await signUp(b, "Starter", "grace@example.com", "Grace Hopper");
    check(second.key !== first.key, "another key");
    check(await fetchStatus(first.instance, second.key) === 401, "B's key does not open A's instance");
    await b.getByRole("link", { name: "Open your dashboard" }).click();
    await b.locator("#state", { hasText: "active" }).waitFor();
    await noHorizontalScroll(b, "the dashboard");
    check(await b.getByRole("switch", { name: "browser" }).count() === 0, "Starter has no browser skill");
  });
  await step("the second customer cannot reach the first one's pages or data", async () => {
    const resp = await b.goto(first.welcomeURL);
    check(resp.status() === 404, "A's success page is 404 for B (got " + resp.status() + ")");
    const events = await b.request.get(BASE + "/welcome/events?session_id=" + first.session);
    check(events.status() === 404, "A's provisioning events are 404 for B");
    const csrf = await b.locator('meta[name="csrf-token"]').getAttribute("content");
    const rev = await b.request.post(BASE + "/welcome/reveal", { headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" }, data: { session_id: first.session } });
    check(rev.status() === 403, "revealing A's key is 403 for B (got " + rev.status() + ")");
    const mem = await b.request.get(BASE + "/app/api/instance/api/memory");
    check(mem.ok() && !(await mem.text()).includes("green tea"), "B's memory API shows B's data only");
    const noCSRF = await b.request.post(BASE + "/app/api/instance/api/keys", { headers: { "Content-Type": "application/json" }, data: { name: "x" } });
    check(noCSRF.status() === 403, "a write without the CSRF token is 403");
    const anon = await browser.newContext();
    const r = await anon.request.get(BASE + "/app/api/instance/api/memory");
    check(r.status() === 401, "no session, no data (got " + r.status() + ")");
    await anon.close();
  });
  await step("dev billing: plan change follows through", async () => {
    await b.goto(BASE + "/dashboard");
    await b.getByLabel("New plan").selectOption("pro");
    await b.getByRole("button", { name: "Change plan" }).click();
    await b.waitForURL(/\/dashboard/);
    await b.locator("#plan-name", { hasText: "Pro" }).waitFor({ timeout: 30_000 });
  });

  if (BENCH > 1) {
    await step(`bench: ${BENCH} signups`, async () => {
      for (let i = 1; i < BENCH; i++) {
        const ctx = await browser.newContext();
        const p = await ctx.newPage();
        const r = await signUp(p, "Starter", `bench${i}@example.com`, "Bench");
        figures.signup_to_ready_ms.push(Math.round(r.readyMs));
        await ctx.close();
      }
    });
  }
  figures.signup_to_ready_median_ms = median(figures.signup_to_ready_ms);
} catch (err) {
  failed = true;
  console.error(`FAIL ${current}: ${err.message}`);
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [i, p] of pages.entries()) {
    const file = join(ARTIFACTS, `failure-${current.replace(/[^a-z0-9]+/gi, "-")}-${i}.png`);
    try { await p.screenshot({ path: file, fullPage: true }); console.error("screenshot: " + file); } catch (e) {}
  }
} finally {
  await browser.close();
}
console.log("FIGURES " + JSON.stringify(figures));
process.exit(failed ? 1 : 0);
