// The campaign page's pledge module (farmtrace/api/web/static/campaign/pledge.js): the JSON body
// it POSTs, the money it shows and the reason it gives for a refusal. The page in a browser:
// tests/api/test_campaign_pages_browser.py.
import { test } from "node:test";
import assert from "node:assert/strict";

import { formatMoney, pledgeBody, refusalReason } from "../../farmtrace/api/web/static/campaign/pledge.js";

const ADDRESS = "ab".repeat(32);

test("the body holds the holder and the count, and contact and delivery only when given", () => {
  assert.deepEqual(pledgeBody(ADDRESS, "2"), { holder: ADDRESS, count: 2 });
  assert.deepEqual(pledgeBody(ADDRESS, 1, "  ", ""), { holder: ADDRESS, count: 1 });
  assert.deepEqual(pledgeBody(ADDRESS, 3, " a@example.org ", "Room 1"), {
    holder: ADDRESS,
    count: 3,
    contact: "a@example.org",
    delivery: "Room 1",
  });
});

test("money is shown in the currency's minor-unit digits, as the page renders it", () => {
  assert.equal(formatMoney(9000, "CNY", 2), "90.00\u00a0CNY");
  assert.equal(formatMoney(5, "CNY", 2), "0.05\u00a0CNY");
  assert.equal(formatMoney(1234, "KWD", 3), "1.234\u00a0KWD");
  assert.equal(formatMoney(500, "JPY", 0), "500 JPY");
});

test("a refusal's reason is the API's detail", () => {
  assert.equal(refusalReason({ error: "conflict", detail: "campaign 1 is closed" }, 409), "campaign 1 is closed");
  assert.equal(
    refusalReason({ error: "invalid-request", detail: [{ loc: ["body", "count"], msg: "too small" }] }, 422),
    "body.count: too small",
  );
  assert.equal(refusalReason(null, 502), "HTTP 502");
});
