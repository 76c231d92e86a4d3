// Campaign entries and holder statements in the browser verifier
// (farmtrace/api/web/static/verify/commerce.js, page/commerce_bundle.js) against
// docs/vectors/commerce.json, which the Python reference writes and checks
// (tests/commerce/make_commerce_vectors.py, tests/commerce/test_commerce_vectors.py): the same
// entries decode to the same fields and states, the same ones are refused, the replay reaches the
// recorded campaign and coupons after every entry, and refused histories name the same first
// violation word for word. tests/commerce/test_commerce_js.py compares many more cases, and real
// bundles, with the reference under node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  CampaignReplay, CommerceError, JsonFloat, Violation, addressProblem, canonicalText, checkDigit,
  couponId, decodeCampaignEntry, decodeStatement, fingerprint, farmSigner, parseAddress,
  parseCouponId, parsePythonJson, parseTerms, pyRepr, termsSha256, validateCurrency, validateGcn,
} from "../../farmtrace/api/web/static/verify/commerce.js";
import { verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";
import {
  CAMPAIGN_BUNDLE, COUPON_BUNDLE, verifyAnyBundle, verifyCommerceBundle,
} from "../../farmtrace/api/web/static/page/commerce_bundle.js";

import { makeSigner } from "./signer.mjs";

const vectors = JSON.parse(readFileSync(new URL("../../docs/vectors/commerce.json", import.meta.url), "utf8"));
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const decode = (payload) => (payload[1] === 0x43 ? decodeCampaignEntry(payload) : decodeStatement(payload));

/** The vectors' procedure: transfers queued, entries applied in order, finish. */
async function replay(items, farmKey = null) {
  const r = new CampaignReplay({ farmKey, verify: verifyEd25519 });
  const decoded = [];
  for (const payload of items) decoded.push(await decode(payload));
  for (const d of decoded) if (d.kind === "statement") r.addTransfer(d);
  for (const d of decoded) if (d.kind === "campaign") await r.apply(d);
  await r.finish();
  return r;
}

test("every vector entry decodes to its fields, bytes and state", async () => {
  for (const v of vectors.history) {
    const d = await decode(hex(v.payload_hex));
    assert.equal(d.state, v.state);
    assert.deepEqual(d.body, v.body);
    assert.deepEqual(d.signedBytes, hex(v.signed_bytes_hex));
    assert.deepEqual(d.signature, hex(v.signature_hex));
    assert.equal(d.timeMs, BigInt(v.time_ms));
    if (v.kind === "campaign") {
      assert.equal(d.op, v.op);
      assert.equal(d.cseq, v.cseq);
      assert.equal(d.seq, BigInt(v.seq));
      assert.equal(d.signer, vectors.keys.farm.signer);
      assert.ok(await verifyEd25519(hex(vectors.keys.farm.public_key_hex), d.signature, d.signedBytes));
    } else {
      assert.equal(d.move, v.move);
      assert.equal(d.coupon, v.coupon);
    }
  }
  assert.equal(await farmSigner(hex(vectors.keys.farm.public_key_hex)), vectors.keys.farm.signer);
  for (const h of Object.values(vectors.keys.holders)) {
    assert.equal(await fingerprint(hex(h.address)), h.fingerprint);
    assert.equal(addressProblem(hex(h.address)), null);
  }
});

test("every malformed vector entry is refused for its reason", async () => {
  for (const v of vectors.invalid) {
    const payload = hex(v.payload_hex);
    const decoding = v.kind === "campaign" ? decodeCampaignEntry(payload) : decodeStatement(payload);
    await assert.rejects(decoding, (error) => {
      assert.ok(error instanceof CommerceError, String(error));
      assert.ok(error.message.includes(v.reason), `${error.message} lacks ${v.reason}`);
      return true;
    });
  }
});

test("the replay reaches the recorded campaign and coupons after every entry", async () => {
  const payloads = vectors.history.map((v) => hex(v.payload_hex));
  for (const [i, v] of vectors.history.entries()) {
    const r = await replay(payloads.slice(0, i + 1), hex(vectors.keys.farm.public_key_hex));
    const t = r.totals;
    assert.deepEqual(
      { cseq: r.cseq, head: r.head, status: r.status, totals: { ...t, outstanding: t.issued - t.redeemed - t.voided }, harvested: r.harvested },
      v.after.campaign,
    );
    const coupons = {};
    for (const c of r.coupons.values()) {
      coupons[c.coupon] = {
        holder: c.holder, holder_fingerprint: await fingerprint(hex(c.holder)), state: c.state, moves: c.moves, status: c.status,
      };
    }
    assert.deepEqual(coupons, v.after.coupons);
  }
});

test("each refused history names its first violation word for word", async () => {
  for (const v of vectors.violations) {
    const items = v.items.map((i) => hex("ref" in i ? vectors.history[i.ref].payload_hex : i.payload_hex));
    await assert.rejects(replay(items), (error) => {
      assert.ok(error instanceof Violation, String(error));
      assert.equal(error.message, v.want, v.name);
      assert.equal(`${error.item}: ${error.reason}`, v.want);
      return true;
    });
  }
});

test("JSON is read as Python reads it, and canonical JSON is Python's", () => {
  assert.ok(parsePythonJson("1.0") instanceof JsonFloat);
  assert.ok(parsePythonJson("1e2") instanceof JsonFloat);
  assert.ok(parsePythonJson("NaN") instanceof JsonFloat);
  assert.equal(parsePythonJson("9007199254740993"), 9007199254740993n);
  assert.ok(Object.is(parsePythonJson("-0"), 0)); // an int in Python: 0, re-encoded "0"
  assert.deepEqual(parsePythonJson('{"a":1,"a":2}'), { a: 2 });
  assert.equal(Object.getPrototypeOf(parsePythonJson('{"__proto__":{"x":1}}')), Object.prototype);
  assert.deepEqual(Object.keys(parsePythonJson('{"__proto__":{"x":1}}')), ["__proto__"]);
  assert.equal(parsePythonJson('"\\ud800"'), "\ud800");
  for (const bad of ["01", "+1", "[1,]", '{"a":1,}', "'a'", '"a\tb"', "\ufeff1", "1 x", ""]) {
    assert.throws(() => parsePythonJson(bad), SyntaxError, bad);
  }
  assert.equal(canonicalText({ b: [1, "é"], a: { d: "\n", c: "\u007f" } }), '{"a":{"c":"\u007f","d":"\\n"},"b":[1,"é"]}');
  assert.throws(() => canonicalText({ a: 1.5 }), /body\.a: only strings, integers, arrays and objects are allowed/);
  assert.throws(() => canonicalText([true]), /body\[0\]: only strings/);
  assert.throws(() => canonicalText({ a: 2 ** 53 }), /integer 9007199254740992 is outside/);
  assert.throws(() => canonicalText({ a: "\udc00" }), /text with no UTF-8 form/);
  assert.equal(pyRepr({ a: [1, "it's"], b: null }), `{'a': [1, "it's"], 'b': None}`);
});

test("GCNs, coupon IDs, currencies", () => {
  assert.equal(checkDigit("061414100001"), "2");
  assert.equal(validateGcn("0614141000012"), "0614141000012");
  assert.throws(() => validateGcn("0614141000013"), /gcn: check digit of 0614141000013 should be 2/);
  assert.throws(() => validateGcn("061414100001"), /expected 13 digits/);
  assert.equal(couponId("0614141000012", 7), "06141410000127");
  assert.deepEqual(parseCouponId("06141410000127"), ["0614141000012", 7]);
  assert.deepEqual(parseCouponId("0614141000012999999999999"), ["0614141000012", 999999999999]);
  for (const bad of ["061414100001207", "0614141000012", "06141410000120000000000001", 7]) {
    assert.throws(() => parseCouponId(bad), CommerceError, String(bad));
  }
  assert.throws(() => couponId("0614141000012", 0), /out of range/);
  assert.equal(validateCurrency("CNY"), "CNY");
  assert.throws(() => validateCurrency("XYZ"), /currency: 'XYZ' is not an active ISO 4217 currency code/);
});

test("wallet addresses: canonical curve points of more than small order", () => {
  const smallOrder = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  ];
  for (const h of smallOrder) {
    const problem = addressProblem(hex(h));
    assert.ok(problem === "it is a point of small order (anyone could sign for it)" || problem.includes("non-canonical"), h);
  }
  // y = p: not reduced; y = 2 is not on the curve (no x); the farm key (RFC 8032 test 1) is fine.
  assert.match(addressProblem(hex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")), /not reduced modulo p/);
  assert.equal(addressProblem(hex(`02${"00".repeat(31)}`)), "it is not a point on the curve");
  assert.equal(addressProblem(hex(vectors.keys.farm.public_key_hex)), null);
  assert.equal(addressProblem(new Uint8Array(31)), "it is 31 bytes, not 32");
  assert.throws(() => parseAddress("AB".repeat(32), "to"), /to: expected 64 lowercase hex digits/);
  assert.throws(() => parseAddress(smallOrder[0], "holder"), /holder: not a usable Ed25519 public key: it is a point of small order/);
});

test("terms: the vector terms parse and hash; each rule is named", async () => {
  const terms = parseTerms(vectors.terms.json);
  assert.equal(await termsSha256(terms), vectors.terms.sha256);
  assert.equal(canonicalText(vectors.terms.json), vectors.terms.canonical);
  const broken = (change) => () => parseTerms({ ...vectors.terms.json, ...change });
  assert.throws(broken({ cap: 2 }), /target: 3 coupons is more than the cap 2/);
  assert.throws(broken({ extra: 1 }), /terms: unknown field 'extra'/);
  assert.throws(broken({ price: { amount: 10 ** 12, currency: "CNY" }, cap: 10000 }), /price times cap overflows/);
  assert.throws(broken({ text: { zh: "\u3000", en: "x" } }), /text\.zh: expected non-empty text/);
  assert.throws(broken({ per_coupon: { quantity: 5, unit: "KG" } }), /per_coupon\.unit: 'KG' is not a UN\/ECE Rec 20 unit/);
  assert.throws(broken({ deadline_ms: 1 }), /deadline_ms: must be after opens_ms/);
});

test("the replay needs a signature check; bundles of the wrong shape fail naming the field", async () => {
  assert.throws(() => new CampaignReplay({}), TypeError);
  await assert.rejects(verifyCommerceBundle(5, "key"), TypeError);
  const bad = await verifyCommerceBundle({ format: CAMPAIGN_BUNDLE }, "not a key");
  assert.equal(bad.state, "failed");
  assert.match(bad.failures[0].message, /^verifier key: /);
  const { vkey } = makeSigner("farmtrace.example/gw");
  const formats = [
    [{ format: "farmtrace-campaign-bundle/v2" }, "bundle format is 'farmtrace-campaign-bundle/v2', expected 'farmtrace-bundle/v2'"],
    [{ format: CAMPAIGN_BUNDLE, campaign: "0614141000013" }, "bundle: field 'campaign': gcn: check digit of 0614141000013 should be 2"],
    [{ format: COUPON_BUNDLE, campaign: "0614141000012" }, "bundle: missing or malformed field 'coupon'"],
    [{ format: COUPON_BUNDLE, campaign: "0614141000012", coupon: "06141410000291" }, "bundle: coupon 06141410000291 is not of campaign 0614141000012"],
    [{ format: CAMPAIGN_BUNDLE, campaign: "0614141000012" }, "bundle: missing or malformed field 'chains'"],
  ];
  for (const [bundle, want] of formats) {
    const report = await verifyAnyBundle(bundle, vkey);
    assert.equal(report.ok, false);
    assert.equal(report.failures[0].message, want);
  }
});
