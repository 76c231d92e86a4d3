/**
 * Verifying campaign and coupon bundles (docs/commerce.md, formats
 * "farmtrace-campaign-bundle/v1" and "farmtrace-coupon-bundle/v1") in the browser or node, rule
 * for rule as the Python reference farmtrace/api/services/verify_commerce.py, with WebCrypto only.
 *
 * Checked, in the reference's order, stopping at the first failure: the bundle's `format`,
 * `campaign` (a GCN) and `coupon` (of that campaign); each chain's checkpoint and each block
 * header, exactly as for a lot bundle (page/bundle.js's own functions); each farm key named by its
 * fingerprint; each campaign entry decodes strictly and verifies with the farm key its frame
 * names (all signatures before any inclusion proof, so an altered entry is named as itself), then
 * each anchored entry's inclusion; each holder transfer decodes strictly and, if anchored, its
 * inclusion; then the replay (verify/commerce.js CampaignReplay: transfers queued, entries applied
 * in bundle order, finish), the terms naming the bundle's campaign; for a coupon bundle, that the
 * coupon was issued by an entry the bundle holds.
 *
 * Contract: `verifyCommerceBundle` never throws for bad data; it resolves to a report whose
 * `failures` hold the first failure, worded as `farmtrace verify` words it, and whose `lines` say
 * what was checked. TypeError only for arguments of the wrong type.
 *
 * @module
 */

import {
  CampaignReplay,
  CommerceError,
  Violation,
  decodeCampaignEntry,
  decodeStatement,
  farmSigner,
  fingerprint,
  fromHex,
  outstanding,
  parseCouponId,
  validateGcn,
} from "../verify/commerce.js";
import { TlogError } from "../verify/errors.js";
import { Verifier } from "../verify/note.js";
import { Context, Stop, b64, blocks, checkpoints, get, inclusion, verifyBundle } from "./bundle.js";
import { verifyEd25519 } from "./entries.js";

export const CAMPAIGN_BUNDLE = "farmtrace-campaign-bundle/v1";
export const COUPON_BUNDLE = "farmtrace-coupon-bundle/v1";
export const COMMERCE_FORMATS = Object.freeze([CAMPAIGN_BUNDLE, COUPON_BUNDLE]);

/** The checks a report names, in the order they run. */
export const COMMERCE_CHECKS = Object.freeze(["checkpoint", "blocks", "signatures", "batches", "claims", "rules"]);

/**
 * @typedef {"checkpoint" | "blocks" | "signatures" | "batches" | "claims" | "rules"} CommerceCheck
 * @typedef {{ coupon: string, status: string, state: string, holder: string,
 *   holderFingerprint: string, moves: number,
 *   history: { kind: string, state: string, anchored: boolean }[] }} CouponFindings
 * @typedef {{ format: string, campaign: string, entries: number, anchored: number, pending: number,
 *   transfers: number, status: string, head: string,
 *   totals: { issued: number, redeemed: number, voided: number, outstanding: number },
 *   cap: number, target: number, harvested: number | null, covered: number | null,
 *   shortfall: string | null, coupon: CouponFindings | null, verdict: string }} CommerceSummary
 * @typedef {{
 *   ok: boolean,
 *   state: "verified" | "pending" | "failed",
 *   checks: Record<CommerceCheck, "ok" | "failed" | "skipped">,
 *   counts: { chains: number, size: number, blocks: number },
 *   failures: { check: CommerceCheck, message: string }[],
 *   lines: string[],
 *   summary: CommerceSummary | null,
 *   replay: CampaignReplay | null,
 * }} CommerceReport
 */

/**
 * Verify a campaign or coupon bundle against the published verifier key(s).
 * @param {string | object} bundle the bundle's JSON text or the parsed object
 * @param {string | string[]} vkeys C2SP verifier keys
 * @returns {Promise<CommerceReport>}
 */
export async function verifyCommerceBundle(bundle, vkeys) {
  if (typeof bundle !== "string" && (typeof bundle !== "object" || bundle === null)) {
    throw new TypeError("bundle must be JSON text or an object");
  }
  const keys = typeof vkeys === "string" ? [vkeys] : vkeys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new TypeError("vkeys must be strings");
  /** @type {CommerceReport} */
  const report = {
    ok: false,
    state: "failed",
    checks: { checkpoint: "skipped", blocks: "skipped", signatures: "skipped", batches: "skipped", claims: "skipped", rules: "skipped" },
    counts: { chains: 0, size: 0, blocks: 0 },
    failures: [],
    lines: [],
    summary: null,
    replay: null,
  };
  const ctx = new Context(/** @type {any} */ (report));
  try {
    await run(ctx, report, bundle, keys);
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  for (const name of COMMERCE_CHECKS) {
    if (report.failures.some((f) => f.check === name)) report.checks[name] = "failed";
    else if (ctx.ran.has(/** @type {any} */ (name)) && (name !== "claims" || ctx.completed)) report.checks[name] = "ok";
  }
  report.ok = report.failures.length === 0;
  report.state = !report.ok ? "failed" : (report.summary?.pending ?? 0) > 0 ? "pending" : "verified";
  return report;
}

/**
 * Verify any bundle as `farmtrace verify` does: campaign and coupon bundles here, every other
 * format (lot bundles, and the message for an unknown format) by page/bundle.js.
 * @param {string | object} bundle the bundle's JSON text or the parsed object
 * @param {string | string[]} vkeys C2SP verifier keys
 * @returns {Promise<CommerceReport | import("./bundle.js").BundleReport>}
 */
export async function verifyAnyBundle(bundle, vkeys) {
  let parsed = bundle;
  if (typeof bundle === "string") {
    try {
      parsed = JSON.parse(bundle);
    } catch {
      return verifyBundle(bundle, vkeys); // reports the JSON error as the reference does
    }
  }
  const format = parsed !== null && typeof parsed === "object" ? /** @type {any} */ (parsed).format : undefined;
  return COMMERCE_FORMATS.includes(format) ? verifyCommerceBundle(parsed, vkeys) : verifyBundle(parsed, vkeys);
}

/**
 * @param {Context} ctx @param {CommerceReport} report @param {string | object} input
 * @param {string[]} vkeys
 */
async function run(ctx, report, input, vkeys) {
  ctx.started("checkpoint");
  /** @type {Verifier[]} */
  const verifiers = [];
  for (const k of vkeys) {
    try {
      verifiers.push(await Verifier.fromVkey(k));
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("checkpoint", `verifier key: ${error.message}`);
    }
  }
  ctx.started("claims");
  /** @type {any} */
  let bundle = input;
  if (typeof input === "string") {
    try {
      bundle = JSON.parse(input);
    } catch (error) {
      ctx.stop("claims", `bundle is not JSON: ${/** @type {Error} */ (error).message}`);
    }
  }
  const format = get(bundle, "format", "string", "bundle", ctx);
  if (!COMMERCE_FORMATS.includes(format)) {
    ctx.stop("claims", `bundle format is '${format}', expected one of ('${CAMPAIGN_BUNDLE}', '${COUPON_BUNDLE}')`);
  }
  let gcn = "";
  try {
    gcn = validateGcn(bundle.campaign);
  } catch (error) {
    if (!(error instanceof CommerceError)) throw error;
    ctx.stop("claims", `bundle: field 'campaign': ${error.message}`);
  }
  /** @type {string | null} */
  let coupon = null;
  let serial = 0;
  if (format === COUPON_BUNDLE) {
    coupon = get(bundle, "coupon", "string", "bundle", ctx);
    let named = "";
    try {
      [named, serial] = parseCouponId(coupon);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      ctx.stop("claims", `bundle: field 'coupon': ${error.message}`);
    }
    if (named !== gcn) ctx.stop("claims", `bundle: coupon ${coupon} is not of campaign ${gcn}`);
    ctx.ok(`coupon bundle for coupon ${coupon} of campaign ${gcn}`);
  } else {
    ctx.ok(`campaign bundle for campaign ${gcn}`);
  }
  /** @type {CommerceSummary} */
  const summary = {
    format, campaign: gcn, entries: 0, anchored: 0, pending: 0, transfers: 0, status: "none", head: "",
    totals: { issued: 0, redeemed: 0, voided: 0, outstanding: 0 }, cap: 0, target: 0, harvested: null,
    covered: null, shortfall: null, coupon: null, verdict: "",
  };
  const chains = await checkpoints(ctx, bundle, verifiers);
  ctx.endStage();
  const headers = await blocks(ctx, bundle, chains);
  ctx.endStage();
  ctx.started("signatures", "batches");
  const farmKeys = await farmKeyMap(ctx, bundle);
  const entries = await campaignEntries(ctx, bundle, farmKeys, headers, summary);
  if (entries.length === 0) ctx.stop("claims", "bundle: no campaign entries (the campaign's open entry is missing)");
  ctx.ok(
    `${entries.length} campaign entries: each signed by its farm key; ${summary.anchored} in their block's ` +
      `batch tree (RFC 9162 inclusion), ${summary.pending} pending anchoring (signed, not yet proven on a chain)`,
  );
  const before = summary.anchored;
  const moves = await holderMoves(ctx, bundle, headers, summary);
  ctx.ok(
    `${moves.length} holder transfers: each decodes; ${summary.anchored - before} anchored, ` +
      `${moves.length - summary.anchored + before} pending anchoring (holder signatures are checked by the replay)`,
  );
  ctx.started(/** @type {any} */ ("rules"));
  const replay = await replayAll(ctx, gcn, entries, moves, farmKeys);
  report.replay = replay;
  const terms = /** @type {import("../verify/commerce.js").CampaignTerms} */ (replay.terms);
  const t = replay.totals;
  Object.assign(summary, {
    entries: replay.cseq, status: replay.status, head: replay.head, cap: terms.cap, target: terms.target,
    totals: { ...t, outstanding: outstanding(t) }, harvested: replay.harvested, covered: replay.covered(),
    shortfall: replay.shortfall === null ? null : replay.shortfall.policy,
  });
  ctx.ok(
    `campaign entries 1..${summary.entries} replayed with no gap, each naming the one before ` +
      `(head ${summary.head}); the bundle proves what it holds: an entry ${summary.entries + 1} may exist beyond it`,
  );
  ctx.ok(capsLine(summary, terms));
  if (coupon !== null) {
    summary.coupon = await couponFindings(ctx, coupon, serial, replay, entries, moves);
    const c = summary.coupon;
    const steps = c.history.map((h) => `${h.kind} ${h.state.slice(0, 12)}… ${h.anchored ? "anchored" : "pending"}`).join(", ");
    ctx.ok(
      `coupon ${c.coupon}: ${c.status}, holder ${c.holderFingerprint}, state ${c.state}, ${c.moves} holder moves; ` +
        `chain issue → head: ${steps}; a later transfer may exist beyond what the bundle holds`,
    );
  }
  summary.verdict = verdict(summary);
  report.summary = summary;
  ctx.completed = true;
}

/**
 * @param {Context} ctx @param {any} bundle
 * @returns {Promise<Map<string, Uint8Array>>}
 */
async function farmKeyMap(ctx, bundle) {
  /** @type {Map<string, Uint8Array>} */
  const keys = new Map();
  for (const [signer, value] of Object.entries(get(bundle, "farm_keys", "object", "bundle", ctx))) {
    const key = b64(value, `farm key of ${signer}`, "signatures", ctx);
    if (key.length !== 32 || (await farmSigner(key)) !== signer) {
      ctx.stop("signatures", `farm key of ${signer}: not the key that signer names (its fingerprint)`);
    }
    keys.set(signer, key);
  }
  return keys;
}

/**
 * Anchored (and then proven in its block) or pending, as the reference's `_proof_status`.
 * @param {Context} ctx @param {any} item @param {string} what @param {Uint8Array} payload
 * @param {Map<string, import("./block.js").BlockHeader>} headers
 */
async function proofStatus(ctx, item, what, payload, headers) {
  const status = get(item, "status", "string", what, ctx);
  if (status === "pending-anchoring") return false;
  if (status !== "anchored") ctx.stop("claims", `${what}: unknown status '${status}'`);
  await inclusion(ctx, item, what, payload, headers);
  ctx.endStage();
  return true;
}

/**
 * @typedef {{ entry: import("../verify/commerce.js").CampaignEntry, anchored: boolean }} HeldEntry
 * @typedef {{ statement: import("../verify/commerce.js").HolderStatement, anchored: boolean }} HeldMove
 */

/**
 * @param {Context} ctx @param {any} bundle @param {Map<string, Uint8Array>} farmKeys
 * @param {Map<string, import("./block.js").BlockHeader>} headers @param {CommerceSummary} summary
 * @returns {Promise<HeldEntry[]>}
 */
async function campaignEntries(ctx, bundle, farmKeys, headers, summary) {
  const items = get(bundle, "entries", "array", "bundle", ctx);
  /** @type {[string, import("../verify/commerce.js").CampaignEntry, any][]} */
  const decoded = [];
  // Signatures first: an altered entry then fails as itself, not as a neighbour whose
  // inclusion proof a rebuilt batch tree would also break.
  for (const [i, item] of items.entries()) {
    let what = `entries[${i}]`;
    const payload = b64(get(item, "entry", "string", what, ctx), what, "signatures", ctx);
    let entry;
    try {
      entry = await decodeCampaignEntry(payload);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      ctx.stop("signatures", `${what}: campaign entry does not decode: ${error.message}`);
    }
    what = `campaign entry ${entry.cseq} (${entry.op}) at entries[${i}]`;
    const key = farmKeys.get(entry.signer);
    if (key === undefined) ctx.stop("signatures", `${what}: the bundle has no farm key for its signer ${entry.signer}`);
    if (!(await verifyEd25519(key, entry.signature, entry.signedBytes))) {
      ctx.stop("signatures", `${what}: signature does not verify with the bundle's farm key`);
    }
    decoded.push([what, entry, item]);
  }
  /** @type {HeldEntry[]} */
  const found = [];
  for (const [what, entry, item] of decoded) {
    const anchored = await proofStatus(ctx, item, what, entry.payload, headers);
    if (anchored) summary.anchored += 1;
    else summary.pending += 1;
    found.push({ entry, anchored });
  }
  return found;
}

/**
 * @param {Context} ctx @param {any} bundle
 * @param {Map<string, import("./block.js").BlockHeader>} headers @param {CommerceSummary} summary
 * @returns {Promise<HeldMove[]>}
 */
async function holderMoves(ctx, bundle, headers, summary) {
  const items = bundle !== null && typeof bundle === "object" && "moves" in bundle ? bundle.moves : [];
  if (!Array.isArray(items)) ctx.stop("claims", "bundle: malformed field 'moves'");
  /** @type {HeldMove[]} */
  const found = [];
  for (const [i, item] of items.entries()) {
    let what = `moves[${i}]`;
    const payload = b64(get(item, "entry", "string", what, ctx), what, "signatures", ctx);
    let statement;
    try {
      statement = await decodeStatement(payload);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      ctx.stop("signatures", `${what}: holder statement does not decode: ${error.message}`);
    }
    what = `transfer of coupon ${statement.coupon} move ${statement.move} at moves[${i}]`;
    const anchored = await proofStatus(ctx, item, what, payload, headers);
    if (anchored) summary.anchored += 1;
    else summary.pending += 1;
    found.push({ statement, anchored });
  }
  summary.transfers = found.length;
  return found;
}

/**
 * @param {Context} ctx @param {string} gcn @param {HeldEntry[]} entries @param {HeldMove[]} moves
 * @param {Map<string, Uint8Array>} farmKeys
 */
async function replayAll(ctx, gcn, entries, moves, farmKeys) {
  const first = entries[0].entry;
  if (first.op !== "open" || first.cseq !== 1) {
    ctx.stop(
      /** @type {any} */ ("rules"),
      `campaign entry ${first.cseq} (${first.op}) at entries[0]: the bundle must start with campaign entry 1 (open)`,
    );
  }
  const replay = new CampaignReplay({ farmKey: farmKeys.get(first.signer) ?? null, verify: verifyEd25519 });
  try {
    for (const { statement } of moves) replay.addTransfer(statement);
    for (const { entry } of entries) await replay.apply(entry);
    await replay.finish();
  } catch (error) {
    if (!(error instanceof Violation)) throw error;
    ctx.stop(/** @type {any} */ ("rules"), error.message);
  }
  const terms = /** @type {import("../verify/commerce.js").CampaignTerms} */ (replay.terms);
  if (terms.campaign !== gcn) {
    ctx.stop(/** @type {any} */ ("rules"), `campaign entry 1 (open): opens campaign ${terms.campaign}, not ${gcn}`);
  }
  return replay;
}

/**
 * @param {Context} ctx @param {string} coupon @param {number} serial @param {CampaignReplay} replay
 * @param {HeldEntry[]} entries @param {HeldMove[]} moves
 * @returns {Promise<CouponFindings>}
 */
async function couponFindings(ctx, coupon, serial, replay, entries, moves) {
  const found = replay.coupons.get(serial);
  if (found === undefined) ctx.stop(/** @type {any} */ ("rules"), `coupon ${coupon}: the bundle holds no entry issuing it`);
  /** @type {Map<string, boolean>} */
  const anchored = new Map();
  for (const { entry, anchored: a } of entries) anchored.set(entry.state, a);
  for (const { statement, anchored: a } of moves) anchored.set(statement.state, a);
  return {
    coupon,
    status: found.status,
    state: found.state,
    holder: found.holder,
    holderFingerprint: await fingerprint(fromHex(found.holder)),
    moves: found.moves,
    history: found.history.map(([kind, , state]) => ({ kind, state, anchored: anchored.get(state) ?? false })),
  };
}

/**
 * @param {CommerceSummary} s
 * @param {import("../verify/commerce.js").CampaignTerms} terms
 */
function capsLine(s, terms) {
  const t = s.totals;
  let line =
    `caps recounted: issued ${t.issued} of cap ${terms.cap} (target ${terms.target}), redeemed ${t.redeemed}, ` +
    `voided ${t.voided}, outstanding ${t.outstanding}; campaign ${s.status}`;
  if (s.harvested === null) return `${line}; no harvest recorded yet`;
  line +=
    `; harvested ${s.harvested} ${terms.unit} covers ${s.covered} coupons of ${terms.quantity} ${terms.unit}, ` +
    `redeemed + outstanding = ${t.redeemed + t.outstanding}`;
  if (s.shortfall !== null) line += `; shortfall decided: ${s.shortfall}`;
  return line;
}

/** The one-line verdict, as `farmtrace verify` ends. @param {CommerceSummary} s */
function verdict(s) {
  const t = s.totals;
  let text =
    `${s.coupon ? "coupon" : "campaign"} bundle verifies: campaign ${s.campaign} ${s.status}, ` +
    `entries 1..${s.entries} (${s.anchored} items anchored, ${s.pending} pending), issued ${t.issued}/${s.cap}, ` +
    `redeemed ${t.redeemed}, voided ${t.voided}, outstanding ${t.outstanding}`;
  if (s.coupon !== null) {
    const c = s.coupon;
    text += `; coupon ${c.coupon} ${c.status}, holder ${c.holderFingerprint}, state ${c.state}`;
  }
  return text;
}

/**
 * @typedef {{ kind: string, state: string, anchored: boolean, holder: string | null,
 *   holderFingerprint: string | null, price: { amount: number, currency: string } | null }} CouponStep
 */

/**
 * The verified coupon's chain, step by step, with what each step says: the holder an `issue`
 * entry or a `transfer` names (address and fingerprint) and the price a transfer declares;
 * `redeem` and `void` name neither. Read from the replay's own bytes, so it is what the
 * signatures cover (what the coupon page compares its history with). Empty unless `report` is
 * a coupon bundle's report that verified.
 * @param {CommerceReport} report
 * @returns {Promise<CouponStep[]>}
 */
export async function couponSteps(report) {
  const found = report.summary?.coupon;
  if (!report.ok || !found || report.replay === null) return [];
  const [, serial] = parseCouponId(found.coupon);
  const coupon = report.replay.coupons.get(serial);
  if (coupon === undefined) return [];
  /** @type {CouponStep[]} */
  const steps = [];
  for (const [i, [kind, payload, state]] of coupon.history.entries()) {
    /** @type {string | null} */
    let holder = null;
    /** @type {{ amount: number, currency: string } | null} */
    let price = null;
    if (kind === "issue") {
      holder = String((await decodeCampaignEntry(payload)).body.holder);
    } else if (kind === "transfer") {
      const statement = await decodeStatement(payload);
      holder = statement.to;
      price = statement.price === null ? null : { amount: statement.price[0], currency: statement.price[1] };
    }
    steps.push({
      kind, state, anchored: found.history[i]?.anchored ?? false, holder,
      holderFingerprint: holder === null ? null : await fingerprint(fromHex(holder)), price,
    });
  }
  return steps;
}
