// The page's entry decoders (farmtrace/api/web/static/page/entries.js, block.js) against the repository's
// reading and chain vectors (docs/vectors), which the Python side also checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  EntryError, canonicalBody, decodeEvent, decodeReading, signerId, verifyEd25519,
} from "../../farmtrace/api/web/static/page/entries.js";
import { parseBlockHeader } from "../../farmtrace/api/web/static/page/block.js";

const docs = (name) => JSON.parse(readFileSync(new URL(`../../docs/vectors/${name}`, import.meta.url), "utf8"));
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

test("valid reading vectors decode field by field and their signatures verify", async () => {
  const vectors = docs("readings.json");
  const key = hex(vectors.key.public_key_hex);
  assert.ok(vectors.valid.length >= 2);
  for (const v of vectors.valid) {
    const r = decodeReading(hex(v.payload_hex));
    assert.equal(r.deviceId, v.reading.device_id);
    assert.equal(r.seq, BigInt(v.reading.seq));
    assert.equal(r.timestampMs, BigInt(v.reading.timestamp_ms));
    assert.equal(r.site, v.reading.site);
    assert.equal(r.lot, v.reading.lot);
    assert.deepEqual(r.measurements, v.reading.measurements.map((m) => ({ type: m.type, uom: m.uom, value: m.value })));
    assert.deepEqual(r.signedBytes, hex(v.signed_bytes_hex));
    assert.equal(await verifyEd25519(key, r.signature, r.signedBytes), true);
    const altered = Uint8Array.from(r.signedBytes);
    altered[altered.length - 1] ^= 1;
    assert.equal(await verifyEd25519(key, r.signature, altered), false);
  }
});

test("invalid reading vectors are refused with the reason the Python decoder gives", () => {
  const vectors = docs("readings.json");
  assert.ok(vectors.invalid.length >= 5);
  for (const v of vectors.invalid) {
    assert.throws(() => decodeReading(hex(v.payload_hex)), (error) => {
      assert.ok(error instanceof EntryError);
      assert.ok(error.message.startsWith(v.reason), `${v.reason}: got ${error.message}`);
      return true;
    });
  }
});

test("Ed25519 check answers false, never throws, for bad keys and signatures", async () => {
  const msg = new Uint8Array([1, 2, 3]);
  assert.equal(await verifyEd25519(new Uint8Array(31), new Uint8Array(64), msg), false);
  assert.equal(await verifyEd25519(new Uint8Array(32).fill(0xff), new Uint8Array(64), msg), false);
  assert.equal(await verifyEd25519(new Uint8Array(32), new Uint8Array(63), msg), false);
});

test("block headers of the chain vectors parse; any changed byte is refused or differs", () => {
  const chain = docs("chain.json");
  for (const block of chain.blocks) {
    const h = parseBlockHeader(block.header);
    assert.equal(h.height, BigInt(block.height));
    assert.equal(h.origin, chain.origin);
  }
  const text = chain.blocks[1].header;
  for (const [from, to] of [["height 1", "height 01"], ["size ", "size  "], ["origin ", "origin a+"], ["\n", "\r\n"]]) {
    assert.throws(() => parseBlockHeader(text.replace(from, to)), EntryError, from);
  }
  assert.throws(() => parseBlockHeader(chain.blocks[0].header.replace("height 0", "height 5")), /only for block 0/);
  assert.throws(() => parseBlockHeader(text.slice(0, -1)), /newline/);
});

test("event entries: canonical body, strict decoding, signer IDs", async () => {
  assert.equal(canonicalBody({ b: "2", a: "x\"\n\u0001é" }), '{"a":"x\\"\\n\\u0001é","b":"2"}');
  // Code point order, as Python sorts str keys (UTF-16 order would put U+FF61 after U+1F600).
  assert.equal(canonicalBody({ "\u{1F600}": "", "\uFF61": "" }), '{"\uFF61":"","\u{1F600}":""}');
  const id = await signerId(new Uint8Array(32));
  assert.match(id, /^farmtrace-api\.[0-9a-f]{16}$/);
  const body = new TextEncoder().encode('{"kind":"harvest"}');
  const signer = new TextEncoder().encode(id);
  const entry = new Uint8Array(3 + 16 + 1 + signer.length + 4 + body.length + 64);
  entry.set([0x46, 0x45, 0x01]);
  const view = new DataView(entry.buffer);
  view.setBigUint64(3, 1n);
  view.setBigInt64(11, 1718000000000n);
  entry[19] = signer.length;
  entry.set(signer, 20);
  view.setUint32(20 + signer.length, body.length);
  entry.set(body, 24 + signer.length);
  const e = decodeEvent(entry);
  assert.equal(e.signer, id);
  assert.deepEqual(e.body, { kind: "harvest" });
  const spaced = new TextEncoder().encode('{"kind": "harvest"}');
  const bad = new Uint8Array(entry.length + 1);
  bad.set(entry.subarray(0, 20 + signer.length));
  new DataView(bad.buffer).setUint32(20 + signer.length, spaced.length);
  bad.set(spaced, 24 + signer.length);
  assert.throws(() => decodeEvent(bad), /canonical form/);
  assert.throws(() => decodeEvent(entry.subarray(0, 30)), /truncated/);
  assert.throws(() => decodeEvent(new Uint8Array(100)), /not an event entry/);
  // A lone surrogate written as a JSON escape has no UTF-8 form: the Python decoder refuses it
  // with the same words (tests/api/test_event_entry_text.py), so both verifiers agree.
  const lone = new TextEncoder().encode('{"kind":"\\ud800"}');
  const odd = new Uint8Array(3 + 16 + 1 + signer.length + 4 + lone.length + 64);
  odd.set(entry.subarray(0, 20 + signer.length));
  new DataView(odd.buffer).setUint32(20 + signer.length, lone.length);
  odd.set(lone, 24 + signer.length);
  assert.throws(() => decodeEvent(odd), /event body holds text with no UTF-8 form/);
});
