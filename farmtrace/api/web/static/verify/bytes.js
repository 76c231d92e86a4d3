/**
 * Byte helpers shared by the verifier: strict UTF-8, comparison, concatenation and SHA-256
 * (WebCrypto, so the same code runs in browsers and in node 20).
 *
 * @module
 */

const encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, never U+FFFD; ignoreBOM: a leading U+FEFF is kept as text,
// as Python's "utf-8" codec keeps it (stripping it would change the signed message).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * UTF-8 bytes of a string; null if it holds a lone surrogate (no UTF-8 form exists).
 * @param {string} text
 * @returns {Uint8Array | null}
 */
export function utf8Encode(text) {
  return LONE_SURROGATE.test(text) ? null : encoder.encode(text);
}

/**
 * The string whose UTF-8 form is `bytes`; null if they are not valid UTF-8.
 * @param {Uint8Array} bytes
 * @returns {string | null}
 */
export function utf8Decode(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return null; // TypeError from a fatal decoder: the bytes are not UTF-8
  }
}

/**
 * Whether a value is a byte array (Uint8Array, including node's Buffer).
 * @param {unknown} value
 * @returns {value is Uint8Array}
 */
export function isBytes(value) {
  return value instanceof Uint8Array;
}

/**
 * Throw TypeError unless `value` is a Uint8Array.
 * @param {string} name
 * @param {unknown} value
 * @returns {asserts value is Uint8Array}
 */
export function requireBytes(name, value) {
  if (!isBytes(value)) throw new TypeError(`${name} must be a Uint8Array, not ${describe(value)}`);
}

/**
 * Byte-for-byte equality.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The concatenation of byte arrays.
 * @param {...Uint8Array} parts
 * @returns {Uint8Array}
 */
export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/**
 * SHA-256 of the bytes.
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/**
 * Lower-case hex of the bytes.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A short description of a value's type, for TypeError messages.
 * @param {unknown} value
 * @returns {string}
 */
export function describe(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}
