// Test helper: an RFC 9162 tree builder on node:crypto (recursive definitions of §2.1), an
// oracle independent of the WebCrypto verifier under test.
import { createHash } from "node:crypto";

/** SHA-256 of the concatenated parts. */
export const sha = (...parts) => new Uint8Array(createHash("sha256").update(Buffer.concat(parts)).digest());

/** The RFC 9162 leaf hash of an entry. */
export const leaf = (entry) => sha(Buffer.from([0]), Buffer.from(entry));

/** k: the largest power of two strictly less than n (n >= 2). */
function split(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) over leaf hashes. */
export function mth(leaves) {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0];
  const k = split(leaves.length);
  return sha(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** PATH(m, D[n]): the inclusion proof of leaf `index`, sibling first. */
export function path(index, leaves) {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  if (index < k) return [...path(index, leaves.slice(0, k)), mth(leaves.slice(k))];
  return [...path(index - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

/** PROOF(m, D[n]): the consistency proof from the first m leaves (1 <= m <= n). */
export function consistency(m, leaves) {
  return subproof(m, leaves, true);
}

function subproof(m, leaves, known) {
  if (m === leaves.length) return known ? [] : [mth(leaves)];
  const k = split(leaves.length);
  if (m <= k) return [...subproof(m, leaves.slice(0, k), known), mth(leaves.slice(k))];
  return [...subproof(m - k, leaves.slice(k), false), mth(leaves.slice(0, k))];
}
