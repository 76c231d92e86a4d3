// Fresh cross-implementation cases for lot declarations, written and judged by the Python reference
// (tests/api/test_lot_declarations_js.py sets DECLARATION_CASES): every single-byte change of a
// declaration entry decodes or is refused alike, and bundle `lot` objects with random values and
// time spellings compare alike, message for message. Run on its own (make test-js), it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { decodeDeclaration, DeclarationError, firstDifference } from "../../farmtrace/api/web/static/verify/declaration.js";

const path = process.env.DECLARATION_CASES;
const skip = path ? false : "DECLARATION_CASES is not set: run tests/api/test_lot_declarations_js.py";
const data = path ? JSON.parse(readFileSync(path, "utf8")) : { entries: [], declaration_hex: "", comparisons: [] };
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

test("JS decodes exactly the entries the Python reference decodes", { skip }, () => {
  assert.ok(data.entries.length >= 100);
  const disagree = [];
  for (const c of data.entries) {
    let ok = true;
    try {
      decodeDeclaration(hex(c.hex));
    } catch (error) {
      if (!(error instanceof DeclarationError)) throw error;
      ok = false;
    }
    if (ok !== c.ok) disagree.push(`${c.name}: python ${c.ok}, js ${ok}`);
  }
  assert.deepEqual(disagree, []);
});

test("JS names the same first difference as the Python reference", { skip }, () => {
  const declaration = decodeDeclaration(hex(data.declaration_hex));
  assert.ok(data.comparisons.length >= 100);
  const disagree = [];
  for (const c of data.comparisons) {
    const got = firstDifference(c.lot, declaration);
    if (got !== c.want) disagree.push(`${c.name}: python ${c.want}, js ${got}`);
  }
  assert.deepEqual(disagree, []);
});
