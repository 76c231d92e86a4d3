/**
 * What the coupon page's badge checks, without the DOM (so node can test it): the coupon's
 * bundle and its campaign's bundle verified by the project's one verifier
 * (page/commerce_bundle.js: checkpoint, block headers, every signature, every inclusion proof,
 * the rules), the campaign's caps recounted from the campaign bundle, and the page's own
 * figures and history compared with what was verified.
 *
 * Contract: `checkCouponPage` never throws for bad bundles or a page that disagrees; it resolves
 * to a result whose `failures` hold the first failure, naming the item (the verifier's words,
 * the campaign bundle's prefixed `campaign bundle: `), and whose `lines` say what was checked.
 * It throws only what the verifier throws (a browser without Ed25519 in WebCrypto).
 *
 * @module
 */

import { couponSteps, verifyCommerceBundle } from "../page/commerce_bundle.js";

/** The checks the page lists, in the order they run. */
export const COUPON_PAGE_CHECKS = Object.freeze(["checkpoint", "blocks", "signatures", "batches", "rules", "caps", "page"]);

/**
 * What the page shows (from its data- attributes; see campaign_page/render.py).
 * @typedef {{ coupon: string, status: string, holderFingerprint: string,
 *   totals: { issued: number, redeemed: number, voided: number, outstanding: number }, cap: number,
 *   history: { kind: string, state: string, holderFingerprint: string, price: string }[] }} ShownCoupon
 * @typedef {"checkpoint" | "blocks" | "signatures" | "batches" | "rules" | "caps" | "page"} PageCheck
 * @typedef {{ ok: boolean, state: "verified" | "pending" | "failed",
 *   checks: Record<PageCheck, "ok" | "failed" | "skipped">,
 *   failures: { check: PageCheck, message: string }[], lines: string[],
 *   steps: import("../page/commerce_bundle.js").CouponStep[] }} CouponPageResult
 */

/**
 * The verifier's check names as the page lists them ("claims": the bundle's own fields, shown
 * under the rules).
 * @param {string} check
 * @returns {PageCheck}
 */
function pageCheck(check) {
  return /** @type {PageCheck} */ (check === "claims" ? "rules" : check);
}

/** @param {string} hash */
const short = (hash) => (hash.length > 16 ? `${hash.slice(0, 16)}…` : hash);

/**
 * @param {import("../page/commerce_bundle.js").CouponStep["price"]} price
 */
const priceText = (price) => (price === null ? "" : `${price.amount} ${price.currency}`);

/**
 * Verify the coupon's bundle and its campaign's bundle, then compare the page with them.
 * @param {string | object} couponBundle the coupon bundle (JSON text or parsed)
 * @param {string | object} campaignBundle the campaign bundle (JSON text or parsed)
 * @param {string[]} vkeys the chain's C2SP verifier keys (current first, then retired ones)
 * @param {ShownCoupon} shown
 * @returns {Promise<CouponPageResult>}
 */
export async function checkCouponPage(couponBundle, campaignBundle, vkeys, shown) {
  /** @type {CouponPageResult} */
  const result = {
    ok: false,
    state: "failed",
    checks: { checkpoint: "skipped", blocks: "skipped", signatures: "skipped", batches: "skipped", rules: "skipped", caps: "skipped", page: "skipped" },
    failures: [],
    lines: [],
    steps: [],
  };
  /** @param {PageCheck} check @param {string} message */
  const fail = (check, message) => {
    result.checks[check] = "failed";
    result.failures.push({ check, message });
    return result;
  };
  const coupon = await verifyCommerceBundle(couponBundle, vkeys);
  for (const name of /** @type {const} */ (["checkpoint", "blocks", "signatures", "batches", "rules"])) {
    result.checks[name] = coupon.checks[name];
  }
  result.lines.push(...coupon.lines);
  if (!coupon.ok) {
    const first = coupon.failures[0];
    return fail(pageCheck(first.check), first.message);
  }
  const found = /** @type {import("../page/commerce_bundle.js").CommerceSummary} */ (coupon.summary);

  const campaign = await verifyCommerceBundle(campaignBundle, vkeys);
  if (!campaign.ok) {
    const first = campaign.failures[0];
    result.checks.caps = "failed";
    return fail(pageCheck(first.check), `campaign bundle: ${first.message}`);
  }
  const counted = /** @type {import("../page/commerce_bundle.js").CommerceSummary} */ (campaign.summary);
  if (counted.campaign !== found.campaign) {
    return fail("caps", `campaign bundle: names campaign ${counted.campaign}, not ${found.campaign}`);
  }
  for (const key of /** @type {const} */ (["issued", "redeemed", "voided", "outstanding"])) {
    if (counted.totals[key] !== shown.totals[key]) {
      return fail("caps", `caps: the page shows ${key} ${shown.totals[key]}, the campaign bundle recounts ${counted.totals[key]}`);
    }
  }
  if (counted.cap !== shown.cap) {
    return fail("caps", `caps: the page shows cap ${shown.cap}, the campaign's signed terms say ${counted.cap}`);
  }
  result.lines.push(...campaign.lines.filter((line) => line.startsWith("caps recounted")).map((line) => `campaign bundle: ${line}`));
  result.checks.caps = "ok";

  const c = /** @type {import("../page/commerce_bundle.js").CouponFindings} */ (found.coupon);
  if (c.coupon !== shown.coupon) return fail("page", `page: shows coupon ${shown.coupon}, the bundle is for ${c.coupon}`);
  if (c.status !== shown.status) return fail("page", `page: shows the coupon ${shown.status}, the signed history leaves it ${c.status}`);
  if (c.holderFingerprint !== shown.holderFingerprint) {
    return fail("page", `page: shows holder ${shown.holderFingerprint}, the signed history gives ${c.holderFingerprint}`);
  }
  const steps = await couponSteps(coupon);
  result.steps = steps;
  const count = Math.max(steps.length, shown.history.length);
  for (let i = 0; i < count; i += 1) {
    const step = steps[i];
    const row = shown.history[i];
    if (step === undefined) return fail("page", `history step ${i + 1} (${row.kind}): not in the coupon's signed history`);
    const item = `history step ${i + 1} (${step.kind})`;
    if (row === undefined) return fail("page", `${item}: signed, but the page does not show it`);
    if (row.kind !== step.kind) return fail("page", `${item}: the page shows a ${row.kind}`);
    if (row.state !== step.state) {
      return fail("page", `${item}: the page shows state ${short(row.state)}, the signed entry gives ${short(step.state)}`);
    }
    if (row.holderFingerprint !== (step.holderFingerprint ?? "")) {
      return fail("page", `${item}: the page shows holder ${row.holderFingerprint || "none"}, the signed entry names ${step.holderFingerprint ?? "none"}`);
    }
    if (row.price !== priceText(step.price)) {
      return fail("page", `${item}: the page shows price ${row.price || "none"}, the signed statement declares ${priceText(step.price) || "none"}`);
    }
  }
  result.lines.push(`page: the coupon's ${steps.length} history steps, holder, status and the campaign's counts match what was verified`);
  result.checks.page = "ok";
  result.ok = true;
  result.state = coupon.state === "pending" || campaign.state === "pending" ? "pending" : "verified";
  return result;
}
