// The complete-series rule in the browser verifier (farmtrace/api/web/static/verify/series.js,
// run by page/bundle.js) on bundles of tests/support/series.py's lot and their tampered copies,
// each judged first by the Python reference: tests/api/test_series_js.py writes the cases and
// runs this file with SERIES_CASES=<cases.json>. Run on its own (make test-js), it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { verifyBundle } from "../../farmtrace/api/web/static/page/bundle.js";

const casesPath = process.env.SERIES_CASES;
const cases = casesPath ? JSON.parse(readFileSync(casesPath, "utf8")).cases : [];
const skip = casesPath ? false : "SERIES_CASES is not set: run tests/api/test_series_js.py";

test("the cases file holds a good bundle and tampered ones", { skip }, () => {
  assert.ok(cases.some((c) => c.want.ok));
  assert.ok(cases.some((c) => !c.want.ok));
});

for (const c of cases) {
  test(`series: ${c.name}`, { skip }, async () => {
    const report = await verifyBundle(JSON.stringify(c.bundle), c.vkeys);
    if (c.want.ok) {
      assert.deepEqual(report.failures, []);
      assert.equal(report.checks.series, "ok");
      assert.equal(report.counts.lotReadings, c.want.lot_readings);
      const gaps = (report.series?.gaps ?? []).map((g) => [g.deviceId, Number(g.firstSeq), Number(g.lastSeq), g.cause]);
      assert.deepEqual(gaps, c.want.gaps);
    } else {
      assert.equal(report.state, "failed");
      assert.equal(report.failures[0].message, c.want.first);
      assert.equal(report.failures[0].check, "series");
      assert.equal(report.checks.series, "failed");
    }
  });
}
