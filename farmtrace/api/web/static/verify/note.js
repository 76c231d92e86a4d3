/**
 * C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, mirroring farmtrace/tlog/note.py.
 *
 * A signed note is UTF-8 text ending in a newline, a blank line, then one or more signature
 * lines `— <key name> <base64(4-byte key ID || signature)>` (the dash is U+2014). The signed
 * message is the text up to and including its last newline before that blank line.
 *
 * An Ed25519 key's ID is the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 ||
 * public key). A verifier key string is `<name>+<8 hex digits of the key ID>+<base64(0x01 ||
 * public key)>`, split on the first two "+" only, since base64 may contain "+".
 *
 * `openNote` follows the specification and Go's golang.org/x/mod/sumdb/note: the note must be
 * valid UTF-8 without control characters other than newline; signatures from unknown keys
 * (whose name and ID do not both match a known key) are ignored; a known key's signature that
 * fails to verify rejects the whole note; a note with no verified signature is rejected. At most
 * MAX_SIGNATURES signature lines are read.
 *
 * Failures throw TlogError (see errors.js) with code "MalformedNote", "InvalidKey",
 * "InvalidNoteSignature" or "UnverifiedNote", as the Python reference raises them.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "./base64.js";
import { bytesEqual, concatBytes, describe, isBytes, sha256, utf8Decode, utf8Encode } from "./bytes.js";
import { TlogError } from "./errors.js";

/** Signature type byte of Ed25519 note signatures and keys. */
export const ALG_ED25519 = 0x01;

/** Most signature lines a note may carry (as Go's verifier allows). */
export const MAX_SIGNATURES = 100;

const SIGNATURE_PREFIX = "\u2014 "; // em dash, space
const ED25519_SIGNATURE_SIZE = 64;
// C0 controls except newline: forbidden anywhere in a note.
const CONTROL = /[\x00-\x09\x0b-\x1f]/;
// Exactly the characters for which Python's str.isspace() is true (JavaScript's \s differs:
// it has U+FEFF and lacks U+001C..U+001F and U+0085), so that key names are judged alike.
const SPACE = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const HEX8 = /^[0-9a-fA-F]{8}$/;

/**
 * One signature line: the key's name and ID and the raw signature (ID stripped).
 * @typedef {{ name: string, keyId: number, signature: Uint8Array }} NoteSignature
 */

/**
 * A parsed, unverified note: its text (ending in a newline) and its signatures.
 * @typedef {{ text: string, signatures: NoteSignature[] }} Note
 */

/**
 * A note that at least one known key has signed. `verified` holds the signatures checked
 * against known keys; `unverified` those from unknown keys, which were ignored.
 * @typedef {{ text: string, verified: NoteSignature[], unverified: NoteSignature[] }} VerifiedNote
 */

/**
 * Whether `name` is a valid key name: non-empty, no "+", no space, no control character, and
 * no lone surrogate (it must have a UTF-8 form, as Go's verifier asks).
 * @param {string} name
 * @returns {boolean}
 */
export function isValidKeyName(name) {
  return (
    typeof name === "string" &&
    name !== "" &&
    !name.includes("+") &&
    !SPACE.test(name) &&
    !CONTROL.test(name) &&
    utf8Encode(name) !== null
  );
}

/**
 * The key ID of a key: the first 4 bytes of SHA-256(name || 0x0A || typed key), big-endian.
 * @param {string} name
 * @param {Uint8Array} typedKey the type byte followed by the key
 * @returns {Promise<number>}
 */
export async function keyId(name, typedKey) {
  const encoded = utf8Encode(`${name}\n`);
  if (encoded === null) throw new TlogError("InvalidKey", "key name is not valid Unicode");
  const digest = await sha256(concatBytes(encoded, typedKey));
  return new DataView(digest.buffer).getUint32(0, false);
}

/** An Ed25519 verifier key with its name and key ID. Make one with `create` or `fromVkey`. */
export class Verifier {
  /**
   * Not for direct use: the key ID and CryptoKey must match name and key.
   * @param {string} name
   * @param {Uint8Array} publicKey
   * @param {number} id
   * @param {CryptoKey | null} cryptoKey null when WebCrypto refused the key: nothing verifies
   */
  constructor(name, publicKey, id, cryptoKey) {
    /** @readonly */ this.name = name;
    /** @readonly */ this.publicKey = publicKey;
    /** @readonly */ this.keyId = id;
    /** @private @readonly */ this.cryptoKey = cryptoKey;
    Object.freeze(this);
  }

  /**
   * The verifier for an Ed25519 public key named `name`.
   * Throws TlogError "InvalidKey" for a bad name or a key that is not 32 bytes.
   * @param {string} name
   * @param {Uint8Array} publicKey
   * @returns {Promise<Verifier>}
   */
  static async create(name, publicKey) {
    if (!isValidKeyName(name)) {
      throw new TlogError("InvalidKey", `invalid key name ${JSON.stringify(name)}: empty, or has a space or '+'`);
    }
    if (!isBytes(publicKey) || publicKey.length !== 32) {
      throw new TlogError("InvalidKey", "an Ed25519 public key must be 32 bytes");
    }
    const key = Uint8Array.from(publicKey);
    const id = await keyId(name, concatBytes(Uint8Array.of(ALG_ED25519), key));
    let cryptoKey = null;
    try {
      cryptoKey = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
    } catch (error) {
      // A 32-byte string that is not a curve point: some engines refuse it here, others at
      // verify time. Either way no signature verifies, as with the Python reference.
      if (!(error instanceof Error) || error.name !== "DataError") throw error;
    }
    return new Verifier(name, key, id, cryptoKey);
  }

  /**
   * Parse a verifier key string `<name>+<hex key ID>+<base64(0x01 || key)>`.
   * Throws TlogError "InvalidKey" naming what is wrong, including a key ID that does not match.
   * @param {string} vkey
   * @returns {Promise<Verifier>}
   */
  static async fromVkey(vkey) {
    if (typeof vkey !== "string") {
      throw new TlogError("InvalidKey", `a verifier key must be a string, not ${describe(vkey)}`);
    }
    const [name, hexId, b64] = splitTwice(vkey, "+");
    if (b64 === undefined || !HEX8.test(hexId)) {
      throw new TlogError("InvalidKey", `malformed verifier key ${JSON.stringify(vkey)}: want <name>+<8 hex>+<base64>`);
    }
    const typed = decodeBase64(b64);
    if (typed === null) throw new TlogError("InvalidKey", "verifier key is not valid base64");
    if (typed.length !== 33 || typed[0] !== ALG_ED25519) {
      throw new TlogError("InvalidKey", "verifier key is not an Ed25519 key (0x01 and 32 bytes)");
    }
    const verifier = await Verifier.create(name, typed.subarray(1));
    if (verifier.keyId !== parseInt(hexId, 16)) {
      throw new TlogError("InvalidKey", `verifier key ${name}: key ID ${hexId} does not match the key`);
    }
    return verifier;
  }

  /** This key as a verifier key string. */
  get vkey() {
    const typed = encodeBase64(concatBytes(Uint8Array.of(ALG_ED25519), this.publicKey));
    return `${this.name}+${hex8(this.keyId)}+${typed}`;
  }

  /**
   * Whether `signature` is this key's Ed25519 signature of `message`.
   * @param {Uint8Array} message
   * @param {Uint8Array} signature
   * @returns {Promise<boolean>}
   */
  async verify(message, signature) {
    if (this.cryptoKey === null || signature.length !== ED25519_SIGNATURE_SIZE) return false;
    return crypto.subtle.verify({ name: "Ed25519" }, this.cryptoKey, signature, message);
  }
}

/**
 * Split a signed note into its text and signature lines, without verifying anything.
 * Throws TlogError "MalformedNote" naming what breaks the format; TypeError for a value that is
 * neither a string nor a Uint8Array.
 * @param {string | Uint8Array} data
 * @returns {Note}
 */
export function parseNote(data) {
  const message = asText(data);
  if (CONTROL.test(message)) {
    throw new TlogError("MalformedNote", "note contains a control character other than newline");
  }
  const split = message.lastIndexOf("\n\n");
  if (split < 0) throw new TlogError("MalformedNote", "note has no blank line before its signatures");
  const text = message.slice(0, split + 1);
  const block = message.slice(split + 2);
  if (block === "" || !block.endsWith("\n")) {
    throw new TlogError("MalformedNote", "note must end with signature lines, each ending in a newline");
  }
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) {
    throw new TlogError("MalformedNote", `note has more than ${MAX_SIGNATURES} signature lines`);
  }
  return { text, signatures: lines.map(parseSignatureLine) };
}

/**
 * Parse a signed note and verify it against the known keys `verifiers`.
 * Throws TlogError: "MalformedNote" for a note that breaks the format, "InvalidKey" when two
 * known keys share a name and key ID, "InvalidNoteSignature" when a known key's signature does
 * not verify, "UnverifiedNote" when no known key signed it.
 * @param {string | Uint8Array} data
 * @param {Verifier[]} verifiers
 * @returns {Promise<VerifiedNote>}
 */
export async function openNote(data, verifiers) {
  const note = parseNote(data);
  if (!Array.isArray(verifiers) || !verifiers.every((v) => v instanceof Verifier)) {
    throw new TypeError("verifiers must be an array of Verifier");
  }
  /** @type {Map<string, Verifier>} */
  const known = new Map();
  for (const verifier of verifiers) {
    const id = `${verifier.name}+${hex8(verifier.keyId)}`;
    const other = known.get(id) ?? verifier;
    if (!bytesEqual(other.publicKey, verifier.publicKey)) {
      throw new TlogError("InvalidKey", `two different known keys share ${id}`);
    }
    known.set(id, other);
  }
  const message = /** @type {Uint8Array} */ (utf8Encode(note.text));
  /** @type {NoteSignature[]} */ const verified = [];
  /** @type {NoteSignature[]} */ const unverified = [];
  const seen = new Set();
  for (const sig of note.signatures) {
    const id = `${sig.name}+${hex8(sig.keyId)}`;
    const signerKey = known.get(id);
    if (signerKey === undefined) {
      if (!unverified.some((u) => sameSignature(u, sig))) unverified.push(sig);
      continue;
    }
    if (seen.has(id)) continue;
    seen.add(id);
    if (!(await signerKey.verify(message, sig.signature))) {
      throw new TlogError("InvalidNoteSignature", `invalid signature for key ${id}`);
    }
    verified.push(sig);
  }
  if (verified.length === 0) {
    const names = note.signatures.map((s) => `${s.name}+${hex8(s.keyId)}`).join(", ");
    throw new TlogError("UnverifiedNote", `note has no signature from a known key (signed by: ${names})`);
  }
  return { text: note.text, verified, unverified };
}

/**
 * @param {string | Uint8Array} data
 * @returns {string}
 */
function asText(data) {
  if (typeof data === "string") {
    if (utf8Encode(data) === null) throw new TlogError("MalformedNote", "note is not valid UTF-8");
    return data;
  }
  if (isBytes(data)) {
    const text = utf8Decode(data);
    if (text === null) throw new TlogError("MalformedNote", "note is not valid UTF-8");
    return text;
  }
  throw new TypeError(`a note must be a string or a Uint8Array, not ${describe(data)}`);
}

/**
 * @param {string} line
 * @returns {NoteSignature}
 */
function parseSignatureLine(line) {
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    throw new TlogError("MalformedNote", `signature line ${JSON.stringify(line.slice(0, 40))} does not start with an em dash`);
  }
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(" ");
  const name = space < 0 ? rest : rest.slice(0, space);
  const b64 = space < 0 ? "" : rest.slice(space + 1);
  if (space < 0 || !isValidKeyName(name) || b64 === "") {
    throw new TlogError("MalformedNote", `malformed signature line ${JSON.stringify(line.slice(0, 60))}`);
  }
  const blob = decodeBase64(b64);
  if (blob === null) throw new TlogError("MalformedNote", "signature is not valid base64");
  if (blob.length < 5) throw new TlogError("MalformedNote", `signature of ${name} is too short`);
  const id = new DataView(blob.buffer, blob.byteOffset).getUint32(0, false);
  return { name, keyId: id, signature: blob.slice(4) };
}

/**
 * `text` split on the first two occurrences of `sep`: [before, between, after]; fewer parts
 * when `sep` occurs fewer times.
 * @param {string} text
 * @param {string} sep
 * @returns {string[]}
 */
function splitTwice(text, sep) {
  const first = text.indexOf(sep);
  if (first < 0) return [text];
  const second = text.indexOf(sep, first + 1);
  if (second < 0) return [text.slice(0, first), text.slice(first + 1)];
  return [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
}

/**
 * @param {NoteSignature} a
 * @param {NoteSignature} b
 * @returns {boolean}
 */
function sameSignature(a, b) {
  return a.name === b.name && a.keyId === b.keyId && bytesEqual(a.signature, b.signature);
}

/**
 * @param {number} id
 * @returns {string}
 */
function hex8(id) {
  return id.toString(16).padStart(8, "0");
}
