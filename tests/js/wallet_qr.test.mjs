// The browser wallet's QR encoder (farmtrace/api/web/static/wallet/qr.js) against symbols made by
// farmtrace.qr's encoding (segno, level M, no boosting) in tests/js/wallet_vectors.json (written
// by tests/api/test_wallet_js.py): the same version, mask and every module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { MAX_BYTES, qrMatrix, qrSvg, versionFor } from "../../farmtrace/api/web/static/wallet/qr.js";

const vectors = JSON.parse(readFileSync(new URL("./wallet_vectors.json", import.meta.url), "utf8"));

for (const v of vectors.qr) {
  test(`QR of ${v.text.length} characters: version ${v.version}, mask ${v.mask}, as segno`, () => {
    const code = qrMatrix(v.text);
    assert.equal(code.version, v.version);
    assert.equal(code.mask, v.mask);
    assert.equal(code.size, v.rows.length);
    assert.deepEqual(code.rows.map((row) => Array.from(row).join("")), v.rows);
  });
}

test("the redeem statement's QR is among the vectors (version 13 or so)", () => {
  assert.ok(vectors.qr.some((v) => v.text.length > 250 && v.version >= 10));
  assert.ok(vectors.qr.some((v) => v.version >= 7)); // version information
});

test("versions grow with the text; beyond version 40 is refused", () => {
  assert.equal(versionFor(14), 1);
  assert.equal(versionFor(15), 2);
  assert.equal(versionFor(MAX_BYTES), 40);
  assert.throws(() => versionFor(MAX_BYTES + 1), RangeError);
});

test("the SVG has a quiet zone, one path, and escapes its title", () => {
  const svg = qrSvg("hello", { title: '<a & "b">' });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" viewBox="0 0 29 29"/);
  assert.ok(svg.includes("<title>&#60;a &#38; &#34;b&#34;&#62;</title>"));
  assert.equal((svg.match(/<path /g) ?? []).length, 1);
  assert.ok(!/style=|<script/.test(svg));
});
