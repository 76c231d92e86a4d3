/**
 * Standard base64 (RFC 4648 §4, with padding), strict about form.
 *
 * `decodeBase64` accepts exactly the strings that Go's `base64.StdEncoding` accepts: characters
 * of the standard alphabet in groups of four, the last group padded with "=" to four
 * characters; nothing else, no whitespace. Like Go and Python it ignores the unused low bits of
 * the last character ("AB==" decodes to 0x00); `decodeCanonicalBase64` also rejects those, for
 * the fields that the C2SP formats require to be canonical (checkpoint roots, proof hashes).
 *
 * Both return null for a string that is not valid: each caller turns that into its own error.
 *
 * @module
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const FORM = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** @type {Map<string, number>} */
const VALUE = new Map([...ALPHABET].map((ch, i) => [ch, i]));

/**
 * Encode bytes as standard padded base64.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function encodeBase64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < bytes.length ? ALPHABET[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? ALPHABET[n & 63] : "=";
  }
  return out;
}

/**
 * Decode standard padded base64; null unless `text` is well-formed (see the module comment).
 * @param {string} text
 * @returns {Uint8Array | null}
 */
export function decodeBase64(text) {
  if (typeof text !== "string" || !FORM.test(text)) return null;
  const data = text.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((data.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let pos = 0;
  for (const ch of data) {
    acc = (acc << 6) | /** @type {number} */ (VALUE.get(ch));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1; // keep only the bits not yet emitted, so `acc` never overflows
  }
  return out;
}

/**
 * Decode base64 that must be canonical: well-formed, and exactly what `encodeBase64` produces
 * for the decoded bytes (unused low bits zero). Null otherwise.
 * @param {string} text
 * @returns {Uint8Array | null}
 */
export function decodeCanonicalBase64(text) {
  const bytes = decodeBase64(text);
  return bytes !== null && encodeBase64(bytes) === text ? bytes : null;
}
