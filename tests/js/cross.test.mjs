// Cross-implementation check: inputs signed and judged by the Python reference (farmtrace.tlog),
// written by tests/support/tlog_cross.py; the JS verifier must reach the same verdict on each:
// the same parsed result, or a TlogError whose code is the Python exception's class name.
//
// The vectors are made fresh by tests/test_js_verifier.py, which sets FARMTRACE_CROSS_VECTORS to
// their path. Run by hand:
//   .venv/bin/python tests/support/tlog_cross.py /tmp/cross.json
//   FARMTRACE_CROSS_VECTORS=/tmp/cross.json node --test tests/js/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import test from "node:test";

import { b64, VERIFY_DIR } from "./vectors.mjs";

const verify = await import(new URL("index.js", VERIFY_DIR).href);

const PATH = process.env.FARMTRACE_CROSS_VECTORS;
const KINDS = ["vkey", "note", "checkpoint", "tlogProof", "inclusion", "consistency"];

const toB64 = (bytes) => Buffer.from(bytes).toString("base64");
const signatures = (sigs) => sigs.map((s) => [s.name, s.keyId]);
const known = new Map(); // vkey string -> Promise<Verifier>, parsed once for all cases using it
const verifiers = (vkeys) =>
  Promise.all(
    vkeys.map((k) => {
      if (!known.has(k)) known.set(k, verify.Verifier.fromVkey(k));
      return known.get(k);
    }),
  );

/** The JS verdict for one case, in the shape the Python side recorded. */
const RUN = {
  async vkey(c) {
    const v = await verify.Verifier.fromVkey(c.vkey);
    return { name: v.name, keyId: v.keyId, publicKey: toB64(v.publicKey) };
  },
  async note(c) {
    const note = await verify.openNote(b64(c.note), await verifiers(c.vkeys));
    return { text: note.text, verified: signatures(note.verified), unverified: signatures(note.unverified) };
  },
  async checkpoint(c) {
    const { checkpoint } = await verify.openCheckpoint(b64(c.note), await verifiers(c.vkeys), c.origin);
    const { origin, size, root, extensions } = checkpoint;
    return { origin, size: String(size), root: toB64(root), extensions };
  },
  async tlogProof(c) {
    const signed = await verify.verifyTlogProof(b64(c.proof), b64(c.entry), await verifiers(c.vkeys), c.origin);
    const parsed = verify.parseTlogProof(b64(c.proof));
    const extra = parsed.extra === null ? null : toB64(parsed.extra);
    return { index: String(parsed.index), size: String(signed.checkpoint.size), extra };
  },
};

async function verdict(c) {
  if (c.kind === "inclusion") {
    return verify.verifyInclusion(b64(c.leafHash), BigInt(c.index), BigInt(c.size), c.proof.map(b64), b64(c.root));
  }
  if (c.kind === "consistency") {
    return verify.verifyConsistency(BigInt(c.size1), BigInt(c.size2), c.proof.map(b64), b64(c.root1), b64(c.root2));
  }
  try {
    return { ok: true, ...(await RUN[c.kind](c)) };
  } catch (error) {
    if (!(error instanceof verify.TlogError)) throw error;
    return { ok: false, error: error.code };
  }
}

if (PATH === undefined) {
  test.skip("cross-implementation vectors (set FARMTRACE_CROSS_VECTORS; pytest tests/test_js_verifier.py does)");
} else {
  const { cases } = JSON.parse(readFileSync(PATH, "utf8"));
  for (const kind of KINDS) {
    test(`JS agrees with the Python reference on every ${kind} case`, async () => {
      const mine = cases.filter((c) => c.kind === kind);
      assert.ok(mine.length > 0, `no ${kind} cases in ${PATH}`);
      const mismatches = [];
      for (const c of mine) {
        const got = await verdict(c);
        try {
          assert.deepEqual(got, c.want);
        } catch {
          mismatches.push(`${c.name}: want ${JSON.stringify(c.want)}, got ${JSON.stringify(got)}`);
        }
      }
      assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} of ${mine.length} ${kind} cases differ`);
    });
  }
}
