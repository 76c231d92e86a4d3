/**
 * C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint), mirroring
 * farmtrace/tlog/checkpoint.py. A checkpoint is a signed note whose text is
 *
 *     <origin>
 *     <tree size>
 *     <base64 root hash>
 *     [extension lines]
 *
 * Parsing is strict: the origin is non-empty; the size is ASCII decimal without sign or leading
 * zeros ("0" for the empty tree) and at most 2**64 - 1, returned as a bigint; the root is the
 * canonical standard base64 of exactly 32 bytes; extension lines, if any, are non-empty.
 * Failures throw TlogError "MalformedCheckpoint" (or the note errors of note.js).
 *
 * @module
 */

import { decodeCanonicalBase64 } from "./base64.js";
import { describe } from "./bytes.js";
import { TlogError } from "./errors.js";
import { openNote } from "./note.js";

/** @typedef {import("./note.js").Verifier} Verifier */
/** @typedef {import("./note.js").VerifiedNote} VerifiedNote */

/**
 * A log's tree head.
 * @typedef {{ origin: string, size: bigint, root: Uint8Array, extensions: string[] }} Checkpoint
 */

/**
 * A checkpoint whose note was verified, with the verified note.
 * @typedef {{ checkpoint: Checkpoint, note: VerifiedNote }} SignedCheckpoint
 */

const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
const MAX_SIZE = 2n ** 64n - 1n;

/**
 * Parse a checkpoint note text (the signed text, without signatures).
 * Throws TlogError "MalformedCheckpoint" naming the line that is wrong.
 * @param {string} text
 * @returns {Checkpoint}
 */
export function parseCheckpoint(text) {
  if (typeof text !== "string") throw new TypeError(`checkpoint text must be a string, not ${describe(text)}`);
  if (!text.endsWith("\n")) throw malformed("checkpoint text must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) {
    throw malformed(`checkpoint needs origin, size and root lines, got ${lines.length} line(s)`);
  }
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === "") throw malformed("checkpoint origin line is empty");
  if (!DECIMAL.test(sizeText) || BigInt(sizeText) > MAX_SIZE) {
    throw malformed(`checkpoint size ${JSON.stringify(sizeText)} is not a decimal below 2**64 without leading zeros`);
  }
  const root = decodeCanonicalBase64(rootText);
  if (root === null || root.length !== 32) {
    throw malformed(`checkpoint root ${JSON.stringify(rootText)} is not the canonical base64 of 32 bytes`);
  }
  if (extensions.some((line) => line === "")) throw malformed("checkpoint extension lines must not be empty");
  return { origin, size: BigInt(sizeText), root, extensions };
}

/**
 * Verify a signed checkpoint note against the known keys and parse its body.
 * Throws the TlogErrors of `openNote` for a bad signature, "MalformedCheckpoint" for a
 * malformed body or one whose origin is not `origin` (when given).
 * @param {string | Uint8Array} note
 * @param {Verifier[]} verifiers
 * @param {string | null} [origin]
 * @returns {Promise<SignedCheckpoint>}
 */
export async function openCheckpoint(note, verifiers, origin = null) {
  const verified = await openNote(note, verifiers);
  const checkpoint = parseCheckpoint(verified.text);
  if (origin !== null && checkpoint.origin !== origin) {
    throw malformed(`checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the expected ${JSON.stringify(origin)}`);
  }
  return { checkpoint, note: verified };
}

/**
 * @param {string} message
 * @returns {TlogError}
 */
function malformed(message) {
  return new TlogError("MalformedCheckpoint", message);
}
