/**
 * C2SP transparency-log trust policies (c2sp.org/tlog-policy), mirroring farmtrace/tlog/policy.py.
 *
 *     log <vkey> [<url>]
 *     witness <name> <vkey> [<url>]
 *     group <name> <k|any|all> <member>...
 *     quorum <name|none>
 *
 * Words are separated by runs of ASCII spaces and tabs only; blank lines and lines starting with
 * "#" are ignored; names are opaque. A group or the quorum names only witnesses and groups defined
 * on earlier lines; a name is defined once and listed at most once per group; "none" is reserved;
 * 1 <= k <= n; exactly one quorum line; no two logs or two witnesses share a public key. Only tab,
 * newline, 0x20-0x7E and non-ASCII characters may appear. Errors: TlogError "MalformedPolicy"
 * naming the line, "QuorumNotMet" from `checkCheckpoint`.
 *
 * @module
 */

import { bytesEqual } from "./bytes.js";
import { openCheckpoint } from "./checkpoint.js";
import { CosignatureVerifier, cosignaturesOf } from "./cosignature.js";
import { TlogError } from "./errors.js";
import { Verifier } from "./note.js";

/** Most logs, witnesses and groups (each) a policy may define. */
export const MAX_ITEMS = 256;

const FORBIDDEN = /[\x00-\x08\x0b-\x1f\x7f]/;
const DECIMAL = /^[1-9][0-9]*$/;

/**
 * @typedef {{ name: string, key: CosignatureVerifier, url: string | null }} PolicyWitness
 * @typedef {{ name: string, threshold: number, members: string[] }} PolicyGroup
 * @typedef {{ logs: Verifier[], witnesses: PolicyWitness[], groups: Map<string, PolicyGroup>,
 *   quorum: string | null }} Policy
 */

/**
 * Parse a policy file; TlogError "MalformedPolicy" naming the first bad line.
 * @param {string} text
 * @returns {Promise<Policy>}
 */
export async function parsePolicy(text) {
  if (typeof text !== "string") throw new TypeError("a policy must be a string");
  const bad = FORBIDDEN.exec(text);
  if (bad !== null) {
    const line = text.slice(0, bad.index).split("\n").length;
    throw malformed(line, `control character ${JSON.stringify(bad[0])}`);
  }
  /** @type {Verifier[]} */ const logs = [];
  /** @type {Map<string, PolicyWitness>} */ const witnesses = new Map();
  /** @type {Map<string, PolicyGroup>} */ const groups = new Map();
  let quorum = null;
  let quorumSeen = false;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const number = i + 1;
    const words = lines[i].replaceAll("\t", " ").split(" ").filter((w) => w !== "");
    if (words.length === 0 || words[0].startsWith("#")) continue;
    const [keyword, ...args] = words;
    const defined = (/** @type {string} */ name) => witnesses.has(name) || groups.has(name);
    if (keyword === "log") {
      if (args.length !== 1 && args.length !== 2) throw malformed(number, "want 'log <vkey> [<url>]'");
      const log = await keyOr(number, "log key", () => Verifier.fromVkey(args[0]));
      if (logs.some((other) => bytesEqual(other.publicKey, log.publicKey))) {
        throw malformed(number, "the same log key is listed twice");
      }
      logs.push(log);
    } else if (keyword === "witness") {
      if (args.length !== 2 && args.length !== 3) throw malformed(number, "want 'witness <name> <vkey> [<url>]'");
      const name = args[0];
      if (name === "none" || defined(name)) throw malformed(number, `the name '${name}' is reserved or already defined`);
      const key = await keyOr(number, `witness ${name}`, () => CosignatureVerifier.fromVkey(args[1]));
      if ([...witnesses.values()].some((w) => bytesEqual(w.key.publicKey, key.publicKey))) {
        throw malformed(number, `witness ${name}: the same witness key is listed twice`);
      }
      witnesses.set(name, { name, key, url: args.length === 3 ? args[2] : null });
    } else if (keyword === "group") {
      if (args.length < 3) throw malformed(number, "want 'group <name> <k|any|all> <member>...'");
      const [name, rule, ...members] = args;
      if (name === "none" || defined(name)) throw malformed(number, `the name '${name}' is reserved or already defined`);
      for (const member of members) {
        if (!defined(member)) throw malformed(number, `group ${name}: '${member}' is not defined on an earlier line`);
      }
      if (new Set(members).size !== members.length) throw malformed(number, `group ${name}: a member is listed twice`);
      let k;
      if (rule === "any") k = 1;
      else if (rule === "all") k = members.length;
      else if (DECIMAL.test(rule) && Number(rule) <= members.length) k = Number(rule);
      else throw malformed(number, `group ${name}: threshold '${rule}' is not any, all or 1..n`);
      groups.set(name, { name, threshold: k, members });
    } else if (keyword === "quorum") {
      if (args.length !== 1) throw malformed(number, "want 'quorum <name|none>'");
      if (quorumSeen) throw malformed(number, "a second quorum line");
      quorumSeen = true;
      if (args[0] !== "none" && !defined(args[0])) {
        throw malformed(number, `quorum '${args[0]}' is not defined on an earlier line`);
      }
      quorum = args[0] === "none" ? null : args[0];
    } else {
      throw malformed(number, `unknown keyword '${keyword.slice(0, 40)}'`);
    }
    if (Math.max(logs.length, witnesses.size, groups.size) > MAX_ITEMS) {
      throw malformed(number, `more than ${MAX_ITEMS} logs, witnesses or groups`);
    }
  }
  if (!quorumSeen) throw new TlogError("MalformedPolicy", "policy has no quorum line");
  return { logs, witnesses: [...witnesses.values()], groups, quorum };
}

/**
 * Whether the witnesses named `cosigned` (policy names) meet the policy's quorum.
 * @param {Policy} policy
 * @param {Set<string>} cosigned
 * @returns {boolean}
 */
export function quorumMet(policy, cosigned) {
  if (policy.quorum === null) return true;
  const met = (/** @type {string} */ name) => {
    const group = policy.groups.get(name);
    if (group === undefined) return cosigned.has(name);
    return group.members.filter(met).length >= group.threshold;
  };
  return met(policy.quorum);
}

/**
 * Apply `policy` to a signed checkpoint note: a policy log key (or one of `extraLogs`) named after
 * the checkpoint's origin must have signed it, and the valid cosignatures of the policy's
 * witnesses must meet the quorum. Returns the checkpoint, the log key and the cosigning witnesses
 * by policy name; throws the note and checkpoint errors, or TlogError "QuorumNotMet".
 * @param {string | Uint8Array} note
 * @param {Policy} policy
 * @param {{ extraLogs?: Verifier[], origin?: string | null }} [options]
 */
export async function checkCheckpoint(note, policy, { extraLogs = [], origin = null } = {}) {
  const logs = [...policy.logs, ...extraLogs];
  const signed = await openCheckpoint(note, logs, origin);
  const first = signed.note.verified[0];
  const log = /** @type {Verifier} */ (logs.find((v) => v.name === first.name && v.keyId === first.keyId));
  const checkpoint = signed.checkpoint;
  if (log.name !== checkpoint.origin) {
    throw new TlogError(
      "MalformedCheckpoint",
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the name of the log key ${JSON.stringify(log.name)} that signed it`,
    );
  }
  const byKey = new Map(policy.witnesses.map((w) => [`${w.key.name}+${w.key.keyId}`, w.name]));
  /** @type {Map<string, import("./cosignature.js").Cosignature>} */
  const cosigned = new Map();
  for (const c of await cosignaturesOf(note, policy.witnesses.map((w) => w.key))) {
    cosigned.set(/** @type {string} */ (byKey.get(`${c.name}+${c.keyId}`)), c);
  }
  if (!quorumMet(policy, new Set(cosigned.keys()))) {
    const named = [...cosigned.keys()].sort().join(", ") || "none";
    throw new TlogError(
      "QuorumNotMet",
      `checkpoint of ${checkpoint.origin} at size ${checkpoint.size}: the witness quorum '${policy.quorum}' is not met (cosigned by: ${named})`,
    );
  }
  return { checkpoint, log, cosigned, quorum: policy.quorum };
}

/**
 * @template T
 * @param {number} number
 * @param {string} what
 * @param {() => Promise<T>} make
 * @returns {Promise<T>}
 */
async function keyOr(number, what, make) {
  try {
    return await make();
  } catch (error) {
    if (error instanceof TlogError) throw malformed(number, `${what}: ${error.message}`);
    throw error;
  }
}

/**
 * @param {number} number
 * @param {string} why
 * @returns {TlogError}
 */
function malformed(number, why) {
  return new TlogError("MalformedPolicy", `policy line ${number}: ${why}`);
}
