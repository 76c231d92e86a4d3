/**
 * The browser's community verifier (verify/community.js, page/community_bundle.js) on a list of
 * cases, one JSON verdict per case, for tests/commerce/test_community_js.py (under node, through
 * community_run.mjs) and the Chromium test (through community_browser.html) to compare with the
 * Python reference's verdicts. No node APIs: it runs in both.
 * Cases:
 *   {"kind": "entry" | "statement", "payload_hex"}        -> decoded fields, or {"error"}
 *   {"kind": "rules", "text"}                              -> the parsed rules' figures, or {"error"}
 *   {"kind": "mint", "rules_text", "op", "inputs"}         -> {"tokens"} (a decimal string), or {"error"}
 *   {"kind": "prorata", "total", "balances"}               -> {"parts"}, or {"error"}
 *   {"kind": "history", "items": [payload_hex...], "operator_key_hex"?}
 *       -> the replay's state (supply, head, members, distributions, member views), or {"error"}
 *   {"kind": "bundle", "bundle", "vkey"}                   -> {"ok", "first", "summary", "lines"}
 */

import { verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";
import { verifyStatementBundle } from "../../farmtrace/api/web/static/page/community_bundle.js";
import { CommerceError, fromHex, parsePythonJson } from "../../farmtrace/api/web/static/verify/commerce.js";
import {
  CommunityReplay,
  decodeCommunityEntry,
  decodeTransfer,
  depositMint,
  parseRules,
  pledgeMint,
  proRata,
  reinvestTokens,
  rulesSha256,
  serviceMint,
  workMint,
} from "../../farmtrace/api/web/static/verify/community.js";

/** @param {any} value */
const plain = (value) => JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? Number(v) : v)));

/** @param {() => Promise<any>} run */
async function judged(run) {
  try {
    return { ok: true, ...(await run()) };
  } catch (error) {
    if (!(error instanceof CommerceError)) throw error;
    return { ok: false, error: error.message };
  }
}

/** @param {any} c */
function entryCase(c) {
  return judged(async () => {
    const payload = fromHex(c.payload_hex);
    if (c.kind === "entry") {
      const e = await decodeCommunityEntry(payload);
      return { fields: plain({ n: e.n, time_ms: e.timeMs, signer: e.signer, community: e.community, prev: e.prev, op: e.op, supply: e.supply, body: e.body, hash: e.hash }) };
    }
    const s = await decodeTransfer(payload);
    return { fields: plain({ move: s.move, time_ms: s.timeMs, community: s.community, sender: s.sender, to: s.to, amount: s.amount, prev: s.prev, hash: s.hash }) };
  });
}

/** @param {any} r */
async function rulesFigures(r) {
  return {
    community: r.community, version: r.version, operator: r.operator, token: [r.tokenName, r.tokenSymbol],
    currency: r.currency, price: [r.price.amount, r.price.tokens], margin: [r.marginCost, r.marginRevenue],
    initial_supply: r.initialSupply, allocation: Object.fromEntries(r.allocation),
    mint: Object.fromEntries(Object.entries(r.mint).map(([k, m]) => [k, m.share ? [m.share.num, m.share.den] : m.tokensPerHour !== null ? ["tokens_per_hour", m.tokensPerHour] : ["money_per_hour", m.moneyPerHour]])),
    surplus: r.surplus, sha256: await rulesSha256(r),
  };
}

/** @param {any} c */
function mintCase(c) {
  return judged(async () => {
    const rules = parseRules(parsePythonJson(c.rules_text));
    const i = c.inputs;
    const tokens =
      c.op === "deposit" ? depositMint(rules, i.amount)
      : c.op === "service" ? serviceMint(rules, i.revenue, "cost" in i ? i.cost : undefined)
      : c.op === "work" ? workMint(rules, i.minutes)
      : c.op === "pledge" ? pledgeMint(rules, i.amount)
      : reinvestTokens(rules, i.surplus);
    return { tokens: String(tokens) };
  });
}

/**
 * The replay's state as compared with the reference (`python_history` in the pytest).
 * @param {CommunityReplay} r
 */
async function replayState(r) {
  /** @type {Record<string, any>} */
  const members = {};
  for (const [address, m] of r.members) {
    members[address] = { balance: m.balance, spend_state: m.spendState, moves: m.moves };
  }
  /** @type {Record<string, any>} */
  const views = {};
  for (const address of r.members.keys()) views[address] = await r.memberView(address);
  return plain({
    n: r.n, head: r.head, supply: r.supply, version: r.rules?.version ?? null, holders: r.holders,
    members, views,
    versions: r.versions.map(([n, rules]) => [n, rules.version]),
    supply_history: r.supplyHistory,
    distributions: r.distributions.map((d) => ({
      n: d.n, kind: d.kind, version: d.version, from_ms: d.fromMs, until_ms: d.untilMs, surplus: d.surplus,
      total: d.total, parts: [...d.parts],
    })),
  });
}

/** @param {any} c */
function historyCase(c) {
  return judged(async () => {
    const replay = new CommunityReplay({
      operatorKey: c.operator_key_hex ? fromHex(c.operator_key_hex) : null, verify: verifyEd25519,
    });
    const decoded = [];
    for (const hex of c.items) decoded.push(await decodeCommunityEntry(fromHex(hex)));
    for (const entry of decoded) await replay.apply(entry);
    return { state: await replayState(replay) };
  });
}

/** @param {any} c */
async function bundleCase(c) {
  const report = await verifyStatementBundle(c.bundle, c.vkey);
  return plain({ ok: report.ok, first: report.failures[0]?.message ?? null, summary: report.summary, lines: report.lines });
}

/**
 * The verdict of each case, in order.
 * @param {any[]} cases
 */
export async function runCases(cases) {
  const out = [];
  for (const c of cases) {
    if (c.kind === "entry" || c.kind === "statement") out.push(await entryCase(c));
    else if (c.kind === "rules") out.push(await judged(async () => ({ rules: await rulesFigures(parseRules(parsePythonJson(c.text))) })));
    else if (c.kind === "mint") out.push(await mintCase(c));
    else if (c.kind === "prorata") out.push(await judged(async () => ({ parts: [...proRata(c.total, new Map(Object.entries(c.balances)))] })));
    else if (c.kind === "history") out.push(await historyCase(c));
    else if (c.kind === "bundle") out.push(await bundleCase(c));
    else throw new TypeError(`unknown case kind ${c.kind}`);
  }
  return out;
}
