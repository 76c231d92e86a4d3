/**
 * RFC 9162 Merkle tree hashing and proof verification, mirroring farmtrace/tlog/merkle.py.
 *
 *     leaf hash = SHA-256(0x00 || entry)
 *     node hash = SHA-256(0x01 || left || right)
 *
 * Proofs are arrays of 32-byte hashes, the lowest level (the leaf's sibling) first, as RFC 9162
 * §2.1.3.1 and §2.1.4.1 produce them. Indices and sizes are unsigned 64-bit integers: pass a
 * bigint, or a number that is a safe integer; the arithmetic is done on bigints, since JavaScript
 * bit operators on numbers work on 32 bits only.
 *
 * Verification judges untrusted input, so `verifyInclusion` and `verifyConsistency` resolve to
 * true or false and never reject for a value: a proof that does not check, whatever the reason
 * (wrong length, a hash that is not 32 bytes, index >= size, a negative or too large size,
 * size1 > size2...), gives false. They throw only TypeError, for an argument of the wrong type.
 *
 * Rules beyond the RFC text, shared with the Python reference and the transparency-dev vectors:
 * - a consistency proof from an empty tree (size1 == 0) is rejected, even 0 -> 0: every tree
 *   extends the empty tree, so such a proof proves nothing;
 * - between equal sizes the proof must be empty and the two roots byte-for-byte equal (nothing
 *   else is asked of the roots then).
 *
 * @module
 */

import { bytesEqual, concatBytes, describe, requireBytes, sha256 } from "./bytes.js";
import { TlogError } from "./errors.js";

/** Length in bytes of every hash in the tree. */
export const HASH_SIZE = 32;

/** Largest tree size (and index + 1): sizes are unsigned 64-bit integers. */
export const MAX_TREE_SIZE = 2n ** 64n - 1n;

/** Root of the empty tree: SHA-256 of the empty string. */
export const EMPTY_ROOT = Uint8Array.from(
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".match(/../g) ?? [],
  (h) => parseInt(h, 16),
);

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/**
 * The RFC 9162 hash of one log entry: SHA-256(0x00 || entry).
 * @param {Uint8Array} entry
 * @returns {Promise<Uint8Array>}
 */
export async function leafHash(entry) {
  requireBytes("entry", entry);
  return sha256(concatBytes(LEAF_PREFIX, entry));
}

/**
 * The RFC 9162 hash of an interior node: SHA-256(0x01 || left || right).
 * Throws TlogError "InvalidHashLength" unless both children are 32 bytes.
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 * @returns {Promise<Uint8Array>}
 */
export async function nodeHash(left, right) {
  for (const [name, value] of /** @type {const} */ ([["left", left], ["right", right]])) {
    requireBytes(name, value);
    if (value.length !== HASH_SIZE) {
      throw new TlogError("InvalidHashLength", `${name} must be 32 bytes, got ${value.length}`);
    }
  }
  return hashChildren(left, right);
}

/**
 * The root that an inclusion proof leads to from `leaf` at `index` in a tree of `size` leaves
 * (RFC 9162 §2.1.3.2 steps 1 to 5, without the final comparison), or null when the proof cannot
 * lead to any root: index >= size, a size beyond 2**64 - 1, a proof of the wrong length, or a
 * leaf hash or proof element that is not 32 bytes. Throws only TypeError.
 * @param {Uint8Array} leaf
 * @param {number | bigint} index
 * @param {number | bigint} size
 * @param {Uint8Array[]} proof
 * @returns {Promise<Uint8Array | null>}
 */
export async function rootFromInclusionProof(leaf, index, size, proof) {
  requireBytes("leafHash", leaf);
  let fn = toUint64Candidate("index", index);
  const n = toUint64Candidate("size", size);
  const hashes = proofHashes(proof);
  if (leaf.length !== HASH_SIZE || !hashes.every((h) => h.length === HASH_SIZE)) return null;
  // Step 1 (and sizes must be unsigned 64-bit integers, as on the wire).
  if (!(0n <= fn && fn < n && n <= MAX_TREE_SIZE)) return null;
  // Steps 2 and 3: fn walks the leaf's position up the tree, sn the last leaf's.
  let sn = n - 1n;
  let r = leaf;
  // Step 4.
  for (const p of hashes) {
    if (sn === 0n) return null; // the proof is longer than the path to the root
    if ((fn & 1n) === 1n || fn === sn) {
      r = await hashChildren(p, r);
      // On the right border a node with no right sibling moves up unchanged.
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 5: a proof too short to reach the root leads nowhere.
  return sn === 0n ? r : null;
}

/**
 * Whether `proof` shows the leaf `leaf` at `index` in the tree (`size`, `root`)
 * (RFC 9162 §2.1.3.2). False for anything that does not check; throws only TypeError.
 * @param {Uint8Array} leaf
 * @param {number | bigint} index
 * @param {number | bigint} size
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root
 * @returns {Promise<boolean>}
 */
export async function verifyInclusion(leaf, index, size, proof, root) {
  requireBytes("root", root);
  const computed = await rootFromInclusionProof(leaf, index, size, proof);
  return computed !== null && root.length === HASH_SIZE && bytesEqual(computed, root);
}

/**
 * Whether `proof` shows the tree (`size2`, `root2`) extends the tree (`size1`, `root1`)
 * (RFC 9162 §2.1.4.2), after the cases the RFC leaves to the caller: size1 > size2 and
 * size1 == 0 give false; equal sizes need an empty proof and equal roots. False for anything
 * that does not check; throws only TypeError.
 * @param {number | bigint} size1
 * @param {number | bigint} size2
 * @param {Uint8Array[]} proof
 * @param {Uint8Array} root1
 * @param {Uint8Array} root2
 * @returns {Promise<boolean>}
 */
export async function verifyConsistency(size1, size2, proof, root1, root2) {
  requireBytes("root1", root1);
  requireBytes("root2", root2);
  const m = toUint64Candidate("size1", size1);
  const n = toUint64Candidate("size2", size2);
  const hashes = proofHashes(proof);
  if (!(0n < m && m <= n && n <= MAX_TREE_SIZE)) return false;
  if (m === n) return hashes.length === 0 && bytesEqual(root1, root2);
  // Step 1.
  const hashesOk = hashes.every((h) => h.length === HASH_SIZE);
  if (!(hashes.length > 0 && hashesOk && root1.length === HASH_SIZE && root2.length === HASH_SIZE)) {
    return false;
  }
  // Step 2: when size1 is a power of two the old root is a node of the new tree, so the proof
  // leaves it out and the verifier supplies it.
  const path = (m & (m - 1n)) === 0n ? [root1, ...hashes] : hashes;
  // Step 3.
  let fn = m - 1n;
  let sn = n - 1n;
  // Step 4: skip the levels where the old tree's last node is a right child of a full subtree.
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 5.
  let fr = path[0];
  let sr = path[0];
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0n) return false; // the proof is longer than the path to the new root
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await hashChildren(c, fr);
      sr = await hashChildren(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // Step 7.
  return bytesEqual(fr, root1) && bytesEqual(sr, root2) && sn === 0n;
}

/**
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 * @returns {Promise<Uint8Array>}
 */
function hashChildren(left, right) {
  // Unchecked: callers have already established that both are 32-byte hashes.
  return sha256(concatBytes(NODE_PREFIX, left, right));
}

/**
 * An integer argument as a bigint; any integer value is accepted here (range is a verdict, not
 * a type error). Throws TypeError for anything but a bigint or a safe-integer number.
 * @param {string} name
 * @param {unknown} value
 * @returns {bigint}
 */
function toUint64Candidate(name, value) {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  const why = typeof value === "number" ? "a number that is not a safe integer" : describe(value);
  throw new TypeError(`${name} must be a bigint or a safe integer, not ${why}`);
}

/**
 * The proof's hashes; throws TypeError unless `proof` is an array of Uint8Array.
 * @param {unknown} proof
 * @returns {Uint8Array[]}
 */
function proofHashes(proof) {
  if (!Array.isArray(proof)) {
    throw new TypeError(`proof must be an array of Uint8Array, not ${describe(proof)}`);
  }
  proof.forEach((p, i) => requireBytes(`proof[${i}]`, p));
  return proof;
}
