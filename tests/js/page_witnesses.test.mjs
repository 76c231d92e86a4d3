// The page's witness panel logic (page/witnesses.js: witnessSummary) on checkpoints, keys and
// policies made by the Python reference (tests/vectors/witness.json).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

const { witnessSummary, witnessText } = await import(new URL("../../farmtrace/api/web/static/page/witnesses.js", import.meta.url).href);
const vectors = JSON.parse(readFileSync(new URL("../vectors/witness.json", import.meta.url), "utf8"));
const ORIGIN = "farmtrace.example/vector-log";

/** @param {string} what */
function policyCase(what) {
  const found = vectors.policies.find((c) => c.what === what);
  assert.ok(found, what);
  return found;
}

/** The witness lines of a policy text: name -> vkey. */
function witnessKeys(policy) {
  return new Map(
    policy.split("\n").map((l) => l.trim().split(/[ \t]+/)).filter((w) => w[0] === "witness").map((w) => [w[1], w[2]]),
  );
}

test("quorum met: the cosigning witnesses are named, with their staleness", async () => {
  const c = policyCase("2 of 3 / a b");
  const keys = witnessKeys(c.policy);
  const status = {
    origin: ORIGIN,
    size: 9,
    witnesses: [{ name: "witness.example/a", vkey: keys.get("a"), cosigned_size: 7, cosigned_at: 1767225600, blocks_behind: 2, age_s: 30 }],
    policy: c.policy,
  };
  const summary = await witnessSummary(c.note, status, []);
  assert.equal(summary.met, true);
  assert.equal(summary.quorum, "g");
  assert.deepEqual(summary.witnesses.map((w) => [w.name, w.cosigned]), [["a", true], ["b", true], ["c", false]]);
  assert.equal(summary.witnesses[0].state?.blocks_behind, 2);
  assert.equal(summary.witnesses[1].state, null);
});

test("quorum not met: said so, and who did cosign", async () => {
  const c = policyCase("2 of 3 / a");
  const summary = await witnessSummary(c.note, { origin: ORIGIN, size: 7, witnesses: [], policy: c.policy }, []);
  assert.equal(summary.met, false);
  assert.match(summary.problem ?? "", /quorum 'g' is not met \(cosigned by: a\)/);
  assert.deepEqual(summary.witnesses.map((w) => [w.name, w.cosigned]), [["a", true], ["b", false], ["c", false]]);
});

test("a forked checkpoint with pasted cosignatures fails and shows none", async () => {
  const c = policyCase("2 of 3 / fork with pasted a b");
  const summary = await witnessSummary(c.note, { origin: ORIGIN, size: 7, witnesses: [], policy: c.policy }, []);
  assert.equal(summary.met, false);
  assert.ok(summary.witnesses.every((w) => !w.cosigned));
});

test("no policy: the API's witnesses, checked against the checkpoint", async () => {
  const c = policyCase("2 of 3 / a");
  const keys = witnessKeys(c.policy);
  const status = {
    origin: ORIGIN,
    size: 7,
    witnesses: ["a", "b"].map((n) => ({ name: `witness.example/${n}`, vkey: keys.get(n), cosigned_size: 7, cosigned_at: 1, blocks_behind: 0, age_s: 1 })),
    policy: null,
  };
  const summary = await witnessSummary(c.note, status, []);
  assert.equal(summary.met, null);
  assert.deepEqual(summary.witnesses.map((w) => [w.name, w.cosigned]), [["witness.example/a", true], ["witness.example/b", false]]);
});

test("panel text: nothing for an unwitnessed chain without a policy; Chinese on a zh page", async () => {
  const c = policyCase("2 of 3 / a");
  const none = await witnessSummary(c.note, { origin: ORIGIN, size: 7, witnesses: [], policy: null }, []);
  assert.equal(witnessText(none, "en"), null);
  assert.equal(witnessText(none, "zh-Hans"), null);
  const keys = witnessKeys(c.policy);
  const status = {
    origin: ORIGIN,
    size: 7,
    witnesses: [{ name: "witness.example/a", vkey: keys.get("a"), cosigned_size: 7, cosigned_at: 1, blocks_behind: 0, age_s: 30 }],
    policy: null,
  };
  const summary = await witnessSummary(c.note, status, []);
  const en = witnessText(summary, "en");
  assert.equal(en.heading, `Witnesses of ${ORIGIN} (no witness policy published):`);
  assert.match(en.lines[0], /^✓ witness\.example\/a cosigned this checkpoint at .*; latest cosigned size 7 \(0 blocks behind\), 30 s ago$/);
  const zh = witnessText(summary, "zh-Hans");
  assert.equal(zh.heading, `${ORIGIN} 的见证方（未发布见证策略）：`);
  assert.match(zh.lines[0], /^✓ witness\.example\/a 已于 .* 联署此检查点；最新联署大小 7（落后 0 个区块），30 秒前$/);
});
