/**
 * The verification badge of the consumer's page: fetch the lot's bundle, verify it on this
 * device with WebCrypto (bundle.js), and show what was verified or exactly what failed.
 *
 * Reads the `#proof` section rendered by farmtrace/api/services/page/render.py (its docstring holds the contract):
 * `data-bundle-url`, `data-verifier-key` (the chain's current key), `data-retired-keys` (its
 * older keys, space-separated: a bundle made before a key rotation, or before the gateway signed
 * with the new key, carries a checkpoint one of them signed), `data-readings`, `data-events`;
 * sets `data-state` to verifying, then verified, pending, failed or unavailable, and
 * `data-first-failure` on failure.
 * All text comes from the page (already in its language) or from the verifier's messages,
 * inserted with textContent, never as HTML.
 *
 * @module
 */

import { verifyBundle } from "./bundle.js";
import { showWitnesses } from "./witnesses.js";

const MAX_FAILURES_SHOWN = 8;

/**
 * @param {HTMLElement} root
 * @param {string} state
 */
function setState(root, state) {
  root.dataset.state = state;
  for (const p of root.querySelectorAll("[data-for]")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.for !== state;
  }
}

/**
 * @param {string} template
 * @param {Record<string, string | number>} values
 */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/**
 * @param {HTMLElement} root
 * @param {string} message
 */
function unavailable(root, message) {
  setState(root, "unavailable");
  const list = /** @type {HTMLElement} */ (root.querySelector(".failures"));
  const item = document.createElement("li");
  item.textContent = message;
  list.replaceChildren(item);
  list.hidden = false;
}

/**
 * @param {HTMLElement} root
 * @param {import("./bundle.js").BundleReport} report
 */
function show(root, report) {
  const { counts } = report;
  const perCheck = {
    checkpoint: `${counts.chains}`,
    blocks: `${counts.blocks}`,
    signatures: `${report.readings.length + counts.events + counts.pending}`,
    batches: `${counts.readings + counts.events}`,
    series: `${counts.lotReadings}`,
    claims: "",
  };
  const checks = /** @type {HTMLElement} */ (root.querySelector(".checks"));
  for (const li of checks.querySelectorAll("li[data-check]")) {
    const name = /** @type {keyof typeof perCheck} */ (/** @type {HTMLElement} */ (li).dataset.check);
    const result = report.checks[name] ?? "skipped";
    /** @type {HTMLElement} */ (li).dataset.result = result;
    const mark = result === "ok" ? `✓ ${perCheck[name]}`.trim() : result === "failed" ? "✕" : "–";
    /** @type {HTMLElement} */ (li.querySelector(".result")).textContent = mark;
  }
  checks.hidden = false;
  const list = /** @type {HTMLElement} */ (root.querySelector(".failures"));
  const items = report.failures.slice(0, MAX_FAILURES_SHOWN).map((f) => {
    const li = document.createElement("li");
    li.dataset.check = f.check;
    li.textContent = f.message;
    return li;
  });
  if (report.failures.length > MAX_FAILURES_SHOWN) {
    const more = document.createElement("li");
    more.textContent = `+ ${report.failures.length - MAX_FAILURES_SHOWN}`;
    items.push(more);
  }
  let state = report.state;
  const pageReadings = Number(root.dataset.readings ?? "0");
  // Boundary readings prove a series complete; the page counts the lot's readings only.
  if (state === "verified" && pageReadings > counts.lotReadings) {
    // The page shows readings the bundle cannot prove yet (stored after the last checkpoint).
    state = "pending";
    const li = document.createElement("li");
    li.className = "info";
    li.textContent = fill(root.dataset.shortTemplate ?? "", { page: pageReadings, proved: counts.lotReadings });
    items.push(li);
  }
  list.replaceChildren(...items);
  list.hidden = items.length === 0;
  const countsLine = /** @type {HTMLElement} */ (root.querySelector(".counts"));
  if (report.ok) {
    countsLine.textContent = fill(countsLine.dataset.template ?? "", {
      readings: counts.lotReadings,
      events: counts.events,
      blocks: counts.blocks,
      size: counts.size,
    });
    countsLine.hidden = false;
  } else {
    const first = report.failures[0];
    root.dataset.firstFailure = first?.message ?? "";
    const explain = root.querySelector(`[data-explain="${first?.check}"]`);
    if (explain) /** @type {HTMLElement} */ (explain).hidden = false;
  }
  setState(root, state);
}

/** @param {HTMLElement} root */
async function run(root) {
  const url = root.dataset.bundleUrl;
  const vkey = root.dataset.verifierKey;
  if (!url || !vkey) return unavailable(root, "the page names no bundle or verifier key");
  if (!globalThis.crypto?.subtle) return unavailable(root, "WebCrypto is not available (it needs HTTPS)");
  setState(root, "verifying");
  let text;
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
    if (!response.ok) return unavailable(root, `the bundle could not be downloaded (HTTP ${response.status})`);
    text = await response.text();
  } catch (error) {
    return unavailable(root, `the bundle could not be downloaded (${/** @type {Error} */ (error).message})`);
  }
  try {
    const retired = (root.dataset.retiredKeys ?? "").split(" ").filter((k) => k !== "");
    show(root, await verifyBundle(text, [vkey, ...retired]));
    // The witness panel is extra: a failure there leaves the verdict above as it is.
    await showWitnesses(root, text, [vkey, ...retired]).catch(() => undefined);
  } catch (error) {
    // WebCrypto without Ed25519 (older browsers) ends here: say so instead of "failed".
    unavailable(root, `this browser cannot run the check: ${/** @type {Error} */ (error).message}`);
  }
}

const root = document.getElementById("proof");
if (root) void run(root);
