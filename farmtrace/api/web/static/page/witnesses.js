/**
 * The page's witness panel: which witnesses cosigned the bundle's checkpoint, whether the
 * operator's C2SP tlog-policy quorum is met (checked here, with policy.js), and how stale each
 * witness is (its largest cosigned size and time, from `/v1/chains/{origin}/witnesses`).
 *
 * `witnessSummary` is the pure part (tested under node); `showWitnesses` fetches and renders
 * into `#proof`. A chain without a policy lists the witnesses' staleness only.
 *
 * @module
 */

import { TlogError } from "../verify/errors.js";
import { CosignatureVerifier, cosignaturesOf } from "../verify/cosignature.js";
import { Verifier } from "../verify/note.js";
import { checkCheckpoint, parsePolicy } from "../verify/policy.js";

/**
 * @typedef {{ name: string, vkey: string, cosigned_size: number, cosigned_at: number,
 *   blocks_behind: number, age_s: number }} WitnessState
 * @typedef {{ origin: string, size: number, witnesses: WitnessState[], policy: string | null }} WitnessStatus
 * @typedef {{ name: string, cosigned: boolean, at: string | null, state: WitnessState | null }} WitnessLine
 * @typedef {{ origin: string, quorum: string | null, met: boolean | null, problem: string | null,
 *   witnesses: WitnessLine[] }} WitnessSummary
 */

/**
 * What the panel says about one chain.
 * @param {string} checkpoint the bundle's checkpoint note (cosignatures appended)
 * @param {WitnessStatus} status as served by the API
 * @param {string[]} trustedKeys the gateway's verifier keys the page was given
 * @returns {Promise<WitnessSummary>}
 */
export async function witnessSummary(checkpoint, status, trustedKeys) {
  const byKey = new Map(status.witnesses.map((w) => [w.vkey, w]));
  if (status.policy === null) {
    // No policy: the witnesses the API names, each checked against the checkpoint (for show,
    // since their keys come from the same server).
    const keys = await Promise.all(status.witnesses.map((w) => CosignatureVerifier.fromVkey(w.vkey)));
    /** @type {Map<string, bigint>} */ const at = new Map();
    try {
      for (const c of await cosignaturesOf(checkpoint, keys)) at.set(c.name, c.timestamp);
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
    }
    return {
      origin: status.origin,
      quorum: null,
      met: null,
      problem: null,
      witnesses: status.witnesses.map((w) => {
        const t = at.get(w.name);
        return { name: w.name, cosigned: t !== undefined, at: t === undefined ? null : iso(t), state: w };
      }),
    };
  }
  const policy = await parsePolicy(status.policy);
  const extraLogs = await Promise.all(trustedKeys.map((k) => Verifier.fromVkey(k)));
  const nameOf = new Map(policy.witnesses.map((w) => [`${w.key.name}+${w.key.keyId}`, w.name]));
  /** @type {Map<string, bigint>} */
  const cosigned = new Map();
  let met = true;
  let problem = null;
  try {
    await checkCheckpoint(checkpoint, policy, { extraLogs, origin: status.origin });
  } catch (error) {
    if (!(error instanceof TlogError)) throw error;
    met = false;
    problem = error.message;
  }
  try {
    for (const c of await cosignaturesOf(checkpoint, policy.witnesses.map((w) => w.key))) {
      cosigned.set(/** @type {string} */ (nameOf.get(`${c.name}+${c.keyId}`)), c.timestamp);
    }
  } catch (error) {
    if (!(error instanceof TlogError)) throw error;
  }
  return {
    origin: status.origin,
    quorum: policy.quorum,
    met,
    problem,
    witnesses: policy.witnesses.map((w) => {
      const at = cosigned.get(w.name);
      return {
        name: w.name,
        cosigned: at !== undefined,
        at: at === undefined ? null : iso(at),
        state: byKey.get(w.key.vkey) ?? null,
      };
    }),
  };
}

/**
 * @param {bigint} timestamp
 * @returns {string}
 */
function iso(timestamp) {
  return new Date(Number(timestamp) * 1000).toISOString();
}

/**
 * @param {number} seconds
 * @returns {string}
 */
function ago(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 172800) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}

/**
 * Fetch each chain's witness status and render the panel into `root` (#proof).
 * @param {HTMLElement} root
 * @param {string} bundleText
 * @param {string[]} trustedKeys
 */
export async function showWitnesses(root, bundleText, trustedKeys) {
  const bundle = JSON.parse(bundleText);
  const base = new URL(root.dataset.bundleUrl ?? "/", location.href);
  const panel = document.createElement("div");
  panel.className = "witnesses";
  for (const chain of bundle.chains ?? []) {
    const path = String(chain.origin).split("/").map(encodeURIComponent).join("/");
    const response = await fetch(new URL(`/v1/chains/${path}/witnesses`, base), { cache: "no-store" });
    if (!response.ok) continue;
    const summary = await witnessSummary(chain.checkpoint, await response.json(), trustedKeys);
    const heading = document.createElement("p");
    heading.className = "witness-quorum";
    heading.dataset.met = String(summary.met);
    heading.textContent =
      summary.met === null
        ? `Witnesses of ${summary.origin} (no witness policy published):`
        : summary.met
          ? `Witness quorum ${summary.quorum ?? "none"} met for ${summary.origin}:`
          : `Witness quorum ${summary.quorum} NOT met for ${summary.origin}: ${summary.problem}`;
    const list = document.createElement("ul");
    for (const w of summary.witnesses) {
      const item = document.createElement("li");
      item.dataset.witness = w.name;
      item.dataset.cosigned = String(w.cosigned);
      const state = w.state
        ? `; latest cosigned size ${w.state.cosigned_size} (${w.state.blocks_behind} blocks behind), ${ago(w.state.age_s)}`
        : "; has cosigned nothing yet";
      item.textContent = `${w.cosigned ? "✓" : "✗"} ${w.name}${w.cosigned ? ` cosigned this checkpoint at ${w.at}` : ""}${state}`;
      list.append(item);
    }
    panel.append(heading, list);
  }
  root.append(panel);
}
