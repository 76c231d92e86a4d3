/**
 * Holder statements the browser wallet signs: the same `FH 01` bytes as the Python wallet
 * (farmtrace/wallet/statements.py, farmtrace/commerce/entries.py `sign_statement`), built with
 * the browser verifier's own framing and canonical JSON (../verify/commerce.js), so what the
 * wallet signs is exactly what every verifier decodes. Ed25519 signatures are deterministic:
 * the same key, coupon head, recipient, price and time give the same bytes in both languages
 * (tests/js/wallet_statements.test.mjs checks them against Python's vectors).
 *
 * A statement depends on the coupon's **head** as `GET /v1/coupons/{coupon}` serves it:
 * `prev` = its `state`, move = its `moves` + 1. As in the Python wallet, the wallet first checks
 * that it holds the coupon and that the coupon is active (only to spare a statement that cannot
 * succeed; the server's replay decides). Refusals throw StatementError with the Python wallet's
 * wording; a malformed field throws the verifier's CommerceError with the reference's wording.
 *
 * @module
 */

import { encodeBase64 } from "../verify/base64.js";
import {
  COUPON_MOVE_PREFIX, CommerceError, MAX_INT, canonicalJson, couponId, decodeStatement, fingerprint,
  frame, parseCouponId, stateOf, statementSigner,
} from "../verify/commerce.js";
import { WalletError } from "./keys.js";

const HEX64 = /^[0-9a-f]{64}$/;
const SIGNATURE_SIZE = 64;

/** A statement the wallet will not sign; `message` is the Python wallet's. */
export class StatementError extends WalletError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "StatementError";
  }
}

/**
 * @typedef {{ coupon: string, holder: string, state: string, moves: number, status: string }} CouponHead
 * @typedef {{ address: string, sign(bytes: Uint8Array): Promise<Uint8Array> }} Signer
 * @typedef {{ amount: number, currency: string }} Price
 * @typedef {{ op: string, coupon: string, prev: string, move: number, timeMs: number,
 *   to: string | null, price: Price | null, payload: Uint8Array, base64: string, state: string }} SignedStatement
 */

/**
 * The head of `coupon` from the API's coupon view (parse_coupon_view of the Python wallet).
 * @param {string} coupon
 * @param {any} view
 * @returns {CouponHead}
 */
export function parseCouponView(coupon, view) {
  /** @param {string} field */
  const bad = (field) => new StatementError(`the API's view of coupon ${coupon} has no valid '${field}'`);
  if (view === null || typeof view !== "object" || Array.isArray(view)) {
    throw new StatementError(`the API's view of coupon ${coupon} is not a JSON object`);
  }
  let named = view.coupon ?? null;
  if (named === null && typeof view.campaign === "string" && Number.isInteger(view.serial)) {
    try {
      named = couponId(view.campaign, view.serial);
    } catch {
      throw bad("serial");
    }
  }
  if (named !== null && named !== coupon) throw new StatementError(`asked for coupon ${coupon}, the API answered with ${named}`);
  const { holder, state, moves, status } = view;
  if (typeof holder !== "string" || !HEX64.test(holder)) throw bad("holder");
  if (typeof state !== "string" || !HEX64.test(state)) throw bad("state");
  if (!Number.isSafeInteger(moves) || moves < 0) throw bad("moves");
  if (typeof status !== "string") throw bad("status");
  return { coupon, holder, state, moves, status };
}

/** @param {CouponHead} head @param {Signer} wallet @param {string} what */
async function spendable(head, wallet, what) {
  if (head.holder !== wallet.address) {
    const holder = Uint8Array.from(head.holder.match(/../g) ?? [], (h) => parseInt(h, 16));
    throw new StatementError(
      `cannot ${what} coupon ${head.coupon}: it is held by ${head.holder} (fingerprint `
        + `${await fingerprint(holder)}), not by this wallet (${wallet.address})`,
    );
  }
  if (head.status !== "active") {
    throw new StatementError(`cannot ${what} coupon ${head.coupon}: it is ${head.status} and never moves again`);
  }
}

/**
 * The signed bytes (no signature) of a holder statement, checked as the verifier decodes it.
 * @param {{ op: "transfer" | "redeem", coupon: string, prev: string, move: number, timeMs: number,
 *   to?: string | null, price?: Price | null }} fields
 * @returns {Uint8Array}
 */
export function statementBytes({ op, coupon, prev, move, timeMs, to = null, price = null }) {
  if (!Number.isSafeInteger(move) || move < 1) throw new CommerceError(`holder statement seq ${move} out of range 1..2**53-1`);
  if (!Number.isSafeInteger(timeMs) || timeMs < 0 || timeMs > MAX_INT) throw new CommerceError(`holder statement time ${timeMs} out of range`);
  parseCouponId(coupon);
  /** @type {Record<string, unknown>} */
  const body = { op, coupon, prev };
  if (to !== null) body.to = to;
  if (price !== null) body.price = { amount: price.amount, currency: price.currency };
  const signed = frame(COUPON_MOVE_PREFIX, BigInt(move), BigInt(timeMs), statementSigner(coupon), canonicalJson(body));
  return signed;
}

/**
 * Sign a statement after checking it decodes as every verifier will decode it.
 * @param {Parameters<typeof statementBytes>[0]} fields
 * @param {Signer} wallet
 * @returns {Promise<SignedStatement>}
 */
async function sign(fields, wallet) {
  const signed = statementBytes(fields);
  const probe = new Uint8Array(signed.length + SIGNATURE_SIZE);
  probe.set(signed);
  const decoded = await decodeStatement(probe); // throws CommerceError naming a malformed field
  const signature = await wallet.sign(signed);
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_SIZE) {
    throw new StatementError("the wallet's key gave no 64-byte Ed25519 signature");
  }
  const payload = new Uint8Array(signed.length + SIGNATURE_SIZE);
  payload.set(signed);
  payload.set(signature, signed.length);
  return {
    op: decoded.op,
    coupon: decoded.coupon,
    prev: decoded.prev,
    move: fields.move,
    timeMs: fields.timeMs,
    to: decoded.to,
    price: decoded.price === null ? null : { amount: decoded.price[0], currency: decoded.price[1] },
    payload,
    base64: encodeBase64(payload),
    state: await stateOf(payload),
  };
}

/**
 * A transfer of the coupon from its head to address `to`, signed by `wallet` (which must hold
 * it), with an optional declared price (integer minor units and an ISO 4217 code).
 * @param {CouponHead} head
 * @param {Signer} wallet
 * @param {string} to
 * @param {{ price?: Price | null, timeMs?: number }} [options]
 * @returns {Promise<SignedStatement>}
 */
export async function transferStatement(head, wallet, to, { price = null, timeMs = Date.now() } = {}) {
  await spendable(head, wallet, "transfer");
  return sign({ op: "transfer", coupon: head.coupon, prev: head.state, move: head.moves + 1, timeMs, to, price }, wallet);
}

/**
 * The redeem statement the farm scans at pickup: the coupon's head, signed by `wallet`.
 * @param {CouponHead} head
 * @param {Signer} wallet
 * @param {{ timeMs?: number }} [options]
 * @returns {Promise<SignedStatement>}
 */
export async function redeemStatement(head, wallet, { timeMs = Date.now() } = {}) {
  await spendable(head, wallet, "redeem");
  return sign({ op: "redeem", coupon: head.coupon, prev: head.state, move: head.moves + 1, timeMs }, wallet);
}
