/**
 * C2SP checkpoint cosignatures (c2sp.org/tlog-cosignature, cosignature/v1, Ed25519), mirroring
 * farmtrace/tlog/cosignature.py.
 *
 * A cosignature is a note signature line by a witness:
 * `— <name> base64(4-byte key ID || 8-byte big-endian timestamp || 64-byte Ed25519 signature)`.
 * The key ID is SHA-256(name || 0x0A || 0x04 || public key)[:4]; the signed message is
 * `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint note's text. A witness verifier
 * key is `<name>+<hex key ID>+<base64(0x04 || public key)>`.
 *
 * `cosignaturesOf` follows the note rules: a line whose name and key ID match a known witness must
 * verify (else TlogError "InvalidNoteSignature"); lines from unknown keys are ignored.
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "./base64.js";
import { concatBytes, describe, isBytes, utf8Encode } from "./bytes.js";
import { TlogError } from "./errors.js";
import { Verifier, isValidKeyName, keyId, parseNote } from "./note.js";

/** Signature type byte of Ed25519 cosignature/v1 keys. */
export const ALG_COSIGNATURE_V1 = 0x04;

/** Largest timestamp a cosignature may carry. */
export const MAX_TIMESTAMP = 2n ** 63n - 1n;

const HEX8 = /^[0-9a-fA-F]{8}$/;

/**
 * A verified cosignature: the witness key's name and ID, and its timestamp (POSIX seconds).
 * @typedef {{ name: string, keyId: number, timestamp: bigint }} Cosignature
 */

/**
 * The bytes a cosignature/v1 signs for checkpoint note `text` at `timestamp`.
 * @param {string} text
 * @param {bigint} timestamp
 * @returns {Uint8Array}
 */
export function cosignedMessage(text, timestamp) {
  const encoded = utf8Encode(`cosignature/v1\ntime ${timestamp.toString()}\n${text}`);
  if (encoded === null) throw new TlogError("MalformedNote", "note is not valid UTF-8");
  return encoded;
}

/** A witness's cosignature/v1 verifier key. Make one with `create` or `fromVkey`. */
export class CosignatureVerifier {
  /**
   * @param {string} name
   * @param {Uint8Array} publicKey
   * @param {number} id
   * @param {Verifier} ed25519 the same public key as a note verifier: only its Ed25519 check is used
   */
  constructor(name, publicKey, id, ed25519) {
    /** @readonly */ this.name = name;
    /** @readonly */ this.publicKey = publicKey;
    /** @readonly */ this.keyId = id;
    /** @private @readonly */ this.ed25519 = ed25519;
    Object.freeze(this);
  }

  /**
   * @param {string} name
   * @param {Uint8Array} publicKey
   * @returns {Promise<CosignatureVerifier>}
   */
  static async create(name, publicKey) {
    if (!isValidKeyName(name)) {
      throw new TlogError("InvalidKey", `invalid key name ${JSON.stringify(name)}: empty, or has a space or '+'`);
    }
    if (!isBytes(publicKey) || publicKey.length !== 32) {
      throw new TlogError("InvalidKey", "an Ed25519 public key must be 32 bytes");
    }
    const key = Uint8Array.from(publicKey);
    const id = await keyId(name, concatBytes(Uint8Array.of(ALG_COSIGNATURE_V1), key));
    return new CosignatureVerifier(name, key, id, await Verifier.create(name, key));
  }

  /**
   * Parse `<name>+<hex key ID>+<base64(0x04 || key)>`; TlogError "InvalidKey" if it is not one.
   * @param {string} vkey
   * @returns {Promise<CosignatureVerifier>}
   */
  static async fromVkey(vkey) {
    if (typeof vkey !== "string") {
      throw new TlogError("InvalidKey", `a verifier key must be a string, not ${describe(vkey)}`);
    }
    const first = vkey.indexOf("+");
    const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
    const hexId = second < 0 ? "" : vkey.slice(first + 1, second);
    if (second < 0 || !HEX8.test(hexId)) {
      throw new TlogError("InvalidKey", `malformed verifier key ${JSON.stringify(vkey)}: want <name>+<8 hex>+<base64>`);
    }
    const name = vkey.slice(0, first);
    const typed = decodeBase64(vkey.slice(second + 1));
    if (typed === null) throw new TlogError("InvalidKey", "witness verifier key is not valid base64");
    if (typed.length !== 33 || typed[0] !== ALG_COSIGNATURE_V1) {
      throw new TlogError("InvalidKey", "witness verifier key is not a cosignature/v1 key (0x04 and 32 bytes)");
    }
    const verifier = await CosignatureVerifier.create(name, typed.subarray(1));
    if (verifier.keyId !== parseInt(hexId, 16)) {
      throw new TlogError("InvalidKey", `witness key ${name}: key ID ${hexId} does not match the key`);
    }
    return verifier;
  }

  /** This key as a verifier key string. */
  get vkey() {
    const typed = encodeBase64(concatBytes(Uint8Array.of(ALG_COSIGNATURE_V1), this.publicKey));
    return `${this.name}+${this.keyId.toString(16).padStart(8, "0")}+${typed}`;
  }

  /**
   * The timestamp of `signature` (key ID stripped) if it is this key's cosignature of checkpoint
   * note `text`, else null.
   * @param {string} text
   * @param {Uint8Array} signature
   * @returns {Promise<bigint | null>}
   */
  async verify(text, signature) {
    if (signature.length !== 8 + 64) return null;
    const timestamp = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0, false);
    if (timestamp > MAX_TIMESTAMP) return null;
    const ok = await this.ed25519.verify(cosignedMessage(text, timestamp), signature.subarray(8));
    return ok ? timestamp : null;
  }
}

/**
 * The valid cosignatures on a signed note by the known `witnesses`, in note order (a witness that
 * signed twice counts once). Throws TlogError "MalformedNote" for a malformed note and
 * "InvalidNoteSignature" for a known witness's line that does not verify.
 * @param {string | Uint8Array} note
 * @param {CosignatureVerifier[]} witnesses
 * @returns {Promise<Cosignature[]>}
 */
export async function cosignaturesOf(note, witnesses) {
  const parsed = parseNote(note);
  /** @type {Map<string, CosignatureVerifier>} */
  const known = new Map(witnesses.map((w) => [`${w.name}+${w.keyId}`, w]));
  /** @type {Cosignature[]} */ const found = [];
  const seen = new Set();
  for (const sig of parsed.signatures) {
    const id = `${sig.name}+${sig.keyId}`;
    const witness = known.get(id);
    if (witness === undefined || seen.has(id)) continue;
    const timestamp = await witness.verify(parsed.text, sig.signature);
    if (timestamp === null) {
      throw new TlogError(
        "InvalidNoteSignature",
        `invalid cosignature for witness key ${sig.name}+${sig.keyId.toString(16).padStart(8, "0")}`,
      );
    }
    seen.add(id);
    found.push({ name: sig.name, keyId: sig.keyId, timestamp });
  }
  return found;
}
