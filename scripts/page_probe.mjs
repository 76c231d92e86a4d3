// Load one page in headless Chromium over the DevTools protocol and report what a shopper's
// phone would see: bytes transferred, paint timing, the boxes of chosen elements, the points
// of every chart, and screenshots.
//
//   node --experimental-websocket scripts/page_probe.mjs URL --width 390 --height 844 \
//        [--lang en-US] [--mobile] [--shot first.png] [--full full.png] [--select CSS ...]
//        [--open]   (opens every <details> before the screenshots, to look at folded parts)
//
// Prints one JSON object: { bytes: {total, byUrl}, paint: {fcp, fp}, nav: {...}, state,
// viewport: {width, height}, boxes: {CSS: {x, y, width, height} | null}, charts: [points...] }.
// The page's own scripts run under its CSP; the probe's expressions come in over the protocol,
// which the CSP does not govern. Node 20 needs --experimental-websocket (22+ has WebSocket).

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function parseArgs(argv) {
  const opts = { width: 390, height: 844, lang: "en-US", mobile: false, select: [], shot: null, full: null, timeout: 30000, open: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--width") opts.width = Number(argv[++i]);
    else if (a === "--height") opts.height = Number(argv[++i]);
    else if (a === "--lang") opts.lang = argv[++i];
    else if (a === "--mobile") opts.mobile = true;
    else if (a === "--shot") opts.shot = argv[++i];
    else if (a === "--full") opts.full = argv[++i];
    else if (a === "--select") opts.select.push(argv[++i]);
    else if (a === "--timeout") opts.timeout = Number(argv[++i]);
    else if (a === "--open") opts.open = true;
    else rest.push(a);
  }
  if (rest.length !== 1) throw new Error("usage: page_probe.mjs URL [options]");
  opts.url = rest[0];
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function launch(profile) {
  const bin = process.env.CHROMIUM || "chromium";
  const proc = spawn(bin, [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank",
  ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  const file = join(profile, "DevToolsActivePort");
  for (let i = 0; i < 300 && !existsSync(file); i++) await sleep(50);
  if (!existsSync(file)) { proc.kill(); throw new Error("chromium did not start: " + stderr.slice(-2000)); }
  let port = "";
  for (let i = 0; i < 100 && !port; i++) { port = readFileSync(file, "utf8").split("\n")[0]; if (!port) await sleep(50); }
  return { proc, port };
}

function connect(wsUrl) {
  const ws = new WebSocket(wsUrl);
  let next = 1;
  const pending = new Map();
  const listeners = [];
  ws.onmessage = (msg) => {
    const data = JSON.parse(msg.data);
    if (data.id && pending.has(data.id)) {
      const { resolve, reject } = pending.get(data.id);
      pending.delete(data.id);
      data.error ? reject(new Error(JSON.stringify(data.error))) : resolve(data.result);
    } else if (data.method) {
      for (const l of listeners) l(data);
    }
  };
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = next++;
    pending.set(id, { resolve, reject });
    ws.send(JSON.stringify({ id, method, params }));
  });
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve({ ws, send, on: (f) => listeners.push(f) });
    ws.onerror = (e) => reject(new Error("websocket: " + e.message));
  });
}

async function evaluate(cdp, expression) {
  const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error("evaluate: " + JSON.stringify(r.exceptionDetails));
  return r.result.value;
}

async function probe(opts) {
  const profile = mkdtempSync(join(tmpdir(), "page-probe-"));
  const { proc, port } = await launch(profile);
  try {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    const page = targets.find((t) => t.type === "page");
    const cdp = await connect(page.webSocketDebuggerUrl);
    const bytes = new Map();
    const urls = new Map();
    let loaded = false;
    cdp.on((m) => {
      if (m.method === "Network.responseReceived") urls.set(m.params.requestId, m.params.response.url);
      if (m.method === "Network.loadingFinished") {
        const url = urls.get(m.params.requestId) || m.params.requestId;
        bytes.set(url, (bytes.get(url) || 0) + m.params.encodedDataLength);
      }
      if (m.method === "Page.loadEventFired") loaded = true;
    });
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await cdp.send("Page.enable");
    await cdp.send("Runtime.enable");
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: opts.width, height: opts.height, deviceScaleFactor: 1, mobile: opts.mobile,
    });
    await cdp.send("Emulation.setUserAgentOverride", {
      userAgent: opts.mobile ? "Mozilla/5.0 (Linux; Android 14) Mobile page-probe" : "Mozilla/5.0 page-probe",
      acceptLanguage: opts.lang,
    });
    await cdp.send("Network.setExtraHTTPHeaders", { headers: { "Accept-Language": opts.lang } });
    await cdp.send("Page.navigate", { url: opts.url });
    const deadline = Date.now() + opts.timeout;
    while (!loaded && Date.now() < deadline) await sleep(25);
    // The badge fetches and checks the bundle after load; wait until it settles.
    let state = null;
    while (Date.now() < deadline) {
      state = await evaluate(cdp, `(() => { const p = document.querySelector('#proof'); return p ? p.dataset.state : 'none'; })()`);
      if (!["idle", "verifying"].includes(state)) break;
      await sleep(100);
    }
    await sleep(100);
    const report = await evaluate(cdp, `(() => {
      const paint = {};
      for (const e of performance.getEntriesByType('paint')) paint[e.name] = e.startTime;
      const nav = performance.getEntriesByType('navigation')[0] || {};
      const boxes = {};
      for (const sel of ${JSON.stringify(opts.select)}) {
        const el = document.querySelector(sel);
        if (!el) { boxes[sel] = null; continue; }
        const r = el.getBoundingClientRect();
        boxes[sel] = { x: r.x, y: r.y, width: r.width, height: r.height,
                       visible: r.width > 0 && r.height > 0 && getComputedStyle(el).visibility !== 'hidden' };
      }
      const charts = [...document.querySelectorAll('svg.chart')].map((svg) => {
        const lines = [...svg.querySelectorAll('polyline.series:not(.hot):not(.spike)')];
        const points = lines.reduce((n, l) => n + l.getAttribute('points').trim().split(/\\s+/).filter(Boolean).length, 0);
        return { id: svg.getAttribute('aria-labelledby') || '', points, lines: lines.length,
                 title: (svg.querySelector('title') || {}).textContent || '' };
      });
      return { paint: { fp: paint['first-paint'] ?? null, fcp: paint['first-contentful-paint'] ?? null },
               nav: { responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, transferSize: nav.transferSize },
               viewport: { width: innerWidth, height: innerHeight }, scrollHeight: document.documentElement.scrollHeight,
               lang: document.documentElement.lang, title: document.title, boxes, charts };
    })()`);
    if (opts.open) {
      // Open every folded part (sensor details, place identifiers) to look at them.
      await evaluate(cdp, "document.querySelectorAll('details').forEach((d) => { d.open = true; })");
      await sleep(200);
    }
    if (opts.shot) {
      const s = await cdp.send("Page.captureScreenshot", { format: "png" });
      writeFileSync(opts.shot, Buffer.from(s.data, "base64"));
    }
    if (opts.full) {
      const s = await cdp.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
      writeFileSync(opts.full, Buffer.from(s.data, "base64"));
    }
    const byUrl = Object.fromEntries(bytes);
    const total = [...bytes.values()].reduce((a, b) => a + b, 0);
    cdp.ws.close();
    return { url: opts.url, state, bytes: { total, byUrl }, ...report };
  } finally {
    // Chromium's helper processes share its process group: end them all before removing the profile.
    const exited = new Promise((r) => { if (proc.exitCode !== null) r(); else proc.on("exit", r); });
    try { process.kill(-proc.pid, "SIGTERM"); } catch { /* already gone */ }
    await exited;
    await sleep(200);
    try { process.kill(-proc.pid, "SIGKILL"); } catch { /* already gone */ }
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

const opts = parseArgs(process.argv.slice(2));
probe(opts).then(
  (r) => { process.stdout.write(JSON.stringify(r) + "\n"); },
  (e) => { process.stderr.write(String(e.stack || e) + "\n"); process.exit(1); },
);
