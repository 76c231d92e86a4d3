// The member view's own code (farmtrace/api/web/static/community/member.js) under node: the
// numbers it shows are formatted from integers exactly (tokens, money from minor units, the
// share of the supply), and each change of a balance is told in the page's words from the
// statement's history (docs/vectors/community.json's member views). The whole view, with the
// wallet and the API, runs in Chromium (tests/community/test_community_page_browser.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  fill, formatMoney, formatTokens, lineText, percent, utcTime,
} from "../../farmtrace/api/web/static/community/member.js";

const vectors = JSON.parse(readFileSync(new URL("../../docs/vectors/community.json", import.meta.url), "utf8"));
const WORDS = {
  line_rules: "Initial allocation (rules version {version})",
  line_deposit: "Deposit of {amount}",
  line_service: "Service: revenue {revenue}",
  line_service_cost: "Service: revenue {revenue}, cost {cost}",
  line_work: "Work: {minutes} minutes",
  line_pledge: "Pledge of {amount} to campaign {campaign}",
  line_sent: "Sent to {who}",
  line_received: "Received from {who}",
  line_reinvest: "Reinvested surplus of {surplus} (distribution at entry {n})",
};
const UNITS = { currency: "CNY", digits: 2, symbol: "CUT" };

test("tokens and money are formatted from integers, exactly", () => {
  assert.equal(formatTokens(10_025_250), "10,025,250");
  assert.equal(formatTokens(-1000, true), "-1,000");
  assert.equal(formatTokens(25000, true), "+25,000");
  assert.equal(formatTokens(0, true), "+0");
  assert.equal(formatTokens(2n ** 60n), "1,152,921,504,606,846,976");
  assert.equal(formatMoney(100_000, "CNY", 2), "1,000.00\u00a0CNY");
  assert.equal(formatMoney(5, "CNY", 2), "0.05\u00a0CNY");
  assert.equal(formatMoney(1_234_567, "JPY", 0), "1,234,567\u00a0JPY");
  assert.equal(formatMoney(1_001, "BHD", 3), "1.001\u00a0BHD");
  assert.equal(formatMoney(9_007_199_254_740_991, "CNY", 2), "90,071,992,547,409.91\u00a0CNY");
});

test("the share of the supply is rounded to four decimals, half up", () => {
  assert.equal(percent(25_000, 10_025_250), "0.2494");
  assert.equal(percent(1, 3), "33.3333");
  assert.equal(percent(2, 3), "66.6667");
  assert.equal(percent(5, 5), "100");
  assert.equal(percent(0, 5), "0");
  assert.equal(percent(9_007_199_254_740_990, 9_007_199_254_740_991), "100");
});

test("templates and times", () => {
  assert.equal(fill("{a} of {b}, {c}", { a: 1, b: "x" }), "1 of x, {c}");
  assert.equal(utcTime(1_800_003_600_000), "2027-01-15 09:00 UTC");
});

test("each change of a vector member's balance is told from its history", async () => {
  const told = {};
  for (const [name, view] of Object.entries(vectors.member_views)) {
    told[name] = [];
    for (const line of view.history) told[name].push(await lineText(line, WORDS, UNITS));
  }
  assert.deepEqual(told.investor, [
    "Initial allocation (rules version 1)",
    "Reinvested surplus of 7,777.77\u00a0CNY (distribution at entry 11)",
  ]);
  assert.equal(told.customer[0], "Deposit of 1,000.00\u00a0CNY");
  assert.equal(told.customer[1], `Sent to ${vectors.keys.barber.fingerprint}`);
  const barber = told.barber ?? [];
  assert.ok(barber.includes("Service: revenue 100.00\u00a0CNY, cost 50.00\u00a0CNY"), barber.join(" | "));
  assert.ok(barber.includes(`Received from ${vectors.keys.customer.fingerprint}`), barber.join(" | "));
});

test("the page's figures are compared with the verified ones only over the same entries", async () => {
  const { pageMismatch } = await import("../../farmtrace/api/web/static/community/member.js");
  const verified = { entries: 5, supply: 10_025_250, holders: 4 };
  assert.equal(pageMismatch({ entries: 5, supply: 10_025_250, holders: 4 }, verified), null);
  assert.equal(
    pageMismatch({ entries: 5, supply: 10_025_251, holders: 4 }, verified),
    "page: shows supply 10025251, but entries 1..5 verified give 10025250",
  );
  assert.equal(
    pageMismatch({ entries: 5, supply: 10_025_250, holders: 3 }, verified),
    "page: shows 3 members holding tokens, but entries 1..5 verified give 4",
  );
  assert.equal(pageMismatch({ entries: 6, supply: 1, holders: 1 }, verified), null);
});
