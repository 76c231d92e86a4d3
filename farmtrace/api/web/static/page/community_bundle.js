/**
 * Verifying a member's community statement bundle (docs/community.md section 5, format
 * "farmtrace-community-statement/v1") in the browser or node, rule for rule as the Python
 * reference farmtrace/api/services/verify_community.py (`farmtrace verify BUNDLE --key VKEY`),
 * with WebCrypto only.
 *
 * Checked, in the reference's order, stopping at the first failure: the bundle's `format`,
 * `community` (an ID), `member` (an address) and `operator_key` (32 bytes, base64); each chain's
 * checkpoint and each block header, exactly as for a lot bundle (page/bundle.js's own functions);
 * each entry decodes strictly (verify/community.js) and each anchored entry is in its block's
 * batch tree; then the replay (verify/community.js CommunityReplay) of the entries in bundle order
 * with the operator key: signatures, the hash chain, every mint recomputed from its inputs and the
 * rules in force, every transfer's holder signature and spend state, every distribution's parts
 * by the rounding rule, the supply after each entry as the sum of the balances; finally that the
 * bundle's entries credit or debit the member, whose balance, history and distribution parts are
 * reported.
 *
 * Contract: `verifyStatementBundle` never throws for bad data; it resolves to a report whose
 * `failures` hold the first failure, worded as `farmtrace verify` words it, whose `checks` say
 * which checks passed, failed or were not reached, and whose `lines` say what was checked.
 * TypeError only for arguments of the wrong type.
 *
 * @module
 */

import { CommerceError, fingerprint, fromHex, pyRepr } from "../verify/commerce.js";
import {
  CommunityReplay,
  Violation,
  decodeCommunityEntry,
  validateAddress,
  validateCommunityId,
} from "../verify/community.js";
import { TlogError } from "../verify/errors.js";
import { Verifier } from "../verify/note.js";
import { Context, Stop, b64, blocks, checkpoints, get, inclusion } from "./bundle.js";
import { verifyEd25519 } from "./entries.js";

export const COMMUNITY_STATEMENT = "farmtrace-community-statement/v1";

/** The checks a report names, in the order they run. */
export const STATEMENT_CHECKS = Object.freeze(["checkpoint", "blocks", "entries", "batches", "claims", "rules", "member"]);

/**
 * @typedef {"checkpoint" | "blocks" | "entries" | "batches" | "claims" | "rules" | "member"} StatementCheck
 * @typedef {{ n: number, time_ms: number, op: string, delta: number, detail: Record<string, any> }} HistoryLine
 * @typedef {{ n: number, kind: string, total: number, part: number }} DistributionPart
 * @typedef {{ community: string, member: string, fingerprint: string, entries: number,
 *   anchored: number, pending: number, version: number, supply: number, holders: number,
 *   currency: string, symbol: string, balance: number, spendState: string, moves: number,
 *   history: HistoryLine[], distributions: DistributionPart[], verdict: string }} StatementSummary
 * @typedef {{
 *   ok: boolean,
 *   state: "verified" | "pending" | "failed",
 *   checks: Record<StatementCheck, "ok" | "failed" | "skipped">,
 *   counts: { chains: number, size: number, blocks: number },
 *   failures: { check: StatementCheck, message: string }[],
 *   lines: string[],
 *   summary: StatementSummary | null,
 *   replay: CommunityReplay | null,
 * }} StatementReport
 */

/**
 * Verify a member's community statement bundle against the published verifier key(s).
 * @param {string | object} bundle the bundle's JSON text or the parsed object
 * @param {string | string[]} vkeys C2SP verifier keys
 * @returns {Promise<StatementReport>}
 */
export async function verifyStatementBundle(bundle, vkeys) {
  if (typeof bundle !== "string" && (typeof bundle !== "object" || bundle === null)) {
    throw new TypeError("bundle must be JSON text or an object");
  }
  const keys = typeof vkeys === "string" ? [vkeys] : vkeys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new TypeError("vkeys must be strings");
  /** @type {StatementReport} */
  const report = {
    ok: false,
    state: "failed",
    checks: {
      checkpoint: "skipped", blocks: "skipped", entries: "skipped", batches: "skipped", claims: "skipped",
      rules: "skipped", member: "skipped",
    },
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
  for (const name of STATEMENT_CHECKS) {
    if (report.failures.some((f) => f.check === name)) report.checks[name] = "failed";
    else if (ctx.ran.has(/** @type {any} */ (name)) && (name !== "claims" || ctx.completed)) report.checks[name] = "ok";
  }
  report.ok = report.failures.length === 0;
  report.state = !report.ok ? "failed" : (report.summary?.pending ?? 0) > 0 ? "pending" : "verified";
  return report;
}

/** @param {Context} ctx @param {StatementCheck} check @param {string} message @returns {never} */
const stop = (ctx, check, message) => ctx.stop(/** @type {any} */ (check), message);

/**
 * @param {Context} ctx @param {StatementReport} report @param {string | object} input
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
  if (format !== COMMUNITY_STATEMENT) {
    ctx.stop("claims", `bundle format is ${pyRepr(format)}, expected ${pyRepr(COMMUNITY_STATEMENT)}`);
  }
  let community = "";
  let member = "";
  try {
    community = validateCommunityId(bundle.community, "bundle: field 'community'");
    member = validateAddress(bundle.member, "bundle: field 'member'");
  } catch (error) {
    if (!(error instanceof CommerceError)) throw error;
    ctx.stop("claims", error.message);
  }
  const keyText = get(bundle, "operator_key", "string", "bundle", ctx);
  const operatorKey = b64(keyText, "bundle: field 'operator_key'", "claims", ctx);
  if (operatorKey.length !== 32) ctx.stop("claims", "bundle: field 'operator_key' is not a 32-byte Ed25519 public key");
  const memberPrint = await fingerprint(fromHex(member));
  ctx.ok(
    `community statement for member ${memberPrint} of community ${community}; operator key ${await fingerprint(operatorKey)}`,
  );
  const chains = await checkpoints(ctx, bundle, verifiers);
  ctx.endStage();
  const headers = await blocks(ctx, bundle, chains);
  ctx.endStage();
  ctx.started(/** @type {any} */ ("entries"), "batches");
  const items = get(bundle, "entries", "array", "bundle", ctx);
  if (items.length === 0) ctx.stop("claims", "bundle: no community entries (entry 1, the rules, is missing)");
  let anchored = 0;
  let pending = 0;
  const entries = [];
  for (const [i, item] of items.entries()) {
    let what = `entries[${i}]`;
    const payload = b64(get(item, "entry", "string", what, ctx), what, /** @type {any} */ ("entries"), ctx);
    let entry;
    try {
      entry = await decodeCommunityEntry(payload);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      stop(ctx, "entries", `${what}: community entry does not decode: ${error.message}`);
    }
    what = `community entry ${entry.n} (${entry.op}) at ${what}`;
    const status = get(item, "status", "string", what, ctx);
    if (status === "pending-anchoring") {
      pending += 1;
    } else if (status === "anchored") {
      await inclusion(ctx, item, what, entry.payload, headers);
      ctx.endStage();
      anchored += 1;
    } else {
      ctx.stop("claims", `${what}: unknown status ${pyRepr(status)}`);
    }
    entries.push(entry);
  }
  ctx.ok(
    `${entries.length} community entries: each decodes; ${anchored} in their block's batch tree (RFC 9162 ` +
      `inclusion), ${pending} pending anchoring (signed, not yet proven on a chain)`,
  );
  ctx.started(/** @type {any} */ ("rules"));
  const replay = new CommunityReplay({ operatorKey, verify: verifyEd25519 });
  report.replay = replay;
  try {
    for (const entry of entries) await replay.apply(entry);
  } catch (error) {
    if (!(error instanceof Violation)) throw error;
    stop(ctx, "rules", error.message);
  }
  if (community !== replay.community) {
    stop(ctx, "rules", `community entry 1 (rules): founds community ${replay.community}, not ${community}`);
  }
  const rules = /** @type {import("../verify/community.js").CommunityRules} */ (replay.rules);
  ctx.ok(
    `entries 1..${replay.n} replayed with the rules (docs/community.md section 4): each signed by the operator ` +
      `key in force and naming the one before (head ${replay.head}); every mint recomputed from its inputs, ` +
      `every transfer's signature and spend state, ${replay.distributions.length} distributions' parts by the ` +
      `rounding rule; supply ${replay.supply} = the sum of ${replay.members.size} balances; rules version ` +
      `${rules.version} in force; an entry ${replay.n + 1} may exist beyond the bundle`,
  );
  ctx.started(/** @type {any} */ ("member"));
  if (!replay.members.has(member)) {
    stop(ctx, "member", `member ${memberPrint}: no entry of the bundle credits or debits this address`);
  }
  const view = await replay.memberView(member);
  ctx.ok(`member ${view.fingerprint}: balance ${view.balance}, spend state ${view.spend_state}, ${view.moves} transfers sent`);
  for (const line of view.history) {
    const sign = line.delta < 0 ? "-" : "+";
    ctx.ok(`  entry ${line.n} ${line.op}: ${sign}${Math.abs(line.delta)} tokens ${await detailText(line.detail)}`);
  }
  for (const part of view.distributions) {
    const unit = part.kind === "dividend" ? `${rules.currency} minor units` : "tokens";
    ctx.ok(`  distribution at entry ${part.n} (${part.kind}): part ${part.part} of ${part.total} ${unit}`);
  }
  /** @type {StatementSummary} */
  const summary = {
    community, member, fingerprint: view.fingerprint, entries: replay.n, anchored, pending,
    version: rules.version, supply: replay.supply, holders: replay.holders, currency: rules.currency,
    symbol: rules.tokenSymbol, balance: view.balance, spendState: view.spend_state, moves: view.moves,
    history: view.history, distributions: /** @type {DistributionPart[]} */ (view.distributions), verdict: "",
  };
  summary.verdict = verdict(summary);
  report.summary = summary;
  ctx.completed = true;
}

/**
 * A history line's detail as the reference prints it: `(key value, ...)`, keys sorted, an
 * address (64 hex digits) shown by its fingerprint.
 * @param {Record<string, any>} detail
 */
async function detailText(detail) {
  const keys = Object.keys(detail).sort();
  if (keys.length === 0) return "";
  const parts = [];
  for (const key of keys) {
    const value = detail[key];
    const shown = typeof value === "string" && value.length === 64 && /^[0-9a-fA-F]+$/.test(value)
      ? await fingerprint(fromHex(value.toLowerCase()))
      : String(value);
    parts.push(`${key} ${shown}`);
  }
  return `(${parts.join(", ")})`;
}

/** The one-line verdict, as `farmtrace verify` ends. @param {StatementSummary} s */
function verdict(s) {
  const parts = s.distributions;
  const shares = parts
    .map((d) => `${d.kind} ${d.part}${d.kind === "dividend" ? ` ${s.currency} minor units` : " tokens"}`)
    .join(", ");
  return (
    `community statement verifies: community ${s.community}, entries 1..${s.entries} (${s.anchored} anchored, ` +
    `${s.pending} pending), rules version ${s.version}, supply ${s.supply}, ${s.holders} members; member ` +
    `${s.fingerprint} balance ${s.balance}, ${parts.length} distribution part${parts.length === 1 ? "" : "s"}` +
    (shares ? ` (${shares})` : "")
  );
}
