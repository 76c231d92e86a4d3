/**
 * Market statements, byte for byte as farmtrace/commerce/listing.py builds them: the domain line
 * `farmtrace/market/v1\n` followed by the canonical JSON body (../verify/commerce.js
 * `canonicalJson`, the same encoding as the Python reference). A wallet signs these bytes with
 * Ed25519; the server rebuilds them from the request's fields and checks the signature.
 *
 *   list:     {"coupon","op":"list","price":{"amount","currency"},"seller","state","time_ms"}
 *   withdraw: {"listing","op":"withdraw","time_ms"}
 *   offer:    {"buyer","listing","op":"offer","time_ms"}
 *
 * A listing's ID is the first 32 hex digits of the SHA-256 of its signed `list` bytes.
 * tests/commerce/test_listing_statement.py runs tests/js/market_listing.test.mjs against
 * vectors made by the Python builder.
 *
 * @module
 */

import { decodeBase64 } from "../verify/base64.js";
import { CommerceError, MAX_INT, canonicalJson, parseCouponId, validateCurrency } from "../verify/commerce.js";

export const DOMAIN = "farmtrace/market/v1\n";
const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;

/** @param {unknown} timeMs @returns {number} */
function checkTime(timeMs) {
  if (!Number.isSafeInteger(timeMs) || /** @type {number} */ (timeMs) <= 0 || /** @type {number} */ (timeMs) > MAX_INT) {
    throw new CommerceError("time_ms: expected a positive integer of milliseconds since the epoch");
  }
  return /** @type {number} */ (timeMs);
}

/** @param {unknown} value @param {string} where @param {RegExp} pattern @returns {string} */
function checkHex(value, where, pattern = HEX64) {
  if (typeof value !== "string" || !pattern.test(value)) {
    throw new CommerceError(`${where}: expected ${pattern === HEX64 ? 64 : 32} lowercase hex digits`);
  }
  return value;
}

/** @param {Record<string, unknown>} body @returns {Uint8Array} */
function signedBytes(body) {
  const domain = new TextEncoder().encode(DOMAIN);
  const json = canonicalJson(body);
  const out = new Uint8Array(domain.length + json.length);
  out.set(domain);
  out.set(json, domain.length);
  return out;
}

/**
 * The bytes a holder signs to list `coupon` in `state` at `amount` minor units of `currency`.
 * @param {{ coupon: string, state: string, seller: string, amount: number, currency: string, timeMs: number }} fields
 * @returns {Uint8Array}
 */
export function listStatement({ coupon, state, seller, amount, currency, timeMs }) {
  parseCouponId(coupon);
  checkHex(state, "state");
  checkHex(seller, "seller");
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new CommerceError("price.amount: expected a non-negative integer of minor units");
  }
  validateCurrency(currency, "price.currency");
  return signedBytes({
    op: "list", coupon, state, seller, price: { amount, currency }, time_ms: checkTime(timeMs),
  });
}

/** @param {{ listing: string, timeMs: number }} fields @returns {Uint8Array} */
export function withdrawStatement({ listing, timeMs }) {
  return signedBytes({ op: "withdraw", listing: checkHex(listing, "listing", HEX32), time_ms: checkTime(timeMs) });
}

/** @param {{ listing: string, buyer: string, timeMs: number }} fields @returns {Uint8Array} */
export function offerStatement({ listing, buyer, timeMs }) {
  return signedBytes({
    op: "offer", listing: checkHex(listing, "listing", HEX32), buyer: checkHex(buyer, "buyer"), time_ms: checkTime(timeMs),
  });
}

/** The listing ID of signed `list` bytes. @param {Uint8Array} signed @returns {Promise<string>} */
export async function listingId(signed) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", signed));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
}

/**
 * Parse a price typed by a person ("48", "48.5", "48.50") into integer minor units of a currency
 * with `digits` minor digits, without floating point; null when it is not such a number.
 * @param {string} text @param {number} digits @returns {number | null}
 */
export function parsePrice(text, digits) {
  const m = /^\s*(\d{1,15})(?:[.,](\d+))?\s*$/.exec(text);
  if (m === null) return null;
  const fraction = m[2] ?? "";
  if (fraction.length > digits) return null;
  const value = Number(m[1] + fraction.padEnd(digits, "0"));
  return Number.isSafeInteger(value) ? value : null;
}

/**
 * Minor units as text with the currency's minor digits: (4800, 2) -> "48.00".
 * @param {number} amount @param {number} digits @returns {string}
 */
export function formatPrice(amount, digits) {
  const text = String(amount).padStart(digits + 1, "0");
  return digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

/**
 * Why a listing as served does not check out, or null if it does: its statement rebuilt from
 * the fields, its ID recomputed, and the seller's Ed25519 signature (base64) verified with
 * WebCrypto. The same checks, in the same order and words, as farmtrace/commerce/listing.py
 * `listing_problem`.
 * @param {{ id: string, coupon: string, state: string, seller: string, amount: number,
 *   currency: string, timeMs: number, signature: string }} listing
 * @returns {Promise<string | null>}
 */
export async function verifyListing({ id, coupon, state, seller, amount, currency, timeMs, signature }) {
  let signed;
  try {
    signed = listStatement({ coupon, state, seller, amount, currency, timeMs });
  } catch (error) {
    return `malformed listing: ${error instanceof Error ? error.message : String(error)}`;
  }
  if ((await listingId(signed)) !== id) return "the listing's ID is not the hash of its statement";
  let raw;
  try {
    raw = decodeBase64(signature);
  } catch {
    return "the signature is not base64";
  }
  if (raw === null) return "the signature is not base64";
  if (raw.length !== 64) return "the signature is not 64 bytes";
  try {
    const key = await crypto.subtle.importKey(
      "raw", Uint8Array.from(seller.match(/../g) ?? [], (h) => parseInt(h, 16)), { name: "Ed25519" }, false, ["verify"],
    );
    if (await crypto.subtle.verify({ name: "Ed25519" }, key, raw, signed)) return null;
  } catch {
    // an unusable public key fails like a wrong signature
  }
  return "the seller's signature does not verify";
}
