/**
 * C2SP transparency-log proofs (c2sp.org/tlog-proof@v1), mirroring farmtrace/tlog/proof.py.
 * A `.tlog-proof` file shows that one entry is in a log, offline:
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <base64>          (optional, unauthenticated application data)
 *     index <0-based leaf index>
 *     <base64 hash>           zero or more lines: the RFC 9162 inclusion proof, sibling first
 *                             (an empty line)
 *     <the checkpoint note, verbatim, with its signatures>
 *
 * The index is ASCII decimal without leading zeros (at most 2**64 - 2), each hash the canonical
 * base64 of 32 bytes (at most 64 of them), the extra data, when present, non-empty canonical
 * base64. Failures throw TlogError: "MalformedProof" for a file that breaks the format,
 * "ProofMismatch" for a well-formed proof that does not lead from the entry to the checkpoint's
 * root, and the note and checkpoint errors for the checkpoint.
 *
 * @module
 */

import { decodeCanonicalBase64 } from "./base64.js";
import { describe, isBytes, requireBytes, utf8Decode } from "./bytes.js";
import { openCheckpoint } from "./checkpoint.js";
import { TlogError } from "./errors.js";
import { leafHash, verifyInclusion } from "./merkle.js";

/** @typedef {import("./note.js").Verifier} Verifier */
/** @typedef {import("./checkpoint.js").SignedCheckpoint} SignedCheckpoint */

/**
 * A parsed tlog-proof; `checkpoint` is the checkpoint note text, still unverified.
 * @typedef {{ index: bigint, hashes: Uint8Array[], checkpoint: string, extra: Uint8Array | null }} TlogProof
 */

/** First line of every tlog-proof. */
export const PROOF_HEADER = "c2sp.org/tlog-proof@v1";

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const MAX_INDEX = 2n ** 64n - 2n;
const MAX_PROOF_HASHES = 64;

/**
 * Parse a tlog-proof. Throws TlogError "MalformedProof" saying which line is wrong; TypeError
 * for a value that is neither a string nor a Uint8Array.
 * @param {string | Uint8Array} data
 * @returns {TlogProof}
 */
export function parseTlogProof(data) {
  const text = asText(data);
  const split = text.indexOf("\n\n");
  if (split < 0) throw malformed("proof has no empty line before its checkpoint");
  const lines = text.slice(0, split).split("\n");
  const checkpoint = text.slice(split + 2);
  if (lines[0] !== PROOF_HEADER) throw malformed(`proof must start with the line ${JSON.stringify(PROOF_HEADER)}`);
  let pos = 1;
  /** @type {Uint8Array | null} */
  let extra = null;
  if (pos < lines.length && lines[pos].startsWith("extra ")) {
    extra = parseBase64(lines[pos].slice("extra ".length), "extra data");
    if (extra.length === 0) throw malformed("extra data line is empty");
    pos += 1;
  }
  if (pos >= lines.length || !lines[pos].startsWith("index ")) {
    throw malformed(`line ${pos + 1} of the proof must be 'index <N>'`);
  }
  const indexText = lines[pos].slice("index ".length);
  if (!DECIMAL.test(indexText) || BigInt(indexText) > MAX_INDEX) {
    throw malformed(`proof index ${JSON.stringify(indexText)} is not a decimal without leading 0`);
  }
  const hashes = lines.slice(pos + 1).map((line, i) => {
    const number = pos + 2 + i;
    const value = parseBase64(line, `hash on line ${number}`);
    if (value.length !== 32) throw malformed(`hash on line ${number} is not 32 bytes`);
    return value;
  });
  if (hashes.length > MAX_PROOF_HASHES) throw malformed(`proof has more than ${MAX_PROOF_HASHES} hashes`);
  if (checkpoint === "") throw malformed("proof needs a checkpoint note");
  return { index: BigInt(indexText), hashes, checkpoint, extra };
}

/**
 * Check that `entry` is at the proof's index in the log `origin`: the checkpoint is validly
 * signed by one of `verifiers` and is for `origin`, and the inclusion proof leads from the
 * entry's leaf hash to the checkpoint's root. Returns the verified checkpoint; throws TlogError
 * naming the first check that failed.
 * @param {string | Uint8Array | TlogProof} proof
 * @param {Uint8Array} entry the log entry's bytes (its leaf hash is computed here)
 * @param {Verifier[]} verifiers
 * @param {string} origin
 * @returns {Promise<SignedCheckpoint>}
 */
export async function verifyTlogProof(proof, entry, verifiers, origin) {
  requireBytes("entry", entry);
  if (typeof origin !== "string") throw new TypeError(`origin must be a string, not ${describe(origin)}`);
  const parsed = typeof proof === "string" || isBytes(proof) ? parseTlogProof(proof) : proof;
  const signed = await openCheckpoint(parsed.checkpoint, verifiers, origin);
  const tree = signed.checkpoint;
  if (parsed.index >= tree.size) {
    throw new TlogError("ProofMismatch", `proof index ${parsed.index} is not below checkpoint size ${tree.size}`);
  }
  if (!(await verifyInclusion(await leafHash(entry), parsed.index, tree.size, parsed.hashes, tree.root))) {
    throw new TlogError(
      "ProofMismatch",
      `inclusion proof of entry ${parsed.index} does not match the root of the checkpoint of size ${tree.size}`,
    );
  }
  return signed;
}

/**
 * @param {string | Uint8Array} data
 * @returns {string}
 */
function asText(data) {
  if (typeof data === "string") return data;
  if (isBytes(data)) {
    const text = utf8Decode(data);
    if (text === null) throw malformed("proof is not valid UTF-8");
    return text;
  }
  throw new TypeError(`a proof must be a string or a Uint8Array, not ${describe(data)}`);
}

/**
 * @param {string} text
 * @param {string} what
 * @returns {Uint8Array}
 */
function parseBase64(text, what) {
  const value = decodeCanonicalBase64(text);
  if (value === null) throw malformed(`${what} ${JSON.stringify(text.slice(0, 60))} is not canonical base64`);
  return value;
}

/**
 * @param {string} message
 * @returns {TlogError}
 */
function malformed(message) {
  return new TlogError("MalformedProof", message);
}
