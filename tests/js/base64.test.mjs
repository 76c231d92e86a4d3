// Strict standard base64: the forms Go's base64.StdEncoding accepts, checked against node's Buffer.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import test from "node:test";

import { VERIFY_DIR } from "./vectors.mjs";

const { encodeBase64, decodeBase64, decodeCanonicalBase64 } = await import(new URL("base64.js", VERIFY_DIR).href);

test("round trips agree with node's Buffer for 0..64 random bytes", () => {
  for (let n = 0; n <= 64; n++) {
    const bytes = new Uint8Array(randomBytes(n));
    const text = encodeBase64(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64"));
    assert.deepEqual(decodeBase64(text), bytes);
    assert.deepEqual(decodeCanonicalBase64(text), bytes);
  }
});

test("well-formed strings decode", () => {
  assert.deepEqual(decodeBase64(""), new Uint8Array(0));
  assert.deepEqual(decodeBase64("AA=="), Uint8Array.of(0));
  assert.deepEqual(decodeBase64("AAA="), Uint8Array.of(0, 0));
  assert.deepEqual(decodeBase64("+/+/"), Uint8Array.of(0xfb, 0xff, 0xbf));
});

test("unused low bits are ignored by decodeBase64 and refused by decodeCanonicalBase64", () => {
  assert.deepEqual(decodeBase64("AB=="), Uint8Array.of(0));
  assert.deepEqual(decodeBase64("AAB="), Uint8Array.of(0, 0));
  assert.equal(decodeCanonicalBase64("AB=="), null);
  assert.equal(decodeCanonicalBase64("AAB="), null);
});

test("malformed strings are refused", () => {
  // "AAAA=" and "AAAA==" are accepted by Python 3.11's b64decode(validate=True), but not by Go
  // or by Python 3.13: padding after a complete group is an error here.
  const bad = ["=", "A", "AA", "AAA", "AA=", "AAAA=", "AAAA==", "A===", "AA=A", "AA==AA==", "AAA=AAAA",
    " AA==", "AA== ", "AA\n==", "-_==", "AAAAA", "AA==="];
  for (const text of bad) assert.equal(decodeBase64(text), null, JSON.stringify(text));
  assert.equal(decodeBase64(42), null);
});
