// The browser wallet's holder statements (farmtrace/api/web/static/wallet/statements.js) against
// tests/js/wallet_vectors.json, which tests/api/test_wallet_js.py makes with the Python wallet
// (farmtrace.wallet.statements): byte for byte, since Ed25519 signatures are deterministic, and
// the wallet's refusals word for word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  StatementError, parseCouponView, redeemStatement, statementBytes, transferStatement,
} from "../../farmtrace/api/web/static/wallet/statements.js";
import { CommerceError, decodeStatement } from "../../farmtrace/api/web/static/verify/commerce.js";
import { verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";

const vectors = JSON.parse(readFileSync(new URL("./wallet_vectors.json", import.meta.url), "utf8"));
const fromHex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const PKCS8 = fromHex("302e020100300506032b657004220420");

/** A wallet-like signer from a seed, the key non-extractable as keys.js makes them. */
async function signerOf(seedHex) {
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8);
  pkcs8.set(fromHex(seedHex), 16);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]));
  const address = Buffer.from(jwk.x, "base64url").toString("hex");
  return { address, sign: async (bytes) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes)) };
}

test("the vectors cover transfers with and without a price, redeems and refusals", () => {
  const ops = vectors.statements.map((v) => (v.refused ? `refused ${v.op}` : v.op));
  for (const op of ["transfer", "redeem", "refused transfer", "refused redeem"]) assert.ok(ops.includes(op), op);
});

for (const [i, v] of vectors.statements.entries()) {
  test(`statement vector ${i}: ${v.refused ? "refused " : ""}${v.op} of ${v.head.coupon}`, async () => {
    const wallet = await signerOf(v.seed);
    const head = parseCouponView(v.head.coupon, v.head);
    const make = () =>
      v.op === "transfer"
        ? transferStatement(head, wallet, v.to, { price: v.price, timeMs: v.time_ms })
        : redeemStatement(head, wallet, { timeMs: v.time_ms });
    if (v.refused) {
      await assert.rejects(make(), (error) => error instanceof StatementError && error.message === v.refused);
      return;
    }
    const signed = await make();
    assert.equal(signed.base64, v.statement);
    assert.equal(signed.state, v.state);
    assert.equal(signed.move, v.head.moves + 1);
    const decoded = await decodeStatement(signed.payload);
    assert.equal(decoded.op, v.op);
    assert.equal(decoded.prev, v.head.state);
    assert.ok(await verifyEd25519(fromHex(wallet.address), decoded.signature, decoded.signedBytes));
  });
}

test("a malformed recipient or price is refused before signing, with the verifier's words", async () => {
  const v = vectors.statements[0];
  let signed = 0;
  const wallet = await signerOf(v.seed);
  const counting = { address: wallet.address, sign: async (b) => (signed++, wallet.sign(b)) };
  const head = parseCouponView(v.head.coupon, v.head);
  await assert.rejects(transferStatement(head, counting, "ABC", { timeMs: 1 }), CommerceError);
  await assert.rejects(transferStatement(head, counting, v.to, { price: { amount: 5, currency: "XXX" }, timeMs: 1 }), CommerceError);
  await assert.rejects(transferStatement(head, counting, v.to, { price: { amount: -1, currency: "CNY" }, timeMs: 1 }), CommerceError);
  assert.throws(() => statementBytes({ op: "redeem", coupon: "1", prev: v.head.state, move: 1, timeMs: 1 }), CommerceError);
  assert.equal(signed, 0);
});

test("parseCouponView refuses an answer naming another coupon or lacking a field", () => {
  const v = vectors.statements[0];
  assert.throws(() => parseCouponView("06141410000129", v.head), { message: `asked for coupon 06141410000129, the API answered with ${v.head.coupon}` });
  assert.throws(() => parseCouponView(v.head.coupon, { ...v.head, state: "x" }), { message: `the API's view of coupon ${v.head.coupon} has no valid 'state'` });
  assert.throws(() => parseCouponView(v.head.coupon, []), StatementError);
});
