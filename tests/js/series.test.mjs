// The complete-series rule in the browser verifier (farmtrace/api/web/static/verify/series.js,
// run by page/bundle.js) on bundles of tests/support/series.py's lot and their tampered copies,
// each judged first by the Python reference: tests/api/test_series_js.py writes the cases and
// runs this file with SERIES_CASES=<cases.json>. Run on its own (make test-js), it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { verifyBundle } from "../../farmtrace/api/web/static/page/bundle.js";
import { decodeReading, verifyEd25519 } from "../../farmtrace/api/web/static/page/entries.js";
import { decodeBase64 } from "../../farmtrace/api/web/static/verify/base64.js";
import { SeriesError, checkSeries } from "../../farmtrace/api/web/static/verify/series.js";

/**
 * The series rule alone on a bundle, as tests/support/series_tamper.py's rule_verdict: "ok" or
 * the message of its SeriesError.
 * @param {any} bundle
 */
async function ruleVerdict(bundle) {
  const readings = bundle.readings.map((/** @type {any} */ item) => {
    const r = decodeReading(/** @type {Uint8Array} */ (decodeBase64(item.entry)));
    const what = `reading ${item.global_index} (device ${r.deviceId} seq ${r.seq})`;
    return { what, deviceId: r.deviceId, seq: r.seq, timestampMs: r.timestampMs };
  });
  const keys = new Map(Object.entries(bundle.device_keys).map(([d, k]) => [d, decodeBase64(/** @type {string} */ (k))]));
  try {
    await checkSeries(bundle, readings, /** @type {Map<string, Uint8Array>} */ (keys), verifyEd25519);
  } catch (error) {
    if (!(error instanceof SeriesError)) throw error;
    return error.message;
  }
  return "ok";
}

const casesPath = process.env.SERIES_CASES;
const cases = casesPath ? JSON.parse(readFileSync(casesPath, "utf8")).cases : [];
const skip = casesPath ? false : "SERIES_CASES is not set: run tests/api/test_series_js.py";

test("the cases file holds a good bundle and tampered ones", { skip }, () => {
  assert.ok(cases.some((c) => c.want.ok));
  assert.ok(cases.some((c) => !c.want.ok));
});

for (const c of cases) {
  test(`series: ${c.name}`, { skip }, async () => {
    if (c.rule !== undefined) assert.equal(await ruleVerdict(c.bundle), c.rule);
    if (c.name.startsWith("random ")) return; // the rule alone: the lot's facts changed too
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
      // A changed stage window may fail the lot's signed declaration first ("claims").
      if (c.rule === undefined || c.rule === c.want.first) {
        assert.equal(report.failures[0].check, "series");
        assert.equal(report.checks.series, "failed");
      }
    }
  });
}
