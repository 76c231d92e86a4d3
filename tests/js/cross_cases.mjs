// The cross-implementation check itself, shared by node (cross.test.mjs) and the browser
// harness (browser.html): run each case of tests/support/tlog_cross.py through the verifier and
// compare with the verdict the Python reference recorded. Uses nothing from node, so that the
// browser runs exactly this code.

/** Standard base64 to bytes, with the platform's atob (independent of the module under test). */
const b64 = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
const toB64 = (bytes) => btoa(String.fromCharCode(...bytes));
const signatures = (sigs) => sigs.map((s) => [s.name, s.keyId]);

/**
 * The verdict of the verifier `verify` (the module namespace of index.js) on one case, in the
 * shape the Python side recorded: a boolean for Merkle proofs, else {ok: true, ...result} or
 * {ok: false, error: <TlogError code>}. Errors other than TlogError propagate.
 */
export async function verdict(verify, c, verifiers) {
  if (c.kind === "inclusion") {
    return verify.verifyInclusion(b64(c.leafHash), BigInt(c.index), BigInt(c.size), c.proof.map(b64), b64(c.root));
  }
  if (c.kind === "consistency") {
    return verify.verifyConsistency(BigInt(c.size1), BigInt(c.size2), c.proof.map(b64), b64(c.root1), b64(c.root2));
  }
  try {
    return { ok: true, ...(await RUN[c.kind](verify, c, verifiers)) };
  } catch (error) {
    if (!(error instanceof verify.TlogError)) throw error;
    return { ok: false, error: error.code };
  }
}

const RUN = {
  async vkey(verify, c) {
    const v = await verify.Verifier.fromVkey(c.vkey);
    return { name: v.name, keyId: v.keyId, publicKey: toB64(v.publicKey) };
  },
  async note(verify, c, verifiers) {
    const note = await verify.openNote(b64(c.note), await verifiers(c.vkeys));
    return { text: note.text, verified: signatures(note.verified), unverified: signatures(note.unverified) };
  },
  async checkpoint(verify, c, verifiers) {
    const { checkpoint } = await verify.openCheckpoint(b64(c.note), await verifiers(c.vkeys), c.origin);
    const { origin, size, root, extensions } = checkpoint;
    return { origin, size: String(size), root: toB64(root), extensions };
  },
  async tlogProof(verify, c, verifiers) {
    const signed = await verify.verifyTlogProof(b64(c.proof), b64(c.entry), await verifiers(c.vkeys), c.origin);
    const parsed = verify.parseTlogProof(b64(c.proof));
    const extra = parsed.extra === null ? null : toB64(parsed.extra);
    return { index: String(parsed.index), size: String(signed.checkpoint.size), extra };
  },
};

/** Structural equality of JSON-like values (what the verdicts are). */
function same(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}

/**
 * Run every case of one kind; returns { count, mismatches } where each mismatch is a line
 * naming the case, the Python verdict and the JS one.
 */
export async function checkKind(verify, cases, kind) {
  const known = new Map(); // vkey string -> Promise<Verifier>, parsed once for all cases using it
  const verifiers = (vkeys) =>
    Promise.all(
      vkeys.map((k) => {
        if (!known.has(k)) known.set(k, verify.Verifier.fromVkey(k));
        return known.get(k);
      }),
    );
  const mine = cases.filter((c) => c.kind === kind);
  const mismatches = [];
  for (const c of mine) {
    const got = await verdict(verify, c, verifiers);
    if (!same(got, c.want)) {
      mismatches.push(`${c.name}: want ${JSON.stringify(c.want)}, got ${JSON.stringify(got)}`);
    }
  }
  return { count: mine.length, mismatches };
}

/** The kinds of case tlog_cross.py writes. */
export const KINDS = ["vkey", "note", "checkpoint", "tlogProof", "inclusion", "consistency"];
