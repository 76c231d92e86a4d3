/**
 * The coupon market's API calls and signing steps, shared by the market page (market.js) and
 * the wallet's market panel (wallet_panel.js). Every write is a statement of listing.js signed
 * by the wallet's Ed25519 key (`wallet.sign(bytes)` from ../wallet/keys.js); the server rebuilds
 * the same bytes and checks the signature. Refusals throw ApiError (../wallet/api.js) carrying
 * the server's own `detail`, which the pages show as they are.
 *
 * @module
 */

import { ApiError, getCoupon, postTransfer } from "../wallet/api.js";
import { encodeBase64 } from "../verify/base64.js";
import { parseCouponView, transferStatement } from "../wallet/statements.js";
import { listStatement, offerStatement, withdrawStatement } from "./listing.js";

/** @typedef {{ address: string, sign(bytes: Uint8Array): Promise<Uint8Array> }} Signer */

/** @param {string} path @param {RequestInit} [init] @returns {Promise<any>} */
async function call(path, init = {}) {
  let response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { Accept: "application/json", ...(init.body ? { "Content-Type": "application/json" } : {}) },
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `the API could not be reached (${error instanceof Error ? error.message : String(error)})`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : `the API answered ${response.status}`;
    throw new ApiError(response.status, detail, body && typeof body.error === "string" ? body.error : "");
  }
  return body;
}

/** @param {Signer} wallet @param {Uint8Array} bytes */
async function signB64(wallet, bytes) {
  return encodeBase64(await wallet.sign(bytes));
}

/** One address's listings with offers, and the listings it offered on. @param {string} address */
export const walletMarket = (address) => call(`/v1/listings?address=${encodeURIComponent(address)}`);

/** A campaign's open and ended listings and its price history. @param {string} gcn */
export const campaignListings = (gcn) => call(`/v1/campaigns/${encodeURIComponent(gcn)}/listings`);

/**
 * List `coupon` (in its current head, read from the API) at `amount` minor units of `currency`.
 * @param {Signer} wallet @param {string} coupon @param {number} amount @param {string} currency
 */
export async function listCoupon(wallet, coupon, amount, currency) {
  const head = parseCouponView(coupon, await getCoupon(coupon));
  const timeMs = Date.now();
  const bytes = listStatement({ coupon, state: head.state, seller: wallet.address, amount, currency, timeMs });
  return call(`/v1/coupons/${encodeURIComponent(coupon)}/listings`, {
    method: "POST",
    body: JSON.stringify({
      state: head.state, seller: wallet.address, price: { amount, currency }, time_ms: timeMs,
      signature: await signB64(wallet, bytes),
    }),
  });
}

/** Ask to buy `listing` with the wallet's address. @param {Signer} wallet @param {string} listing */
export async function offerToBuy(wallet, listing) {
  const timeMs = Date.now();
  const bytes = offerStatement({ listing, buyer: wallet.address, timeMs });
  return call(`/v1/listings/${encodeURIComponent(listing)}/offers`, {
    method: "POST",
    body: JSON.stringify({ buyer: wallet.address, time_ms: timeMs, signature: await signB64(wallet, bytes) }),
  });
}

/** Withdraw the wallet's `listing`. @param {Signer} wallet @param {string} listing */
export async function withdraw(wallet, listing) {
  const timeMs = Date.now();
  const bytes = withdrawStatement({ listing, timeMs });
  return call(`/v1/listings/${encodeURIComponent(listing)}/withdraw`, {
    method: "POST",
    body: JSON.stringify({ time_ms: timeMs, signature: await signB64(wallet, bytes) }),
  });
}

/**
 * Complete a sale: transfer the listing's coupon to `buyer` declaring the listed price (the
 * wallet's ordinary transfer statement, ../wallet/statements.js). The listing then ends as sold.
 * @param {Signer} wallet
 * @param {{ coupon: string, price: { amount: number, currency: string } }} listing
 * @param {string} buyer
 */
export async function sellTo(wallet, listing, buyer) {
  const head = parseCouponView(listing.coupon, await getCoupon(listing.coupon));
  const statement = await transferStatement(head, wallet, buyer, {
    price: { amount: listing.price.amount, currency: listing.price.currency },
  });
  return postTransfer(listing.coupon, statement.base64);
}
