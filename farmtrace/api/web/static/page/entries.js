/**
 * Decoding the chain entries a lot bundle holds, mirroring the Python reference:
 * readings (docs/wire-format.md, farmtrace/wire/protocol.py) and lot events
 * (farmtrace/api/services/lots/event_entry.py). Both are `signed_bytes || 64-byte Ed25519 signature`.
 *
 * `decodeReading` and `decodeEvent` return the decoded entry or throw EntryError whose message
 * says what was malformed. `verifyEd25519` answers true or false for any key and signature; it
 * throws (NotSupportedError) only when the platform's WebCrypto has no Ed25519 at all.
 *
 * @module
 */

import { bytesEqual, sha256, toHex, utf8Decode, utf8Encode } from "../verify/bytes.js";

export const SIGNATURE_SIZE = 64;
export const MAX_PAYLOAD = 1024;
const EVENT_PREFIX = [0x46, 0x45, 0x01];
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MEASUREMENT_TYPE = /^[A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9_]*)?$/;
const UOM = /^[A-Z0-9]{2,3}$/;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_EVENT_BODY = 8192;

/** A malformed entry; `message` says what was wrong. */
export class EntryError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "EntryError";
  }
}

/**
 * @typedef {{ type: string, uom: string, value: number }} Measurement
 * @typedef {{ kind: "reading", seq: bigint, timestampMs: bigint, deviceId: string, site: string,
 *   lot: string, measurements: Measurement[], signedBytes: Uint8Array, signature: Uint8Array }} Reading
 * @typedef {{ kind: "event", seq: bigint, timeMs: bigint, signer: string,
 *   body: Record<string, string>, signedBytes: Uint8Array, signature: Uint8Array }} EventEntry
 */

class Cursor {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  /** @param {number} n @param {string} field */
  take(n, field) {
    if (this.pos + n > this.bytes.length) throw new EntryError(`truncated: ${field}`);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** @param {string} field */
  u8(field) {
    return this.take(1, field)[0];
  }
  /** @param {string} field @param {number} min @param {number} max */
  string(field, min, max) {
    const n = this.u8(field);
    if (n < min) throw new EntryError(`empty-field: ${field}`);
    if (n > max) throw new EntryError(`field-too-long: ${field} has ${n} bytes, at most ${max}`);
    return this.take(n, field);
  }
}

/**
 * @param {Uint8Array} raw
 * @param {string} field
 * @returns {string}
 */
function ascii(raw, field) {
  for (const b of raw) if (b > 0x7e || b < 0x20) throw new EntryError(`${field} is not printable ASCII`);
  return String.fromCharCode(...raw);
}

/**
 * @param {Uint8Array} raw
 * @param {string} field
 * @returns {string}
 */
function text(raw, field) {
  const value = utf8Decode(raw);
  if (value === null) throw new EntryError(`bad-utf8: ${field}`);
  if (CONTROL.test(value)) throw new EntryError(`bad-text: ${field} contains a control character`);
  return value;
}

/**
 * Decode a reading payload (wire format version 1). Throws EntryError for malformed bytes.
 * @param {Uint8Array} payload
 * @returns {Reading}
 */
export function decodeReading(payload) {
  if (payload.length > MAX_PAYLOAD) throw new EntryError(`oversized: ${payload.length} bytes`);
  if (payload.length < 3 || payload[0] !== 0x46 || payload[1] !== 0x54) throw new EntryError("bad-magic: not a reading");
  if (payload[2] !== 1) throw new EntryError(`unsupported-version: ${payload[2]}`);
  if (payload.length < 19 + SIGNATURE_SIZE) throw new EntryError("truncated: signature");
  const signedBytes = payload.subarray(0, payload.length - SIGNATURE_SIZE);
  const c = new Cursor(signedBytes);
  c.take(3, "magic");
  const seq = c.view.getBigUint64(3);
  const timestampMs = c.view.getBigInt64(11);
  c.pos = 19;
  const deviceId = ascii(c.string("device_id", 1, 128), "device_id");
  if (!DEVICE_ID.test(deviceId)) throw new EntryError(`bad-device-id: ${JSON.stringify(deviceId)}`);
  const site = text(c.string("site", 1, 64), "site");
  const lot = text(c.string("lot", 0, 64), "lot");
  const count = c.u8("measurements");
  if (count === 0) throw new EntryError("no-measurements");
  if (count > 12) throw new EntryError(`too-many-measurements: ${count}`);
  /** @type {Measurement[]} */
  const measurements = [];
  for (let i = 0; i < count; i++) {
    const type = ascii(c.string(`measurement ${i} type`, 1, 40), "type");
    if (!MEASUREMENT_TYPE.test(type)) throw new EntryError(`bad-measurement-type: ${JSON.stringify(type)}`);
    const uom = ascii(c.string(`measurement ${i} uom`, 1, 3), "uom");
    if (!UOM.test(uom)) throw new EntryError(`bad-unit: ${JSON.stringify(uom)}`);
    const raw = c.take(8, `measurement ${i} value`);
    const value = new DataView(raw.buffer, raw.byteOffset, 8).getFloat64(0);
    if (!Number.isFinite(value)) throw new EntryError(`non-finite-value: ${type}`);
    measurements.push({ type, uom, value });
  }
  if (c.pos !== signedBytes.length) throw new EntryError(`trailing-bytes: ${signedBytes.length - c.pos}`);
  if (new Set(measurements.map((m) => m.type)).size !== count) throw new EntryError("duplicate-type");
  return {
    kind: "reading", seq, timestampMs, deviceId, site, lot, measurements, signedBytes,
    signature: payload.subarray(payload.length - SIGNATURE_SIZE),
  };
}

/**
 * Python's json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for an
 * object of strings: keys sorted by code point, the same escapes as Python's encoder.
 * @param {Record<string, string>} body
 * @returns {string}
 */
export function canonicalBody(body) {
  const codePoints = (/** @type {string} */ s) => Array.from(s, (ch) => /** @type {number} */ (ch.codePointAt(0)));
  const keys = Object.keys(body).sort((a, b) => {
    const x = codePoints(a);
    const y = codePoints(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  });
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(body[k])}`).join(",")}}`;
}

/**
 * Decode a lot event entry (prefix "FE" 01), strictly: the bytes must be the canonical encoding.
 * @param {Uint8Array} payload
 * @returns {EventEntry}
 */
export function decodeEvent(payload) {
  if (payload.length < 3 || EVENT_PREFIX.some((b, i) => payload[i] !== b)) {
    throw new EntryError("not an event entry (it does not start with FE 01)");
  }
  if (payload.length < 3 + 16 + 1 + 4 + SIGNATURE_SIZE) throw new EntryError("event entry is truncated");
  const signedBytes = payload.subarray(0, payload.length - SIGNATURE_SIZE);
  const c = new Cursor(signedBytes);
  const seq = c.view.getBigUint64(3);
  const timeMs = c.view.getBigInt64(11);
  c.pos = 19;
  const n = c.u8("signer");
  if (c.pos + n + 4 > signedBytes.length) throw new EntryError("event entry is truncated in its signer");
  const signer = ascii(c.take(n, "signer"), "signer");
  const length = c.view.getUint32(c.pos);
  c.pos += 4;
  if (c.pos + length !== signedBytes.length) throw new EntryError("event body length does not match the entry's size");
  const json = utf8Decode(signedBytes.subarray(c.pos));
  /** @type {unknown} */
  let body;
  try {
    body = json === null ? null : JSON.parse(json);
  } catch {
    body = null;
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new EntryError("event body is not a JSON object");
  }
  const fields = /** @type {Record<string, unknown>} */ (body);
  if (!Object.values(fields).every((v) => typeof v === "string")) throw new EntryError("event body holds a value that is not a string");
  const strings = /** @type {Record<string, string>} */ (fields);
  // JSON.stringify writes a lone surrogate as an escape; Python's encoder cannot encode it at all,
  // so such a body has no canonical form in either verifier.
  if (Object.entries(strings).some(([k, v]) => utf8Encode(k) === null || utf8Encode(v) === null)) {
    throw new EntryError("event body holds text with no UTF-8 form");
  }
  const canonical = utf8Encode(canonicalBody(strings));
  if (seq < 1n || !DEVICE_ID.test(signer) || canonical === null || canonical.length > MAX_EVENT_BODY
      || !bytesEqual(canonical, signedBytes.subarray(c.pos))) {
    throw new EntryError("event entry is not in canonical form");
  }
  return { kind: "event", seq, timeMs, signer, body: strings, signedBytes, signature: payload.subarray(payload.length - SIGNATURE_SIZE) };
}

/**
 * The signer ID of an event key: "farmtrace-api." and the first 16 hex digits of its SHA-256.
 * @param {Uint8Array} publicKey
 * @returns {Promise<string>}
 */
export async function signerId(publicKey) {
  return `farmtrace-api.${toHex(await sha256(publicKey)).slice(0, 16)}`;
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` by the raw 32-byte `publicKey`.
 * False (never an exception) for keys or signatures of the wrong size or invalid points.
 * @param {Uint8Array} publicKey
 * @param {Uint8Array} signature
 * @param {Uint8Array} message
 * @returns {Promise<boolean>}
 */
export async function verifyEd25519(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== SIGNATURE_SIZE) return false;
  try {
    const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch (error) {
    // No Ed25519 in this WebCrypto: the check cannot run, which is not a bad signature.
    if (/** @type {Error} */ (error).name === "NotSupportedError") throw error;
    return false; // an invalid point: WebCrypto refuses the key, which cannot have signed
  }
}
