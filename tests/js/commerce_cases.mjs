/**
 * The browser's commerce verifier (verify/commerce.js, page/commerce_bundle.js) on a list of
 * cases, one JSON verdict per case, for tests/commerce/test_commerce_js.py (under node, through
 * commerce_run.mjs) and tests/commerce/test_commerce_browser.py (in Chromium, through
 * commerce_browser.html) to compare with the Python reference's. No node APIs: it runs in both.
 * Cases:
 *   {"kind": "campaign" | "statement", "payload_hex"}    -> decoded fields, or {"error"}
 *   {"kind": "history", "items": [payload_hex...], "farm_key_hex"?}
 *       -> the replay's campaign and coupons (transfers queued, entries applied, finish), or {"error"}
 *   {"kind": "bundle", "bundle", "vkey"}                -> {"ok", "first", "summary", "lines"}
 */

import { verifyAnyBundle } from "../../farmtrace/api/web/static/page/commerce_bundle.js";
import { verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";
import {
  CampaignReplay,
  CommerceError,
  decodeCampaignEntry,
  decodeStatement,
  fingerprint,
  fromHex,
  outstanding,
} from "../../farmtrace/api/web/static/verify/commerce.js";

/** @param {string} hex */
const bytes = (hex) => fromHex(hex);

/** @param {any} value */
const plain = (value) => JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));

/** @param {any} e */
function entryFields(e) {
  return plain({
    seq: e.seq, time_ms: e.timeMs, signer: e.signer, campaign: e.campaign, cseq: e.cseq, prev: e.prev,
    op: e.op, totals: e.totals, body: e.body, state: e.state,
  });
}

/** @param {any} s */
function statementFields(s) {
  return plain({
    move: s.move, time_ms: s.timeMs, signer: s.signer, op: s.op, coupon: s.coupon, prev: s.prev,
    to: s.to, price: s.price, body: s.body, state: s.state,
  });
}

/** @param {any} c */
async function decodeCase(c) {
  try {
    const payload = bytes(c.payload_hex);
    return c.kind === "campaign"
      ? { ok: true, fields: entryFields(await decodeCampaignEntry(payload)) }
      : { ok: true, fields: statementFields(await decodeStatement(payload)) };
  } catch (error) {
    if (!(error instanceof CommerceError)) throw error;
    return { ok: false, error: error.message };
  }
}

/** @param {any} c */
async function historyCase(c) {
  const farmKey = c.farm_key_hex ? bytes(c.farm_key_hex) : null;
  const replay = new CampaignReplay({ farmKey, verify: verifyEd25519 });
  try {
    const decoded = [];
    for (const hex of c.items) {
      const payload = bytes(hex);
      decoded.push(payload[1] === 0x43 ? await decodeCampaignEntry(payload) : await decodeStatement(payload));
    }
    for (const d of decoded) if (d.kind === "statement") replay.addTransfer(d);
    for (const d of decoded) if (d.kind === "campaign") await replay.apply(d);
    await replay.finish();
  } catch (error) {
    if (!(error instanceof CommerceError)) throw error;
    return { ok: false, error: error.message };
  }
  /** @type {Record<string, any>} */
  const coupons = {};
  for (const coupon of replay.coupons.values()) {
    coupons[coupon.coupon] = {
      holder: coupon.holder, holder_fingerprint: await fingerprint(fromHex(coupon.holder)), state: coupon.state,
      moves: coupon.moves, status: coupon.status,
    };
  }
  return {
    ok: true,
    campaign: {
      cseq: replay.cseq, head: replay.head, status: replay.status,
      totals: { ...replay.totals, outstanding: outstanding(replay.totals) }, harvested: replay.harvested,
    },
    coupons,
    shortfall: replay.shortfall,
  };
}

/** @param {any} c */
async function bundleCase(c) {
  const report = await verifyAnyBundle(c.bundle, c.vkey);
  return plain({ ok: report.ok, first: report.failures[0]?.message ?? null, summary: "summary" in report ? report.summary : null, lines: report.lines });
}

/**
 * The verdict of each case, in order.
 * @param {any[]} cases
 */
export async function runCases(cases) {
  const out = [];
  for (const c of cases) {
    out.push(c.kind === "history" ? await historyCase(c) : c.kind === "bundle" ? await bundleCase(c) : await decodeCase(c));
  }
  return out;
}
