// RFC 9162 hashing and proof verification: every transparency-dev vector, plus the rules the
// vectors check only with placeholders, checked again with 32-byte stand-ins.
import assert from "node:assert/strict";
import test from "node:test";

import { consistency, mth, path, sha } from "./tree.mjs";
import { b64, loadRfc9162Vectors, VERIFY_DIR } from "./vectors.mjs";

const merkle = await import(new URL("merkle.js", VERIFY_DIR).href);
const { TlogError } = await import(new URL("errors.js", VERIFY_DIR).href);

const VECTORS = loadRfc9162Vectors();

/** Run one vector through the verifier, with optional overrides of the caller's hashes. */
function check(vector, overrides = {}) {
  const f = vector.fields;
  const proof = (f.proof ?? []).map(b64);
  if (vector.kind === "inclusion") {
    const h = { leafHash: b64(f.leafHash), root: b64(f.root), ...overrides };
    return merkle.verifyInclusion(h.leafHash, f.leafIdx, f.treeSize, proof, h.root);
  }
  const h = { root1: b64(f.root1), root2: b64(f.root2), ...overrides };
  return merkle.verifyConsistency(f.size1, f.size2, proof, h.root1, h.root2);
}

test("the vector set is complete", () => {
  assert.ok(VECTORS.length >= 190, `only ${VECTORS.length} vector files found`);
  assert.deepEqual(new Set(VECTORS.map((v) => v.kind)), new Set(["inclusion", "consistency"]));
  assert.ok(VECTORS.filter((v) => !v.fields.wantErr).length >= 10);
});

for (const vector of VECTORS) {
  test(`vector ${vector.id}`, async () => {
    assert.equal(await check(vector), !vector.fields.wantErr, vector.fields.desc);
  });
}

// The consistency/additional vectors use short placeholder roots ("don't care"); the rules they
// state must hold for real 32-byte roots too.
for (const vector of VECTORS.filter((v) => v.id.startsWith("consistency/additional/"))) {
  test(`vector rule with 32-byte stand-ins: ${vector.id}`, async () => {
    const standIn = (text) => {
      const value = b64(text);
      return value.length === 32 ? value : sha(Buffer.from("stand-in:"), value);
    };
    const overrides = { root1: standIn(vector.fields.root1), root2: standIn(vector.fields.root2) };
    assert.equal(await check(vector, overrides), !vector.fields.wantErr);
  });
}

test("leaf and node hashes follow RFC 9162", async () => {
  const entry = new Uint8Array([1, 2, 3]);
  assert.deepEqual(await merkle.leafHash(entry), sha(Buffer.from([0]), entry));
  const a = sha(Buffer.from("a"));
  const b = sha(Buffer.from("b"));
  assert.deepEqual(await merkle.nodeHash(a, b), sha(Buffer.from([1]), a, b));
  assert.deepEqual(merkle.EMPTY_ROOT, sha());
});

test("nodeHash rejects children that are not 32 bytes", async () => {
  await assert.rejects(merkle.nodeHash(new Uint8Array(31), new Uint8Array(32)), (e) => {
    return e instanceof TlogError && e.code === "InvalidHashLength" && /left must be 32 bytes/.test(e.message);
  });
});

const LEAVES = Array.from({ length: 33 }, (_, i) => sha(Buffer.from([0]), Buffer.from(`leaf ${i}`)));

test("every inclusion proof of trees of 1..33 leaves verifies, and mutations fail", async () => {
  for (let n = 1; n <= LEAVES.length; n++) {
    const leaves = LEAVES.slice(0, n);
    const root = mth(leaves);
    const otherRoot = Uint8Array.from(root);
    otherRoot[31] ^= 0x80;
    for (let i = 0; i < n; i++) {
      const proof = path(i, leaves);
      assert.ok(await merkle.verifyInclusion(leaves[i], i, n, proof, root), `n=${n} i=${i}`);
      assert.ok(await merkle.verifyInclusion(leaves[i], BigInt(i), BigInt(n), proof, root));
      assert.deepEqual(await merkle.rootFromInclusionProof(leaves[i], i, n, proof), root);
      assert.equal(await merkle.verifyInclusion(leaves[i], i, n, proof, otherRoot), false);
      assert.equal(await merkle.verifyInclusion(leaves[i], i, n, [...proof, root], root), false);
      if (proof.length > 0) {
        assert.equal(await merkle.verifyInclusion(leaves[i], i, n, proof.slice(1), root), false);
        const flipped = proof.map((h) => Uint8Array.from(h));
        flipped[flipped.length - 1][0] ^= 1;
        assert.equal(await merkle.verifyInclusion(leaves[i], i, n, flipped, root), false);
        assert.equal(await merkle.verifyInclusion(leaves[i], i ^ 1, n, proof, root), false);
      }
    }
  }
});

test("every consistency proof between trees of 1..33 leaves verifies, and mutations fail", async () => {
  for (let n = 1; n <= LEAVES.length; n++) {
    const root2 = mth(LEAVES.slice(0, n));
    for (let m = 1; m <= n; m++) {
      const root1 = mth(LEAVES.slice(0, m));
      const proof = consistency(m, LEAVES.slice(0, n));
      assert.ok(await merkle.verifyConsistency(m, n, proof, root1, root2), `m=${m} n=${n}`);
      if (m < n) {
        assert.equal(await merkle.verifyConsistency(m, n, proof, root2, root2), false);
        assert.equal(await merkle.verifyConsistency(m, n, proof, root1, root1), false);
        assert.equal(await merkle.verifyConsistency(m, n, proof.slice(0, -1), root1, root2), false);
        assert.equal(await merkle.verifyConsistency(m, n, [...proof, root1], root1, root2), false);
      }
    }
    assert.equal(await merkle.verifyConsistency(0, n, [], merkle.EMPTY_ROOT, root2), false);
  }
});

test("sizes at and beyond the 64-bit limit", async () => {
  const leaf = LEAVES[0];
  const max = merkle.MAX_TREE_SIZE;
  // A proof for the last leaf of a tree of 2**64 - 1 leaves has 64 levels: built with the
  // oracle from an imaginary tree it cannot be, but a proof of the wrong length must be refused.
  assert.equal(await merkle.verifyInclusion(leaf, max - 1n, max, [], leaf), false);
  assert.equal(await merkle.verifyInclusion(leaf, 0n, max + 1n, [], leaf), false);
  assert.equal(await merkle.verifyInclusion(leaf, -1, 1, [], leaf), false);
  assert.equal(await merkle.verifyConsistency(1n, max + 1n, [leaf], leaf, leaf), false);
  // Bit operations past 32 bits: a one-leaf-right-of-a-2**40 tree has a two-hash proof.
  const big = 2n ** 40n;
  const left = sha(Buffer.from("left subtree of 2**40 leaves"));
  const root = sha(Buffer.from([1]), left, leaf);
  assert.ok(await merkle.verifyInclusion(leaf, big, big + 1n, [left], root));
  assert.ok(await merkle.verifyConsistency(big, big + 1n, [leaf], left, root));
});

test("wrong argument types throw TypeError, never a verdict", async () => {
  const h = LEAVES[0];
  await assert.rejects(merkle.verifyInclusion("x", 0, 1, [], h), TypeError);
  await assert.rejects(merkle.verifyInclusion(h, 0.5, 1, [], h), TypeError);
  await assert.rejects(merkle.verifyInclusion(h, 0, 2 ** 60, [], h), TypeError);
  await assert.rejects(merkle.verifyInclusion(h, 0, 1, h, h), TypeError);
  await assert.rejects(merkle.verifyInclusion(h, 0, 1, ["aa"], h), TypeError);
  await assert.rejects(merkle.verifyConsistency(1, 2, [h], h, null), TypeError);
  await assert.rejects(merkle.leafHash("text"), TypeError);
});

test("short or long hashes are a false verdict, not an error", async () => {
  const h = LEAVES[0];
  assert.equal(await merkle.verifyInclusion(h.slice(1), 0, 1, [], h.slice(1)), false);
  assert.equal(await merkle.verifyInclusion(h, 0, 2, [new Uint8Array(33)], h), false);
  assert.equal(await merkle.verifyConsistency(1, 2, [new Uint8Array(31)], h, h), false);
});
