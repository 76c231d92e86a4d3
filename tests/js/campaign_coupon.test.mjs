// The coupon page's check (farmtrace/api/web/static/campaign/coupon_check.js) on bundles the API
// serves, judged first by the Python side: tests/api/test_campaign_pages_js.py writes the cases
// (the verified steps the API's coupon view shows, the reference verifier's first failure for a
// tampered bundle, a page that disagrees) and runs this file with CAMPAIGN_PAGE_CASES=<cases.json>.
// Run on its own (make test-js), it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { COUPON_PAGE_CHECKS, checkCouponPage } from "../../farmtrace/api/web/static/campaign/coupon_check.js";

const casesPath = process.env.CAMPAIGN_PAGE_CASES;
const cases = casesPath ? JSON.parse(readFileSync(casesPath, "utf8")).cases : [];
const skip = casesPath ? false : "CAMPAIGN_PAGE_CASES is not set: run tests/api/test_campaign_pages_js.py";

test("the cases file holds cases", { skip }, () => {
  assert.ok(cases.length >= 1);
});

for (const c of cases) {
  test(`coupon page: ${c.name}`, { skip }, async () => {
    const result = await checkCouponPage(c.coupon_bundle, c.campaign_bundle, c.vkeys, c.shown);
    assert.equal(result.ok, c.want.ok, JSON.stringify(result.failures));
    assert.deepEqual(Object.keys(result.checks), [...COUPON_PAGE_CHECKS]);
    if (c.want.ok) {
      assert.equal(result.state, c.want.state);
      assert.deepEqual(result.failures, []);
      for (const name of COUPON_PAGE_CHECKS) assert.equal(result.checks[name], "ok", name);
      assert.deepEqual(
        result.steps.map((s) => ({ kind: s.kind, state: s.state, holder: s.holder, holderFingerprint: s.holderFingerprint, price: s.price, anchored: s.anchored })),
        c.want.steps,
      );
      assert.ok(result.lines.some((line) => line.startsWith("campaign bundle: caps recounted: issued ")));
    } else {
      assert.equal(result.state, "failed");
      assert.equal(result.failures.length, 1);
      assert.equal(result.failures[0].message, c.want.first);
      assert.equal(result.failures[0].check, c.want.check);
      assert.equal(result.checks[c.want.check], "failed");
    }
  });
}
