/**
 * The coupon page's verification badge: fetch the coupon's bundle and its campaign's bundle,
 * verify both on this device with WebCrypto (coupon_check.js over page/commerce_bundle.js), and
 * show what was checked, or the first item that failed, naming it.
 *
 * Reads `#coupon-proof` as rendered by farmtrace/api/services/campaign_page/render.py (its
 * docstring holds the contract) and the history rows `#history li[data-step]`; sets
 * `data-state` (verifying, then verified, pending, failed or unavailable) and, on failure,
 * `data-first-failure`. Text comes from the page (in its language) or from the verifier's
 * messages, inserted with textContent, never as HTML.
 *
 * @module
 */

import { checkCouponPage } from "./coupon_check.js";

/** @param {HTMLElement} root @param {string} state */
function setState(root, state) {
  root.dataset.state = state;
  for (const p of root.querySelectorAll("[data-for]")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.for !== state;
  }
}

/** @param {HTMLElement} root @param {string} message */
function unavailable(root, message) {
  setState(root, "unavailable");
  const list = /** @type {HTMLElement} */ (root.querySelector(".failures"));
  const item = document.createElement("li");
  item.textContent = message;
  list.replaceChildren(item);
  list.hidden = false;
}

/**
 * What the page shows, from its data- attributes.
 * @param {HTMLElement} root
 * @returns {import("./coupon_check.js").ShownCoupon}
 */
export function shownCoupon(root) {
  const d = root.dataset;
  const rows = [...document.querySelectorAll("#history li[data-step]")].map((li) => {
    const r = /** @type {HTMLElement} */ (li).dataset;
    return { kind: r.kind ?? "", state: r.state ?? "", holderFingerprint: r.holderFingerprint ?? "", price: r.price ?? "" };
  });
  return {
    coupon: d.coupon ?? "",
    status: d.status ?? "",
    holderFingerprint: d.holderFingerprint ?? "",
    totals: {
      issued: Number(d.issued),
      redeemed: Number(d.redeemed),
      voided: Number(d.voided),
      outstanding: Number(d.outstanding),
    },
    cap: Number(d.cap),
    history: rows,
  };
}

/** @param {string} url */
async function download(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.text();
}

/**
 * @param {HTMLElement} root
 * @param {import("./coupon_check.js").CouponPageResult} result
 */
function show(root, result) {
  for (const li of root.querySelectorAll("li[data-check]")) {
    const item = /** @type {HTMLElement} */ (li);
    const outcome = result.checks[/** @type {import("./coupon_check.js").PageCheck} */ (item.dataset.check)] ?? "skipped";
    item.dataset.result = outcome;
    /** @type {HTMLElement} */ (item.querySelector(".result")).textContent = outcome === "ok" ? "✓" : outcome === "failed" ? "✕" : "–";
  }
  const failures = /** @type {HTMLElement} */ (root.querySelector(".failures"));
  failures.replaceChildren(
    ...result.failures.map((f) => {
      const li = document.createElement("li");
      li.dataset.check = f.check;
      li.textContent = f.message;
      return li;
    }),
  );
  failures.hidden = result.failures.length === 0;
  const lines = /** @type {HTMLElement} */ (root.querySelector(".lines"));
  lines.replaceChildren(
    ...result.lines.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }),
  );
  lines.hidden = result.lines.length === 0;
  if (!result.ok) root.dataset.firstFailure = result.failures[0]?.message ?? "";
  setState(root, result.state);
}

/** @param {HTMLElement} root */
async function run(root) {
  const { bundleUrl, campaignBundleUrl, verifierKey } = root.dataset;
  if (!bundleUrl || !campaignBundleUrl || !verifierKey) return unavailable(root, "the page names no bundle or verifier key");
  if (!globalThis.crypto?.subtle) return unavailable(root, "WebCrypto is not available (it needs HTTPS)");
  setState(root, "verifying");
  let texts;
  try {
    texts = await Promise.all([download(bundleUrl), download(campaignBundleUrl)]);
  } catch (error) {
    return unavailable(root, `the bundle could not be downloaded (${/** @type {Error} */ (error).message})`);
  }
  const retired = (root.dataset.retiredKeys ?? "").split(" ").filter((k) => k !== "");
  try {
    show(root, await checkCouponPage(texts[0], texts[1], [verifierKey, ...retired], shownCoupon(root)));
  } catch (error) {
    // WebCrypto without Ed25519 (older browsers) ends here: say so instead of "failed".
    unavailable(root, `this browser cannot run the check: ${/** @type {Error} */ (error).message}`);
  }
}

const root = document.getElementById("coupon-proof");
if (root) void run(root);
