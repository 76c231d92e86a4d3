// Cross-implementation check: inputs signed and judged by the Python reference (farmtrace.tlog),
// written by tests/support/tlog_cross.py; the JS verifier must reach the same verdict on each:
// the same parsed result, or a TlogError whose code is the Python exception's class name.
//
// The vectors are made fresh by tests/test_js_verifier.py, which sets FARMTRACE_CROSS_VECTORS to
// their path. Run by hand:
//   .venv/bin/python tests/support/tlog_cross.py /tmp/cross.json
//   FARMTRACE_CROSS_VECTORS=/tmp/cross.json node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

import { checkKind, KINDS } from "./cross_cases.mjs";
import { VERIFY_DIR } from "./vectors.mjs";

const verify = await import(new URL("index.js", VERIFY_DIR).href);
const PATH = process.env.FARMTRACE_CROSS_VECTORS;

if (PATH === undefined) {
  test.skip("cross-implementation vectors (set FARMTRACE_CROSS_VECTORS; pytest tests/test_js_verifier.py does)");
} else {
  const { cases } = JSON.parse(readFileSync(PATH, "utf8"));
  for (const kind of KINDS) {
    test(`JS agrees with the Python reference on every ${kind} case`, async () => {
      const { count, mismatches } = await checkKind(verify, cases, kind);
      assert.ok(count > 0, `no ${kind} cases in ${PATH}`);
      assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} of ${count} ${kind} cases differ`);
    });
  }
}
