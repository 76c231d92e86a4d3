// The market statements of static/market/listing.js against vectors from the Python builder
// (farmtrace/commerce/listing.py), written by tests/commerce/test_listing_statement.py to the
// file named by MARKET_LISTING_VECTORS: same bytes, same listing ID, same refusals.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

const MARKET = new URL("../../farmtrace/api/web/static/market/", import.meta.url);
const { listStatement, withdrawStatement, offerStatement, listingId, parsePrice, formatPrice, verifyListing } =
  await import(new URL("listing.js", MARKET).href);

const path = process.env.MARKET_LISTING_VECTORS;
if (path === undefined) {
  test.skip("market statements against Python's vectors (set MARKET_LISTING_VECTORS; pytest tests/commerce/test_listing_statement.py does)");
} else {
  const vectors = JSON.parse(readFileSync(path, "utf8"));

  const build = { list: listStatement, withdraw: withdrawStatement, offer: offerStatement };
  const hex = (bytes) => Buffer.from(bytes).toString("hex");

  test("every valid statement is byte-identical to Python's, with the same listing ID", async () => {
    for (const v of vectors.valid) {
      const bytes = build[v.op](v.fields);
      assert.equal(hex(bytes), v.hex, `${v.op} ${JSON.stringify(v.fields)}`);
      if (v.op === "list") assert.equal(await listingId(bytes), v.listing_id);
    }
  });

  test("every malformed statement is refused, as Python refuses it", () => {
    for (const v of vectors.invalid) {
      assert.throws(() => build[v.op](v.fields), { name: "CommerceError" }, `${v.op} ${JSON.stringify(v.fields)}`);
    }
  });

  test("prices typed by people become exact minor units", () => {
    assert.equal(parsePrice("48", 2), 4800);
    assert.equal(parsePrice("48.5", 2), 4850);
    assert.equal(parsePrice("48,05", 2), 4805);
    assert.equal(parsePrice("0.01", 2), 1);
    assert.equal(parsePrice("48.123", 2), null);
    assert.equal(parsePrice("-1", 2), null);
    assert.equal(parsePrice("1e3", 2), null);
    assert.equal(parsePrice("300", 0), 300);
    assert.equal(formatPrice(4800, 2), "48.00");
    assert.equal(formatPrice(5, 2), "0.05");
    assert.equal(formatPrice(300, 0), "300");
  });

  test("served listings get the same verdict as Python's, word for word", async () => {
    for (const v of vectors.listings) {
      assert.equal(await verifyListing(v.listing), v.problem, JSON.stringify(v.listing));
    }
  });
}
