// The browser wallet's API calls (farmtrace/api/web/static/wallet/api.js) with a stand-in fetch:
// the paths and bodies sent, and errors carrying the server's own detail text.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  ApiError, configureApi, getCoupon, holderCoupons, postTransfer, waitAnchored,
} from "../../farmtrace/api/web/static/wallet/api.js";

/** A fetch answering from `answers` in turn, recording the requests. */
function fake(answers) {
  const sent = [];
  configureApi({
    base: "http://api.test/",
    fetch: async (url, init) => {
      sent.push({ url, init });
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return new Response(next.body === undefined ? "not json" : JSON.stringify(next.body), { status: next.status ?? 200 });
    },
  });
  return sent;
}

test("paths, query and the transfer body", async () => {
  const sent = fake([{ body: { coupon: "c" } }, { body: [] }, { status: 201, body: { moves: 2 } }]);
  await getCoupon("06141410000121");
  await holderCoupons("ab".repeat(32));
  assert.deepEqual(await postTransfer("06141410000121", "RkgB"), { moves: 2 });
  assert.equal(sent[0].url, "http://api.test/v1/coupons/06141410000121");
  assert.equal(sent[1].url, `http://api.test/v1/coupons?holder=${"ab".repeat(32)}&limit=500`);
  assert.equal(sent[2].url, "http://api.test/v1/coupons/06141410000121/transfers");
  assert.equal(sent[2].init.method, "POST");
  assert.deepEqual(JSON.parse(sent[2].init.body), { statement: "RkgB" });
});

test("a refusal carries the status and the server's detail; validation lists are joined", async () => {
  fake([
    { status: 409, body: { error: "conflict", detail: "coupon 06141410000121: state abc was spent; its head is def" } },
    { status: 422, body: { detail: [{ loc: ["body", "statement"], msg: "Field required" }] } },
    { status: 502 },
    new TypeError("Failed to fetch"),
  ]);
  await assert.rejects(postTransfer("06141410000121", "x"), (e) =>
    e instanceof ApiError && e.status === 409 && e.code === "conflict" && e.message === "coupon 06141410000121: state abc was spent; its head is def");
  await assert.rejects(postTransfer("06141410000121", "x"), { status: 422, message: "statement: Field required" });
  await assert.rejects(getCoupon("1"), { status: 502, message: "the API answered 502" });
  await assert.rejects(getCoupon("1"), { status: 0, message: "the API could not be reached (Failed to fetch)" });
});

test("waitAnchored polls until the move's entry is anchored, or gives up", async () => {
  const pending = { history: [{ state: "s1", anchored: true }, { state: "s2", anchored: false }] };
  const done = { history: [{ state: "s1", anchored: true }, { state: "s2", anchored: true }] };
  const sent = fake([{ body: pending }, { body: pending }, { body: done }]);
  assert.deepEqual(await waitAnchored("c", "s2", { intervalMs: 1 }), done);
  assert.equal(sent.length, 3);
  fake([{ body: pending }, { body: pending }, { body: pending }]);
  await assert.rejects(waitAnchored("c", "s2", { intervalMs: 5, timeoutMs: 8 }), { status: 0, message: "coupon c's move is not anchored yet" });
});
