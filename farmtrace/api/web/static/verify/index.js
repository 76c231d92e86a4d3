/**
 * farmtrace's browser and node verifier for transparency-log data, on WebCrypto only
 * (SHA-256 and Ed25519). One module per concern; this file re-exports the public API.
 *
 * Error contract (see errors.js): Merkle `verify*` functions resolve to true or false;
 * parsing and opening notes, checkpoints and tlog-proofs resolve to the verified object or
 * throw a TlogError whose `code` names the failure and whose `message` gives the reason.
 *
 * @module
 */

export { decodeBase64, decodeCanonicalBase64, encodeBase64 } from "./base64.js";
export { bytesEqual, sha256, toHex, utf8Decode, utf8Encode } from "./bytes.js";
export { openCheckpoint, parseCheckpoint } from "./checkpoint.js";
export {
  DECLARATION_PREFIX,
  DeclarationError,
  canonicalJson,
  chainProblem,
  decodeDeclaration,
  entrySha256,
  firstDifference,
} from "./declaration.js";
export { ALG_COSIGNATURE_V1, CosignatureVerifier, cosignaturesOf, cosignedMessage } from "./cosignature.js";
export {
  CampaignReplay,
  CommerceError,
  Violation,
  addressProblem,
  checkDigit,
  couponId,
  decodeCampaignEntry,
  decodeStatement,
  farmSigner,
  fingerprint,
  parseAddress,
  parseCouponId,
  parseTerms,
  termsSha256,
  validateGcn,
} from "./commerce.js";
export { ERROR_CODES, TlogError } from "./errors.js";
export {
  EMPTY_ROOT,
  HASH_SIZE,
  MAX_TREE_SIZE,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";
export { ALG_ED25519, MAX_SIGNATURES, Verifier, isValidKeyName, keyId, openNote, parseNote } from "./note.js";
export { checkCheckpoint, parsePolicy, quorumMet } from "./policy.js";
export { PROOF_HEADER, parseTlogProof, verifyTlogProof } from "./tlogproof.js";
export {
  ENTRIES,
  TILE_WIDTH,
  bundleRefs,
  decodeBundle,
  hashTileRefs,
  parseTilePath,
  tilePath,
  verifyBundle,
  verifyHashTiles,
} from "./tiles.js";
