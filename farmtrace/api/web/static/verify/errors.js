/**
 * The one error type of the verifier: TlogError, with a `code` naming what kind of input was bad.
 *
 * Contract, shared with the Python reference (farmtrace/tlog/errors.py):
 * - The Merkle `verify*` functions judge untrusted input and answer true or false; they never
 *   throw for a value, only TypeError for an argument of the wrong type.
 * - Parsing and opening notes, checkpoints and tlog-proofs either returns the verified object or
 *   throws a TlogError whose `code` is the name of the Python exception class that the reference
 *   raises for the same input, and whose `message` says what was wrong (the reason to show).
 * - TypeError (a caller's bug, not bad data) is thrown as is and never wrapped.
 *
 * @module
 */

/**
 * What went wrong, by the name of the matching Python exception class.
 * @typedef {"InvalidHashLength" | "MalformedNote" | "InvalidKey" | "InvalidNoteSignature"
 *   | "UnverifiedNote" | "MalformedCheckpoint" | "MalformedProof" | "ProofMismatch"
 *   | "MalformedPolicy" | "QuorumNotMet" | "TileError" | "TileMismatch"} TlogErrorCode
 */

/** @type {ReadonlyArray<TlogErrorCode>} */
export const ERROR_CODES = Object.freeze([
  "InvalidHashLength",
  "MalformedNote",
  "InvalidKey",
  "InvalidNoteSignature",
  "UnverifiedNote",
  "MalformedCheckpoint",
  "MalformedProof",
  "ProofMismatch",
  "MalformedPolicy",
  "QuorumNotMet",
  "TileError",
  "TileMismatch",
]);

/** Bad input to the transparency-log verifier; `code` says which kind, `message` what exactly. */
export class TlogError extends Error {
  /**
   * @param {TlogErrorCode} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "TlogError";
    /** @type {TlogErrorCode} */
    this.code = code;
  }
}
