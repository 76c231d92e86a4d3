// The browser's value-community verifier (farmtrace/api/web/static/verify/community.js) against
// docs/vectors/community.json, which the Python reference writes and checks
// (scripts/make_community_vectors.py, tests/commerce/test_community_vectors.py): the shipped rule
// files parse to the same figures and hash; every worked mint and rounding case gives the same
// integers; every history entry decodes to the same fields and hash and the replay reaches the
// recorded supply, members and distributions after each; the member views match; malformed
// entries, statements and rules are refused for their reason; refused histories name the same
// first violation word for word. tests/commerce/test_community_js.py compares many more cases,
// and real statement bundles, with the reference under node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";
import { CommerceError, fingerprint, fromHex } from "../../farmtrace/api/web/static/verify/commerce.js";
import {
  CommunityReplay, Violation, decodeCommunityEntry, decodeTransfer, depositMint, parseRules, pledgeMint,
  proRata, reinvestTokens, rulesSha256, serviceMint, workMint,
} from "../../farmtrace/api/web/static/verify/community.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/vectors/community.json", import.meta.url), "utf8"));
const rulesOf = (name) => parseRules(vectors.rules[name].json);

/** @param {any[]} items */
async function replay(items, operatorKey = null) {
  const r = new CommunityReplay({ operatorKey, verify: verifyEd25519 });
  for (const payload of items) await r.apply(await decodeCommunityEntry(payload));
  return r;
}

/** The state the vectors record in `after`. @param {CommunityReplay} r */
async function after(r) {
  const members = {};
  for (const [address, m] of r.members) {
    members[address] = { balance: m.balance, spend_state: m.spendState, moves: m.moves, fingerprint: await fingerprint(fromHex(address)) };
  }
  return {
    n: r.n, head: r.head, supply: r.supply, version: r.rules.version, holders: r.holders, members,
    distributions: r.distributions.map((d) => ({
      n: d.n, kind: d.kind, surplus: d.surplus, total: d.total, parts: Object.fromEntries(d.parts),
    })),
  };
}

test("the shipped rule files parse to their hash, and the worked figures come from them", async () => {
  for (const v of Object.values(vectors.rules)) {
    const rules = parseRules(v.json);
    assert.equal(await rulesSha256(rules), v.sha256);
  }
  const barbershop = rulesOf("barbershop");
  assert.equal(depositMint(barbershop, 100_000), 25_000); // a 1,000 CNY deposit
  assert.equal(serviceMint(barbershop, 10_000, 5_000), 250); // a 100 CNY service, cost 50
  assert.equal(barbershop.initialSupply, 10_000_000);
});

test("every vector mint and rounding gives the reference's integers", () => {
  const run = { deposit: depositMint, service: serviceMint, work: workMint, pledge: pledgeMint };
  for (const m of vectors.mints) {
    const rules = rulesOf(m.rules);
    const i = m.inputs;
    const got =
      m.kind === "reinvest" ? reinvestTokens(rules, i.surplus)
      : m.kind === "service" ? serviceMint(rules, i.revenue, "cost" in i ? i.cost : undefined)
      : run[m.kind](rules, m.kind === "work" ? i.minutes : i.amount);
    assert.equal(got, m.tokens, JSON.stringify(m));
  }
  for (const r of vectors.rounding) {
    const parts = proRata(r.total, new Map(Object.entries(r.balances)));
    assert.deepEqual(Object.fromEntries(parts), r.parts);
    assert.equal([...parts.values()].reduce((a, b) => a + b, 0), r.total);
  }
});

test("every history entry decodes, and the replay reaches the recorded state after each", async () => {
  const payloads = vectors.history.map((v) => fromHex(v.payload_hex));
  const operatorKey = fromHex(vectors.keys.operator.address);
  const r = new CommunityReplay({ operatorKey, verify: verifyEd25519 });
  for (const [i, v] of vectors.history.entries()) {
    const entry = await decodeCommunityEntry(payloads[i]);
    assert.equal(entry.hash, v.hash);
    assert.equal(entry.n, v.n);
    assert.equal(entry.op, v.op);
    assert.equal(entry.signer, v.signer);
    assert.equal(entry.timeMs, BigInt(v.time_ms));
    assert.deepEqual(entry.body, v.body);
    if (v.statement_payload_hex) {
      const statement = await decodeTransfer(fromHex(v.statement_payload_hex));
      assert.equal(statement.hash, v.statement_hash);
    }
    await r.apply(entry);
    assert.deepEqual(await after(r), v.after, `after entry ${v.n}`);
  }
  assert.equal(r.supply, [...r.members.values()].reduce((a, m) => a + m.balance, 0));
  for (const [name, view] of Object.entries(vectors.member_views)) {
    assert.deepEqual(await r.memberView(vectors.keys[name].address), view, name);
  }
});

test("every malformed entry, statement and rules document is refused for its reason", async () => {
  for (const v of vectors.invalid) {
    const attempt =
      v.kind === "rules" ? async () => parseRules(v.rules)
      : v.kind === "community" ? () => decodeCommunityEntry(fromHex(v.payload_hex))
      : () => decodeTransfer(fromHex(v.payload_hex));
    await assert.rejects(attempt, (error) => {
      assert.ok(error instanceof CommerceError, String(error));
      assert.ok(error.message.includes(v.reason), `${error.message} lacks ${v.reason}`);
      return true;
    });
  }
});

test("every refused history names the reference's first violation, word for word", async () => {
  for (const v of vectors.violations) {
    const items = v.items.map((item) => fromHex("ref" in item ? vectors.history[item.ref].payload_hex : item.payload_hex));
    await assert.rejects(replay(items), (error) => {
      assert.ok(error instanceof Violation, `${v.name}: ${error}`);
      assert.equal(error.message, v.want, v.name);
      return true;
    });
  }
});

test("a refused entry changes nothing: the replay goes on from where it was", async () => {
  const history = vectors.history.map((v) => fromHex(v.payload_hex));
  const r = await replay(history.slice(0, 3));
  const before = JSON.stringify(await after(r));
  const bad = vectors.violations.find((v) => v.want.startsWith("community entry 4 (deposit): mints"));
  const item = bad.items.find((i) => "payload_hex" in i);
  await assert.rejects(r.apply(await decodeCommunityEntry(fromHex(item.payload_hex))), Violation);
  assert.equal(JSON.stringify(await after(r)), before);
  await r.apply(await decodeCommunityEntry(history[3]));
  assert.equal(r.n, 4);
});

test("the operator key the verifier was given must be the one entry 1's rules name", async () => {
  const first = await decodeCommunityEntry(fromHex(vectors.history[0].payload_hex));
  const r = new CommunityReplay({ operatorKey: fromHex(vectors.keys.team.address), verify: verifyEd25519 });
  await assert.rejects(r.apply(first), (error) => {
    assert.equal(
      error.message,
      `community entry 1 (rules): its rules name operator key ${vectors.keys.operator.fingerprint}, ` +
        `not the operator key ${vectors.keys.team.fingerprint} the verifier was given`,
    );
    return true;
  });
});
