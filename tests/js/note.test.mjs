// C2SP signed notes: the published vectors, every rejection rule of the Python reference
// (tests/tlog/test_tlog_note.py), key strings and key IDs.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import test from "node:test";

import { rejectsWith } from "./assertions.mjs";
import { makeSigner, signNote } from "./signer.mjs";
import { VERIFY_DIR } from "./vectors.mjs";

const { Verifier, openNote, parseNote, isValidKeyName, keyId, MAX_SIGNATURES } = await import(
  new URL("note.js", VERIFY_DIR).href
);
const { TlogError } = await import(new URL("errors.js", VERIFY_DIR).href);

// From STANDARDS.md (the C2SP signed-note test vector).
const C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const C2SP_NOTE =
  "This is an example message.\n\n" +
  "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOB" +
  "H3mFXmRKuwHjG1Yu72IneyaQM=\n";
// From the documentation of Go's golang.org/x/mod/sumdb/note.
const GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_NOTE =
  "If you think cryptography is the answer to your problem,\n" +
  "then you don't know what your problem is.\n\n" +
  "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngot" +
  "pRZb6KE6RyyBwJnAM=\n";

const verifierOf = (signer) => Verifier.fromVkey(signer.vkey);

test("the C2SP vector verifies", async () => {
  const verifier = await Verifier.fromVkey(C2SP_VKEY);
  assert.equal(verifier.vkey, C2SP_VKEY);
  assert.equal(verifier.keyId, 0x530d903a);
  const note = await openNote(C2SP_NOTE, [verifier]);
  assert.equal(note.text, "This is an example message.\n");
  assert.deepEqual(note.verified.map((s) => s.name), ["example.com/foo"]);
  assert.deepEqual(note.unverified, []);
});

test("the C2SP vector verifies as bytes", async () => {
  const note = await openNote(new TextEncoder().encode(C2SP_NOTE), [await Verifier.fromVkey(C2SP_VKEY)]);
  assert.equal(note.verified.length, 1);
});

test("the Go documentation vector verifies", async () => {
  const note = await openNote(GO_NOTE, [await Verifier.fromVkey(GO_VKEY)]);
  assert.ok(note.text.startsWith("If you think"));
});

test("key ID is SHA-256 of name, newline, type byte and key", async () => {
  const verifier = await Verifier.fromVkey(C2SP_VKEY);
  const typed = Buffer.concat([Buffer.from([1]), verifier.publicKey]);
  const digest = createHash("sha256").update("example.com/foo\n").update(typed).digest();
  assert.equal(await keyId("example.com/foo", typed), digest.readUInt32BE(0));
});

test("a note signed with node:crypto round trips", async () => {
  const signer = makeSigner("farmtrace.example/gw-1");
  const note = await openNote(signNote("hello\nworld\n", [signer]), [await verifierOf(signer)]);
  assert.equal(note.text, "hello\nworld\n");
  assert.equal((await verifierOf(signer)).vkey, signer.vkey);
});

test("verifier keys split on the first two '+' only", async () => {
  let signer = null;
  for (let label = 0; label < 1000 && signer === null; label++) {
    const candidate = makeSigner("example.org/plus", String(label));
    if (candidate.vkey.split("+").slice(2).join("+").includes("+")) signer = candidate;
  }
  assert.ok(signer !== null, "no key with '+' in its base64 among 1000");
  const parsed = await Verifier.fromVkey(signer.vkey);
  assert.deepEqual(parsed.publicKey, signer.publicKey);
  assert.equal((await openNote(signNote("x\n", [signer]), [parsed])).verified.length, 1);
});

const BAD_VKEYS = [
  ["", /malformed/],
  ["example.com/foo", /malformed/],
  ["example.com/foo+530d903a", /malformed/],
  ["example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /malformed/],
  ["example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /malformed/],
  ["example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /does not match/],
  ["example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /does not match/],
  ["example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", /base64/],
  ["example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=", /base64/],
  ["example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=", /not an Ed25519 key/],
  ["example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv", /not an Ed25519 key/],
  ["exa mple.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /invalid key name/],
  ["+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", /invalid key name/],
];

for (const [vkey, reason] of BAD_VKEYS) {
  test(`malformed verifier key is rejected: ${JSON.stringify(vkey)}`, async () => {
    await rejectsWith(Verifier.fromVkey(vkey), "InvalidKey", reason);
  });
}

test("key names", () => {
  assert.ok(isValidKeyName("example.com/foo"));
  for (const bad of ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "a\tb", "a\u0085b", "a\u001cb", "a\ud800b"]) {
    assert.equal(isValidKeyName(bad), false, JSON.stringify(bad));
  }
  // Python's str.isspace() is false for U+FEFF and U+180E, so these are valid names there too.
  assert.ok(isValidKeyName("a\ufeffb"));
  assert.ok(isValidKeyName("a\u180eb"));
});

test("unknown keys are ignored when a known key verifies", async () => {
  const known = makeSigner("log.example/a");
  const other = makeSigner("witness.example/w");
  const impostor = makeSigner("log.example/a", "impostor"); // same name, other key ID
  const text = "body\n";
  const signed = `${text}\n${other.line(text)}${impostor.line(text)}${known.line(text)}`;
  const note = await openNote(signed, [await verifierOf(known)]);
  assert.deepEqual(note.verified.map((s) => s.name), ["log.example/a"]);
  assert.deepEqual(new Set(note.unverified.map((s) => s.name)), new Set(["witness.example/w", "log.example/a"]));
});

test("a note signed only by unknown keys is rejected", async () => {
  const signed = signNote("body\n", [makeSigner("someone.example/x")]);
  await rejectsWith(openNote(signed, [await verifierOf(makeSigner("log.example/a"))]), "UnverifiedNote", /someone\.example\/x/);
});

test("a note with no known keys at all is rejected", async () => {
  await rejectsWith(openNote(C2SP_NOTE, []), "UnverifiedNote", /no signature from a known key/);
});

test("a bad signature from a known key rejects the whole note", async () => {
  const known = makeSigner("log.example/a");
  const extra = makeSigner("log.example/b");
  const forged = known.line("body\n", { signature: new Uint8Array(64) });
  const verifiers = [await verifierOf(known), await verifierOf(extra)];
  await rejectsWith(openNote(signNote("body\n", [extra]) + forged, verifiers), "InvalidNoteSignature", /log\.example\/a/);
});

test("a signature of the wrong length from a known key is an invalid signature", async () => {
  const known = makeSigner("log.example/a");
  const short = known.line("body\n", { signature: new Uint8Array(63) });
  await rejectsWith(openNote(`body\n\n${short}`, [await verifierOf(known)]), "InvalidNoteSignature");
});

test("altered text is rejected", async () => {
  const verifier = await Verifier.fromVkey(C2SP_VKEY);
  await rejectsWith(openNote(C2SP_NOTE.replace("example", "exemple"), [verifier]), "InvalidNoteSignature");
});

test("every single-bit flip (0x01, 0x80) of every byte of the C2SP vector is rejected", async () => {
  const verifier = await Verifier.fromVkey(C2SP_VKEY);
  const data = new TextEncoder().encode(C2SP_NOTE);
  const codes = new Set();
  for (let i = 0; i < data.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const flipped = Uint8Array.from(data);
      flipped[i] ^= bit;
      await assert.rejects(openNote(flipped, [verifier]), (error) => {
        assert.ok(error instanceof TlogError, `flip ${bit} at ${i}: ${error}`);
        codes.add(error.code);
        return true;
      });
    }
  }
  assert.deepEqual(codes, new Set(["MalformedNote", "InvalidNoteSignature", "UnverifiedNote"]));
});

test("two different known keys sharing a name and key ID are refused", async () => {
  const a = makeSigner("log.example/a");
  const real = await verifierOf(a);
  const fake = new Verifier(a.name, new Uint8Array(32), a.keyId, null);
  await rejectsWith(openNote(signNote("x\n", [a]), [real, fake]), "InvalidKey", /share/);
});

const MALFORMED_NOTES = [
  ["no blank line\n\u2014 a AAAAAAA=\n", /blank line/],
  ["text\n\n", /signature lines/],
  ["text\n\n\u2014 a AAAAAAA=", /signature lines/],
  ["text\n\n- a AAAAAAA=\n", /em dash/],
  ["text\n\n\u2014 a\n", /malformed/],
  ["text\n\n\u2014 a \n", /malformed/],
  ["text\n\n\u2014 a+b AAAAAAA=\n", /malformed/],
  ["text\n\n\u2014 a AAAA\n", /too short/],
  ["text\n\n\u2014 a !!!!\n", /base64/],
  ["text\n\n\u2014 a AAAAAAA\n", /base64/],
  ["te\txt\n\n\u2014 a AAAAAAA=\n", /control/],
  ["text\r\n\n\u2014 a AAAAAAA=\n", /control/],
  ["text\ud800\n\n\u2014 a AAAAAAA=\n", /UTF-8/],
];

for (const [note, reason] of MALFORMED_NOTES) {
  test(`malformed note is rejected: ${JSON.stringify(note)}`, async () => {
    await rejectsWith(openNote(note, [await Verifier.fromVkey(C2SP_VKEY)]), "MalformedNote", reason);
  });
}

test("invalid UTF-8 is rejected", () => {
  const bytes = Uint8Array.from([0xff, 0xfe, 0x0a, 0x0a, 0xe2, 0x80, 0x94, 0x20, 0x61, 0x20, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x3d, 0x0a]);
  assert.throws(() => parseNote(bytes), (e) => e instanceof TlogError && e.code === "MalformedNote" && /UTF-8/.test(e.message));
});

test("a leading byte order mark is kept as text and signed", async () => {
  const signer = makeSigner("log.example/a");
  const signed = signNote("\ufeffbom\n", [signer]);
  const note = await openNote(new TextEncoder().encode(signed), [await verifierOf(signer)]);
  assert.equal(note.text, "\ufeffbom\n");
});

test("at most MAX_SIGNATURES signature lines", () => {
  const line = makeSigner("log.example/a").line("x\n");
  parseNote(`x\n\n${line.repeat(MAX_SIGNATURES)}`);
  assert.throws(() => parseNote(`x\n\n${line.repeat(MAX_SIGNATURES + 1)}`), /more than/);
});

test("the text may hold empty lines: the split is at the last blank line", async () => {
  const signer = makeSigner("log.example/a");
  const note = await openNote(signNote("a\n\nb\n", [signer]), [await verifierOf(signer)]);
  assert.equal(note.text, "a\n\nb\n");
});

test("wrong argument types throw TypeError", async () => {
  assert.throws(() => parseNote(42), TypeError);
  await assert.rejects(openNote(C2SP_NOTE, [C2SP_VKEY]), TypeError);
});
