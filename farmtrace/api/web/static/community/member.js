/**
 * A member's own view on a community's page: the browser wallet's statement, downloaded and
 * verified on this device.
 *
 * Reads `section#member` rendered by farmtrace/api/services/community_page/render.py (its
 * docstring holds the contract): takes the current wallet (wallet/keys.js `currentWallet`),
 * fetches `/v1/communities/{id}/members/{address}/statement`, verifies it with
 * page/community_bundle.js (checkpoint, blocks, inclusion, and the community replay of
 * verify/community.js: every mint and distribution recomputed from the rules, every transfer's
 * holder signature, supply = sum of balances), and shows the balance, how each token was earned,
 * the member's part of each distribution, and what was checked or the first failure, worded as
 * `farmtrace verify` words it. Every word comes from the page (already in its language) or from
 * the verifier; all of it is inserted with textContent, never as HTML.
 *
 * @module
 */

import { verifyStatementBundle } from "../page/community_bundle.js";
import { fingerprint, fromHex } from "../verify/commerce.js";
import { currentWallet } from "../wallet/keys.js";

/**
 * @typedef {import("../page/community_bundle.js").StatementReport} StatementReport
 * @typedef {import("../page/community_bundle.js").HistoryLine} HistoryLine
 * @typedef {{ name: string, address: string }} WalletLike
 * @typedef {{ currency: string, digits: number, symbol: string }} Units
 * @typedef {Record<string, string>} Words
 */

/**
 * Fill `{name}` placeholders of a template from `values`.
 * @param {string} template @param {Record<string, string | number>} values
 */
export function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** @param {bigint} n */
function grouped(n) {
  return n.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Whole tokens with thousands separators: `25,000`; a sign when asked: `+25,000`, `-1,000`.
 * @param {number | bigint} value @param {boolean} [signed]
 */
export function formatTokens(value, signed = false) {
  const n = BigInt(value);
  const sign = n < 0n ? "-" : signed ? "+" : "";
  return sign + grouped(n < 0n ? -n : n);
}

/**
 * Money from integer minor units: `1,000.00 CNY` (no floating point).
 * @param {number | bigint} minor @param {string} currency @param {number} digits
 */
export function formatMoney(minor, currency, digits) {
  const n = BigInt(minor);
  const abs = n < 0n ? -n : n;
  const unit = 10n ** BigInt(digits);
  const whole = grouped(abs / unit);
  const frac = digits > 0 ? `.${(abs % unit).toString().padStart(digits, "0")}` : "";
  return `${n < 0n ? "-" : ""}${whole}${frac}\u00a0${currency}`;
}

/**
 * `balance / supply` as a percentage with up to four decimals, exactly rounded.
 * @param {number} balance @param {number} supply
 */
export function percent(balance, supply) {
  if (supply <= 0) return "0";
  const scaled = (BigInt(balance) * 1_000_000n * 2n + BigInt(supply)) / (BigInt(supply) * 2n); // round half up
  const whole = scaled / 10_000n;
  const frac = (scaled % 10_000n).toString().padStart(4, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/** A time in ms as `2027-01-15 14:00 UTC` (the page's times are UTC). @param {number} ms */
export function utcTime(ms) {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/**
 * What one change of the member's balance came from, in the page's words.
 * @param {HistoryLine} line @param {Words} words @param {Units} units
 * @returns {Promise<string>}
 */
export async function lineText(line, words, units) {
  const d = line.detail;
  const cash = (/** @type {number} */ v) => formatMoney(v, units.currency, units.digits);
  if (line.op === "rules") return fill(words.line_rules, { version: d.version });
  if (line.op === "deposit") return fill(words.line_deposit, { amount: cash(d.amount) });
  if (line.op === "service") {
    return "cost" in d
      ? fill(words.line_service_cost, { revenue: cash(d.revenue), cost: cash(d.cost) })
      : fill(words.line_service, { revenue: cash(d.revenue) });
  }
  if (line.op === "work") return fill(words.line_work, { minutes: d.minutes });
  if (line.op === "pledge") return fill(words.line_pledge, { amount: cash(d.amount), campaign: d.campaign });
  if (line.op === "transfer") {
    const other = line.delta < 0 ? d.to : d.from;
    const who = await fingerprint(fromHex(other));
    return fill(line.delta < 0 ? words.line_sent : words.line_received, { who });
  }
  if (line.op === "distribution") return fill(words.line_reinvest, { surplus: cash(d.surplus), n: d.distribution });
  return line.op;
}

/** @param {HTMLElement} root @returns {Words} */
function wordsOf(root) {
  /** @type {Words} */
  const words = {};
  for (const el of root.querySelectorAll(".words [data-word]")) {
    words[/** @type {string} */ (/** @type {HTMLElement} */ (el).dataset.word)] = el.textContent ?? "";
  }
  return words;
}

/** @param {HTMLElement} root @param {string} state */
function setState(root, state) {
  root.dataset.state = state;
  for (const p of root.querySelectorAll("[data-for]")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.for !== state;
  }
  for (const p of root.querySelectorAll("[data-for-state]")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.forState !== state;
  }
}

/** @param {HTMLElement} root @param {string} selector */
const el = (root, selector) => /** @type {HTMLElement} */ (root.querySelector(selector));

/** @param {string} tag @param {string} text @param {string} [cls] */
function node(tag, text, cls) {
  const made = document.createElement(tag);
  made.textContent = text;
  if (cls) made.className = cls;
  return made;
}

/** @param {HTMLElement} root @param {string} message */
function showFailure(root, message) {
  const list = el(root, "ul.failures");
  list.replaceChildren(node("li", message));
  list.hidden = false;
  root.dataset.firstFailure = message;
}

/**
 * Compare what the page shows with what the statement verified, when both hold the same
 * entries: the first figure that differs, worded as a failure, or null. The page and the
 * statement are two downloads; a statement of other entries is not compared (`null`, and the
 * caller says so).
 * @param {{ entries: number, supply: number, holders: number }} page
 * @param {import("../page/community_bundle.js").StatementSummary} verified
 * @returns {string | null}
 */
export function pageMismatch(page, verified) {
  if (page.entries !== verified.entries) return null;
  if (page.supply !== verified.supply) {
    return `page: shows supply ${page.supply}, but entries 1..${verified.entries} verified give ${verified.supply}`;
  }
  if (page.holders !== verified.holders) {
    return `page: shows ${page.holders} members holding tokens, but entries 1..${verified.entries} verified give ${verified.holders}`;
  }
  return null;
}

/** @param {HTMLElement} root @param {string} name @param {"ok" | "failed" | "skipped"} result */
function markCheck(root, name, result) {
  const li = root.querySelector(`li[data-check="${name}"]`);
  if (li === null) return;
  /** @type {HTMLElement} */ (li).dataset.result = result;
  el(/** @type {HTMLElement} */ (li), ".result").textContent = result === "ok" ? "✓" : result === "failed" ? "✕" : "–";
}

/**
 * Show a verified (or failed) statement report for `wallet`.
 * @param {HTMLElement} root @param {StatementReport} report @param {WalletLike} wallet
 * @param {string} url the statement's address
 */
export async function showReport(root, report, wallet, url) {
  const words = wordsOf(root);
  const units = {
    currency: root.dataset.currency ?? "", digits: Number(root.dataset.digits ?? "2"), symbol: root.dataset.symbol ?? "",
  };
  for (const li of root.querySelectorAll("li[data-check]")) {
    const name = /** @type {keyof StatementReport["checks"]} */ (/** @type {HTMLElement} */ (li).dataset.check);
    markCheck(root, name, report.checks[name] ?? "skipped");
  }
  el(root, "ol.lines").replaceChildren(...report.lines.map((line) => node("li", line)));
  const download = /** @type {HTMLAnchorElement} */ (el(root, "a.download"));
  download.href = url;
  el(root, "p.download").hidden = false;
  if (!report.ok || report.summary === null) {
    showFailure(root, report.failures[0]?.message ?? "");
    setState(root, "failed");
    return;
  }
  const s = report.summary;
  const page = {
    entries: Number(root.dataset.pageEntries), supply: Number(root.dataset.pageSupply),
    holders: Number(root.dataset.pageHolders),
  };
  const mismatch = pageMismatch(page, s);
  if (mismatch !== null) {
    markCheck(root, "page", "failed");
    showFailure(root, mismatch);
    setState(root, "failed");
    return;
  }
  markCheck(root, "page", page.entries === s.entries ? "ok" : "skipped");
  units.symbol = s.symbol;
  units.currency = s.currency;
  const figures = el(root, "dl.figures");
  el(figures, ".wallet").textContent = fill(words.wallet_value, { name: wallet.name, fingerprint: s.fingerprint });
  el(figures, ".balance").textContent = fill(words.balance_value, { balance: formatTokens(s.balance), symbol: s.symbol });
  el(figures, ".share").textContent = fill(words.share_value, {
    percent: percent(s.balance, s.supply), supply: formatTokens(s.supply), symbol: s.symbol,
  });
  el(figures, ".counts").textContent = fill(words.counts_value, {
    entries: s.entries, anchored: s.anchored, pending: s.pending, version: s.version,
  }) + (page.entries === s.entries ? "" : `; ${fill(words.page_newer, { page: page.entries, entries: s.entries })}`);
  figures.hidden = false;
  const earned = [];
  for (const line of s.history) {
    const li = document.createElement("li");
    li.dataset.n = String(line.n);
    li.dataset.op = line.op;
    li.dataset.delta = String(line.delta);
    li.dataset.sign = line.delta < 0 ? "minus" : "plus";
    li.append(
      node("span", await lineText(line, words, units), "what"),
      node("span", `${formatTokens(line.delta, true)} ${s.symbol}`, "delta"),
      node("span", fill(words.line_entry, { n: line.n, date: utcTime(line.time_ms) }), "when"),
    );
    earned.push(li);
  }
  el(root, "ol.earned").replaceChildren(...earned);
  el(root, ".earned-box").hidden = false;
  const parts = s.distributions.map((d) => {
    const text = d.kind === "dividend"
      ? fill(words.part_dividend, {
        n: d.n, part: formatMoney(d.part, s.currency, units.digits), total: formatMoney(d.total, s.currency, units.digits),
      })
      : fill(words.part_reinvest, { n: d.n, part: formatTokens(d.part), total: formatTokens(d.total), symbol: s.symbol });
    const li = node("li", text);
    li.dataset.n = String(d.n);
    li.dataset.part = String(d.part);
    li.dataset.kind = d.kind;
    return li;
  });
  el(root, "ul.parts").replaceChildren(...parts);
  el(root, ".parts-box .none").hidden = parts.length > 0;
  el(root, ".parts-box").hidden = false;
  el(root, "ul.failures").hidden = true;
  setState(root, report.state);
}

/**
 * Run the member view: the current wallet's statement, fetched and verified.
 * @param {HTMLElement} root
 * @param {{ wallet?: () => Promise<WalletLike | null>, fetcher?: typeof fetch }} [deps]
 */
export async function runMemberView(root, { wallet = currentWallet, fetcher = globalThis.fetch } = {}) {
  let found;
  try {
    found = await wallet();
  } catch (error) {
    setState(root, "unavailable");
    showFailure(root, /** @type {Error} */ (error).message);
    return;
  }
  if (found === null) {
    setState(root, "nowallet");
    return;
  }
  setState(root, "loading");
  const url = (root.dataset.statementUrl ?? "").replace("{address}", found.address);
  let text;
  try {
    const answer = await fetcher(url, { headers: { Accept: "application/json" } });
    if (answer.status === 404) {
      setState(root, "notmember");
      return;
    }
    text = await answer.text();
    if (!answer.ok) throw new Error(`${answer.status}: ${text.slice(0, 300)}`);
  } catch (error) {
    setState(root, "unavailable");
    showFailure(root, /** @type {Error} */ (error).message);
    return;
  }
  const keys = [root.dataset.verifierKey ?? "", ...(root.dataset.retiredKeys ?? "").split(" ")].filter((k) => k);
  let report;
  try {
    report = await verifyStatementBundle(text, keys);
  } catch (error) {
    // Only a browser without WebCrypto's Ed25519 or SHA-256 gets here: bad data is a report.
    setState(root, "unavailable");
    showFailure(root, /** @type {Error} */ (error).message);
    return;
  }
  await showReport(root, report, found, url);
}

if (typeof document !== "undefined") {
  const root = document.getElementById("member");
  if (root !== null) runMemberView(root);
}
