// Lot declarations in the browser verifier (farmtrace/api/web/static/verify/declaration.js) against
// docs/vectors/declaration.json, which the Python reference writes and checks
// (tests/api/make_declaration_vectors.py, tests/api/test_lot_declaration_format.py): the same entries
// decode, the same ones are refused, the same chains break and every tampered field is named
// word for word as the reference names it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  DeclarationError, canonicalJson, chainProblem, decodeDeclaration, entrySha256, firstDifference,
} from "../../farmtrace/api/web/static/verify/declaration.js";
import { signerId, verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/vectors/declaration.json", import.meta.url), "utf8"));
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
const decoded = vectors.valid.map((v) => decodeDeclaration(hex(v.payload_hex)));

test("valid declarations decode field by field, hash and verify with the vector key", async () => {
  const key = hex(vectors.key.public_key_hex);
  assert.equal(await signerId(key), vectors.key.signer);
  assert.ok(vectors.valid.length >= 3);
  for (const [i, v] of vectors.valid.entries()) {
    const d = decoded[i];
    assert.equal(d.seq, BigInt(v.seq));
    assert.equal(d.timeMs, BigInt(v.time_ms));
    assert.equal(d.signer, vectors.key.signer);
    assert.deepEqual(d.body, v.body);
    assert.equal(d.version, v.body.version);
    assert.deepEqual(d.signedBytes, hex(v.signed_bytes_hex));
    assert.equal(await entrySha256(d.payload), v.entry_sha256);
    assert.ok(await verifyEd25519(key, d.signature, d.signedBytes));
    const flipped = Uint8Array.from(d.signedBytes);
    flipped[flipped.length - 3] ^= 1;
    assert.equal(await verifyEd25519(key, d.signature, flipped), false);
  }
});

test("the canonical JSON is Python's, byte for byte", () => {
  for (const v of vectors.valid) {
    const signed = hex(v.signed_bytes_hex);
    const body = new TextDecoder().decode(signed.subarray(signed.length - new TextEncoder().encode(canonicalJson(v.body)).length));
    assert.equal(canonicalJson(v.body), body);
  }
});

test("malformed declarations are refused, each for its reason", () => {
  assert.ok(vectors.invalid.length >= 10);
  for (const v of vectors.invalid) {
    assert.throws(() => decodeDeclaration(hex(v.payload_hex)), (error) => {
      assert.ok(error instanceof DeclarationError);
      assert.ok(error.message.includes(v.reason), `${v.reason}: got ${error.message}`);
      return true;
    });
  }
});

test("version chains: unbroken ones pass, removed, reordered and relinked ones fail as in Python", async () => {
  for (const c of vectors.chains) {
    assert.equal(await chainProblem(c.versions.map((i) => decoded[i])), c.want, c.name);
  }
});

test("every declared field changed in a bundle's lot is named as the reference names it", () => {
  const declaration = decoded[vectors.comparisons.declaration];
  const cases = vectors.comparisons.cases;
  assert.ok(cases.filter((c) => c.want !== null).length >= 25);
  for (const c of cases) assert.equal(firstDifference(c.lot, declaration), c.want, c.name);
});
