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

/** Words of the panel in the page's languages (`<html lang>`: en, zh-Hans). */
const WORDS = {
  en: {
    none: (/** @type {string} */ o) => `Witnesses of ${o} (no witness policy published):`,
    met: (/** @type {string} */ o, /** @type {string} */ q) => `Witness quorum ${q} met for ${o}:`,
    notMet: (/** @type {string} */ o, /** @type {string} */ q, /** @type {string} */ p) => `Witness quorum ${q} NOT met for ${o}: ${p}`,
    cosignedAt: (/** @type {string} */ at) => ` cosigned this checkpoint at ${at}`,
    state: (/** @type {number} */ size, /** @type {number} */ behind, /** @type {string} */ ago) =>
      `; latest cosigned size ${size} (${behind} blocks behind), ${ago}`,
    nothing: "; has cosigned nothing yet",
    ago: (/** @type {number} */ s) =>
      s < 120 ? `${Math.round(s)} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago`
        : s < 172800 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`,
  },
  zh: {
    none: (/** @type {string} */ o) => `${o} 的见证方（未发布见证策略）：`,
    met: (/** @type {string} */ o, /** @type {string} */ q) => `${o} 的见证法定数 ${q} 已满足：`,
    notMet: (/** @type {string} */ o, /** @type {string} */ q, /** @type {string} */ p) => `${o} 的见证法定数 ${q} 未满足：${p}`,
    cosignedAt: (/** @type {string} */ at) => ` 已于 ${at} 联署此检查点`,
    state: (/** @type {number} */ size, /** @type {number} */ behind, /** @type {string} */ ago) =>
      `；最新联署大小 ${size}（落后 ${behind} 个区块），${ago}`,
    nothing: "；尚未联署任何检查点",
    ago: (/** @type {number} */ s) =>
      s < 120 ? `${Math.round(s)} 秒前` : s < 7200 ? `${Math.round(s / 60)} 分钟前`
        : s < 172800 ? `${Math.round(s / 3600)} 小时前` : `${Math.round(s / 86400)} 天前`,
  },
};

/**
 * The panel's text for one chain: a heading and one line per witness, in `lang` (a BCP 47 tag;
 * `zh…` gives Chinese, anything else English). `null` when there is nothing to say: no policy
 * published and no witness configured (a chain nobody witnesses shows no empty list).
 * @param {WitnessSummary} summary
 * @param {string} lang
 * @returns {{ heading: string, lines: string[] } | null}
 */
export function witnessText(summary, lang) {
  if (summary.met === null && summary.witnesses.length === 0) return null;
  const w = lang.toLowerCase().startsWith("zh") ? WORDS.zh : WORDS.en;
  const heading =
    summary.met === null
      ? w.none(summary.origin)
      : summary.met
        ? w.met(summary.origin, summary.quorum ?? "none")
        : w.notMet(summary.origin, summary.quorum ?? "none", summary.problem ?? "");
  const lines = summary.witnesses.map((x) => {
    const state = x.state ? w.state(x.state.cosigned_size, x.state.blocks_behind, w.ago(x.state.age_s)) : w.nothing;
    return `${x.cosigned ? "✓" : "✗"} ${x.name}${x.cosigned ? w.cosignedAt(/** @type {string} */ (x.at)) : ""}${state}`;
  });
  return { heading, lines };
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
    const text = witnessText(summary, document.documentElement.lang || "en");
    if (text === null) continue;
    const heading = document.createElement("p");
    heading.className = "witness-quorum";
    heading.dataset.met = String(summary.met);
    heading.textContent = text.heading;
    const list = document.createElement("ul");
    summary.witnesses.forEach((w, i) => {
      const item = document.createElement("li");
      item.dataset.witness = w.name;
      item.dataset.cosigned = String(w.cosigned);
      item.textContent = text.lines[i];
      list.append(item);
    });
    panel.append(heading, list);
  }
  if (panel.childElementCount > 0) root.append(panel);
}
