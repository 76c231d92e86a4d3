// verifyBundle (farmtrace/api/web/static/page/bundle.js) on bundles served by the Python API and judged by
// the Python reference (farmtrace/api/services/verify.py): tests/api/test_page_bundle_js.py writes the cases and
// runs this file with PAGE_BUNDLE_CASES=<cases.json>. Run on its own (make test-js), it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { CHECKS, verifyBundle } from "../../farmtrace/api/web/static/page/bundle.js";

// A decoder's or parser's own explanation (after these words) is worded by each language's
// decoder; the item, the check and everything before it must be the same, word for word.
const DETAIL = [": entry does not decode: ", ": header does not parse: ", "bundle is not JSON: "];

/** @param {string} message */
function sameWords(message) {
  for (const marker of DETAIL) {
    const at = message.indexOf(marker);
    if (at >= 0) return message.slice(0, at + marker.length);
  }
  return message;
}

const casesPath = process.env.PAGE_BUNDLE_CASES;
const cases = casesPath ? JSON.parse(readFileSync(casesPath, "utf8")).cases : [];
const skip = casesPath ? false : "PAGE_BUNDLE_CASES is not set: run tests/api/test_page_bundle_js.py";

test("the cases file holds cases", { skip }, () => {
  assert.ok(cases.length >= 1);
});

for (const c of cases) {
  test(`bundle: ${c.name}`, { skip }, async () => {
    const input = typeof c.bundle === "string" ? c.bundle : JSON.stringify(c.bundle);
    const report = await verifyBundle(input, c.vkey);
    assert.equal(report.ok, c.want.ok, JSON.stringify(report.failures));
    if (c.want.ok) {
      assert.deepEqual(report.failures, []);
      assert.equal(report.counts.readings, c.want.readings);
      assert.equal(report.counts.events, c.want.events);
      assert.equal(report.counts.pending, c.want.pending);
      assert.equal(report.counts.declarations, c.want.declarations);
      assert.equal(report.counts.declarationsPending, c.want.declarations_pending);
      assert.equal(report.state, c.want.pending + c.want.declarations_pending > 0 ? "pending" : "verified");
      assert.equal(report.readings.length, c.want.readings);
      for (const name of CHECKS) assert.equal(report.checks[name], "ok", name);
    } else {
      assert.equal(report.state, "failed");
      assert.ok(report.failures.length >= 1);
      assert.equal(sameWords(report.failures[0].message), sameWords(c.want.first));
      assert.equal(report.checks[report.failures[0].check], "failed");
    }
  });
}
