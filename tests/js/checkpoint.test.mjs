// C2SP tlog-checkpoint bodies: strict parsing and opening, mirroring
// tests/tlog/test_tlog_checkpoint.py.
import assert from "node:assert/strict";
import test from "node:test";

import { rejectsWith } from "./assertions.mjs";
import { makeSigner, signNote } from "./signer.mjs";
import { sha } from "./tree.mjs";
import { VERIFY_DIR } from "./vectors.mjs";

const { parseCheckpoint, openCheckpoint } = await import(new URL("checkpoint.js", VERIFY_DIR).href);
const { Verifier } = await import(new URL("note.js", VERIFY_DIR).href);

const ROOT = sha(Buffer.from("root"));
const ROOT64 = Buffer.from(ROOT).toString("base64");
// The example of c2sp.org/tlog-checkpoint (its body; the signature needs a key we don't have).
const SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const ORIGIN = "farmtrace.example/gw-1";

test("the specification's example body parses", () => {
  const checkpoint = parseCheckpoint(SPEC_BODY);
  assert.equal(checkpoint.origin, "example.com/behind-the-sofa");
  assert.equal(checkpoint.size, 20852163n);
  assert.equal(Buffer.from(checkpoint.root).toString("base64"), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  assert.deepEqual(checkpoint.extensions, []);
});

test("extension lines are kept in order", () => {
  const checkpoint = parseCheckpoint(`o.example/x\n0\n${ROOT64}\nextension one\nanother\n`);
  assert.deepEqual(checkpoint.extensions, ["extension one", "another"]);
  assert.equal(checkpoint.size, 0n);
});

test("the largest size is accepted, as a bigint", () => {
  assert.equal(parseCheckpoint(`o\n${2n ** 64n - 1n}\n${ROOT64}\n`).size, 2n ** 64n - 1n);
});

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const tweaked = ALPHABET[ALPHABET.indexOf(ROOT64.at(-2)) ^ 1]; // sets a padding bit

const MALFORMED = [
  [`o\n1\n${ROOT64}`, /newline/],
  ["o\n1\n", /origin, size and root/],
  [`\n1\n${ROOT64}\n`, /origin line is empty/],
  [`o\n01\n${ROOT64}\n`, /leading zeros/],
  [`o\n+1\n${ROOT64}\n`, /leading zeros/],
  [`o\n-1\n${ROOT64}\n`, /leading zeros/],
  [`o\n1 \n${ROOT64}\n`, /leading zeros/],
  [`o\n\n${ROOT64}\n`, /leading zeros/],
  [`o\n\u0661\n${ROOT64}\n`, /leading zeros/], // ARABIC-INDIC DIGIT ONE is not ASCII
  [`o\n${2n ** 64n}\n${ROOT64}\n`, /2\*\*64/],
  ["o\n1\nAAAA\n", /32 bytes/],
  [`o\n1\n${ROOT64.slice(0, -1)}\n`, /base64/],
  [`o\n1\n${ROOT64}=\n`, /base64/],
  [`o\n1\n${Buffer.alloc(32, 251).toString("base64url")}=\n`, /base64/],
  [`o\n1\n${ROOT64.slice(0, -2)}${tweaked}=\n`, /canonical/],
  [`o\n1\n${ROOT64}\n\n`, /extension lines/],
  [`o\n1\n${ROOT64}\next\n\nmore\n`, /extension lines/],
];

for (const [body, reason] of MALFORMED) {
  test(`malformed body is rejected: ${JSON.stringify(body)}`, async () => {
    await rejectsWith(() => parseCheckpoint(body), "MalformedCheckpoint", reason);
  });
}

test("a signed checkpoint opens, for its origin", async () => {
  const key = makeSigner(ORIGIN);
  const note = signNote(`${ORIGIN}\n5\n${ROOT64}\n`, [key]);
  const opened = await openCheckpoint(note, [await Verifier.fromVkey(key.vkey)], ORIGIN);
  assert.equal(opened.checkpoint.size, 5n);
  assert.deepEqual(opened.checkpoint.root, ROOT);
  assert.equal(opened.note.verified[0].name, ORIGIN);
});

test("an unexpected origin is rejected", async () => {
  const key = makeSigner(ORIGIN);
  const note = signNote(`${ORIGIN}\n5\n${ROOT64}\n`, [key]);
  await rejectsWith(openCheckpoint(note, [await Verifier.fromVkey(key.vkey)], "farmtrace.example/gw-2"), "MalformedCheckpoint", /expected/);
});

test("an altered size is rejected", async () => {
  const key = makeSigner(ORIGIN);
  const note = signNote(`${ORIGIN}\n5\n${ROOT64}\n`, [key]).replace("\n5\n", "\n6\n");
  await rejectsWith(openCheckpoint(note, [await Verifier.fromVkey(key.vkey)]), "InvalidNoteSignature");
});

test("a validly signed but malformed body is rejected", async () => {
  const key = makeSigner(ORIGIN);
  const note = signNote(`${ORIGIN}\n05\n${ROOT64}\n`, [key]);
  await rejectsWith(openCheckpoint(note, [await Verifier.fromVkey(key.vkey)]), "MalformedCheckpoint", /leading zeros/);
});
