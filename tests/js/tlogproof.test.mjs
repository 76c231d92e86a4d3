// C2SP tlog-proof files: parsing and verification, mirroring tests/tlog/test_tlog_proof.py.
import assert from "node:assert/strict";
import test from "node:test";

import { rejectsWith } from "./assertions.mjs";
import { makeSigner, signNote } from "./signer.mjs";
import { leaf, mth, path } from "./tree.mjs";
import { VERIFY_DIR } from "./vectors.mjs";

const { parseTlogProof, verifyTlogProof, PROOF_HEADER } = await import(new URL("tlogproof.js", VERIFY_DIR).href);
const { Verifier } = await import(new URL("note.js", VERIFY_DIR).href);

const ORIGIN = "farmtrace.example/gw-1";
const KEY = makeSigner(ORIGIN, "proof-test");
const VERIFIER = await Verifier.fromVkey(KEY.vkey);
const ENTRIES = Array.from({ length: 7 }, (_, i) => Buffer.from(`entry ${i}`));
const LEAVES = ENTRIES.map(leaf);
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const NOTE = signNote(`${ORIGIN}\n${ENTRIES.length}\n${b64(mth(LEAVES))}\n`, [KEY]);

/** The tlog-proof text for entry `index`, in the layout of the specification. */
function proofFor(index, { extra = null, note = NOTE, hashes = path(index, LEAVES) } = {}) {
  const lines = [PROOF_HEADER, ...(extra === null ? [] : [`extra ${b64(extra)}`]), `index ${index}`];
  return `${[...lines, ...hashes.map(b64)].join("\n")}\n\n${note}`;
}

test("a proof parses into index, hashes, checkpoint and extra", () => {
  const proof = parseTlogProof(proofFor(3, { extra: Buffer.from("context") }));
  assert.equal(proof.index, 3n);
  assert.deepEqual(proof.hashes, path(3, LEAVES));
  assert.equal(proof.checkpoint, NOTE);
  assert.equal(Buffer.from(proof.extra).toString(), "context");
  assert.equal(parseTlogProof(proofFor(3)).extra, null);
});

for (let index = 0; index < ENTRIES.length; index++) {
  test(`entry ${index} verifies`, async () => {
    const signed = await verifyTlogProof(proofFor(index), ENTRIES[index], [VERIFIER], ORIGIN);
    assert.equal(signed.checkpoint.size, BigInt(ENTRIES.length));
  });
}

test("a proof given as bytes or already parsed verifies too", async () => {
  const text = proofFor(2, { extra: Buffer.from("x") });
  await verifyTlogProof(new TextEncoder().encode(text), ENTRIES[2], [VERIFIER], ORIGIN);
  await verifyTlogProof(parseTlogProof(text), ENTRIES[2], [VERIFIER], ORIGIN);
});

test("a one-entry log has a proof without hashes", async () => {
  const note = signNote(`${ORIGIN}\n1\n${b64(leaf("only"))}\n`, [KEY]);
  const text = proofFor(0, { note, hashes: [] });
  assert.ok(text.startsWith(`${PROOF_HEADER}\nindex 0\n\n`));
  await verifyTlogProof(text, Buffer.from("only"), [VERIFIER], ORIGIN);
});

test("the wrong entry is rejected", async () => {
  await rejectsWith(verifyTlogProof(proofFor(3), ENTRIES[4], [VERIFIER], ORIGIN), "ProofMismatch", /does not match the root/);
});

test("the wrong index is rejected", async () => {
  const text = proofFor(3).replace("index 3", "index 2");
  await rejectsWith(verifyTlogProof(text, ENTRIES[3], [VERIFIER], ORIGIN), "ProofMismatch");
});

test("an index beyond the checkpoint is rejected", async () => {
  const text = proofFor(3).replace("index 3", "index 7");
  await rejectsWith(verifyTlogProof(text, ENTRIES[3], [VERIFIER], ORIGIN), "ProofMismatch", /not below/);
});

test("an altered hash is rejected", async () => {
  const hashes = path(3, LEAVES);
  hashes[1] = new Uint8Array(32);
  await rejectsWith(verifyTlogProof(proofFor(3, { hashes }), ENTRIES[3], [VERIFIER], ORIGIN), "ProofMismatch");
});

test("an unknown key or another origin is rejected", async () => {
  const other = await Verifier.fromVkey(makeSigner(ORIGIN, "other").vkey);
  await rejectsWith(verifyTlogProof(proofFor(1), ENTRIES[1], [other], ORIGIN), "UnverifiedNote");
  await rejectsWith(verifyTlogProof(proofFor(1), ENTRIES[1], [VERIFIER], "farmtrace.example/gw-2"), "MalformedCheckpoint");
});

test("an altered checkpoint is rejected", async () => {
  const text = proofFor(1).replace(`\n${ENTRIES.length}\n`, `\n${ENTRIES.length + 1}\n`);
  await rejectsWith(verifyTlogProof(text, ENTRIES[1], [VERIFIER], ORIGIN), "InvalidNoteSignature");
});

const MALFORMED = [
  [(t) => t.replace(PROOF_HEADER, "c2sp.org/tlog-proof@v2"), /start with/],
  [(t) => t.replace("index 3", "index 03"), /leading/],
  [(t) => t.replace("index 3", "index -3"), /leading/],
  [(t) => t.replace("index 3", "index  3"), /leading/],
  [(t) => t.replace("index 3", `index ${2n ** 64n - 1n}`), /leading/],
  [(t) => t.replace("index 3", "idx 3"), /index <N>/],
  [(t) => t.replace("\n\n", "\n"), /empty line|base64/],
  [(t) => t.replace("index 3\n", "index 3\nAAAA\n"), /32 bytes/],
  [(t) => t.replace("index 3\n", "index 3\n!!!!\n"), /base64/],
  [(t) => t.replace("index 3\n", "extra \nindex 3\n"), /empty/],
  [(t) => t.replace("index 3\n", "extra !!\nindex 3\n"), /base64/],
  [(t) => t.replace("index 3\n", "index 3\nextra AA==\n"), /base64/],
  [(t) => t.replace("index 3\n", "extra AB==\nindex 3\n"), /canonical/],
  [(t) => t.replace("index 3\n", `index 3\n${`${b64(LEAVES[0])}\n`.repeat(65)}`), /more than 64/],
  [(t) => t.slice(0, t.indexOf("\n\n") + 2), /checkpoint note/],
];

for (const [mutate, reason] of MALFORMED) {
  test(`malformed proof is rejected: ${mutate}`, async () => {
    await rejectsWith(() => parseTlogProof(mutate(proofFor(3))), "MalformedProof", reason);
  });
}

test("invalid UTF-8 is rejected", async () => {
  await rejectsWith(() => parseTlogProof(Uint8Array.of(0xff)), "MalformedProof", /UTF-8/);
});

test("wrong argument types throw TypeError", async () => {
  assert.throws(() => parseTlogProof(null), TypeError);
  await assert.rejects(verifyTlogProof(proofFor(1), "entry 1", [VERIFIER], ORIGIN), TypeError);
});
