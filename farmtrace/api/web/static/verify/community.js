/**
 * Value communities (docs/community.md) in the browser, rule for rule as the Python reference
 * farmtrace/commerce/community/ (rules.py, mint.py, entries.py, replay.py): the rules document
 * (`farmtrace-community-rules/v1`), the exact mint computations and the largest-remainder
 * rounding of distributions (BigInt: no floating point anywhere), strict decoding of community
 * entries (`FV 01`) and members' transfer statements (`FW 01`), and CommunityReplay, which
 * recomputes every mint and distribution from the rules and inputs, checks that the supply is the
 * sum of the balances and that every transfer is signed by its holder, and names the first
 * violation.
 *
 * Everything shared with the campaign verifier comes from verify/commerce.js (canonical JSON,
 * Python-compatible JSON parsing and repr, the operator-entry framing, addresses, currencies,
 * fingerprints, Violation); SHA-256 from verify/bytes.js; base64 from verify/base64.js.
 *
 * Error contract: decoders and validators throw CommerceError whose message is the reference's
 * (same wording, so a cross test compares them); the replay throws Violation, `<item>: <reason>`
 * as the reference words it. TypeError only for arguments of the wrong type. Signatures are
 * checked with the function the caller gives, `verify(publicKey, signature, message)`
 * (page/entries.js `verifyEd25519` in the pages).
 *
 * @module
 */

import { decodeBase64 } from "./base64.js";
import { bytesEqual, sha256, toHex } from "./bytes.js";
import {
  CommerceError,
  MAX_INT,
  ONLY_SPACE,
  Violation,
  byCodePoint,
  canonicalJson,
  checkValue,
  fingerprint,
  frame,
  frameChecks,
  fromHex,
  hex,
  isObject,
  keysOf,
  need,
  parseAddress,
  pyRepr,
  stateOf,
  unframe,
  unknownKeys,
  validateCurrency,
  validateGcn,
} from "./commerce.js";

export { Violation } from "./commerce.js";

export const RULES_FORMAT = "farmtrace-community-rules/v1";
export const COMMUNITY_ENTRY_PREFIX = Object.freeze([0x46, 0x56, 0x01]);
export const TRANSFER_PREFIX = Object.freeze([0x46, 0x57, 0x01]);
export const GENESIS = "0".repeat(64);
export const MINT_KINDS = Object.freeze(["deposit", "service", "work", "pledge"]);
export const SURPLUS_KINDS = Object.freeze(["dividend", "reinvest"]);
export const MAX_MONEY = 10 ** 12;
export const MAX_PRICE_PART = 10 ** 15;
export const MAX_MEMBERS = 1000;
export const MAX_MINUTES = 100_000;
export const MAX_BODY = 262144;
const MAX_SHARE_DEN = 10 ** 6;
const MAX_TOKENS_PER_HOUR = 10 ** 9;
const MAX_TEXT = 4000;
const COMMUNITY_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SYMBOL = /^[A-Z0-9]{1,12}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const RULES_KEYS = [
  "format", "community", "version", "operator", "token", "currency", "price", "margin",
  "initial", "mint", "surplus", "text",
];
const BIG_MAX = BigInt(MAX_INT);

/** @param {object} obj @param {string} key @returns {any} Python's `obj.get(key)` */
const got = (obj, key) => (Object.hasOwn(obj, key) ? /** @type {any} */ (obj)[key] : undefined);

// -- identifiers and addresses (rules.py) --------------------------------------------------------

/**
 * `value` if it is a community ID (1-64 of A-Z a-z 0-9 . _ : -); else CommerceError.
 * @param {unknown} value @param {string} [where] @returns {string}
 */
export function validateCommunityId(value, where = "community") {
  if (typeof value !== "string" || !COMMUNITY_ID.test(value)) {
    throw new CommerceError(`${where}: ${pyRepr(value)} is not a community ID (1-64 of A-Z a-z 0-9 . _ : -)`);
  }
  return value;
}

/**
 * A member or operator address (64 lowercase hex digits of a usable Ed25519 public key).
 * @param {unknown} value @param {string} where @returns {string}
 */
export function validateAddress(value, where) {
  parseAddress(value, where);
  return /** @type {string} */ (value);
}

/** `community.<community ID>`: the frame's signer of a community's entries. @param {string} community */
export const communitySigner = (community) => `community.${community}`;

/** `member.<fingerprint>`: the frame's signer of a member's statements. @param {string} address */
export async function memberSigner(address) {
  return `member.${await fingerprint(fromHex(address))}`;
}

// -- the rules document (rules.py) ---------------------------------------------------------------

/**
 * @typedef {{ num: number, den: number }} Share
 * @typedef {{ kind: string, share: Share | null, tokensPerHour: number | null,
 *   moneyPerHour: number | null }} MintRule
 * @typedef {{ community: string, version: number, operator: string, tokenName: string,
 *   tokenSymbol: string, currency: string, price: { amount: number, tokens: number },
 *   marginCost: number, marginRevenue: number, initialSupply: number | null,
 *   allocation: Map<string, number>, mint: Record<string, MintRule>, surplus: string,
 *   textZh: string, textEn: string, document: Record<string, any> }} CommunityRules
 */

/**
 * @param {unknown} value @param {string[]} keys @param {string} where
 * @returns {Record<string, any>}
 */
function exact(value, keys, where) {
  if (!isObject(value)) throw new CommerceError(`${where}: expected an object`);
  const have = new Set(keysOf(value));
  const missing = keys.filter((k) => !have.has(k)).sort(byCodePoint);
  if (missing.length) throw new CommerceError(`${where}: field ${pyRepr(missing[0])} missing`);
  const extra = unknownKeys(value, keys);
  if (extra.length) throw new CommerceError(`${where}: unknown field ${pyRepr(extra[0])}`);
  return value;
}

/** @param {unknown} value @param {string} where @param {number} low @param {number} high @returns {number} */
function int(value, where, low, high) {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new CommerceError(`${where}: expected an integer`);
  if (value < low) {
    if (value < 0 && 0 <= low) throw new CommerceError(`${where}: ${value} is negative`);
    throw new CommerceError(`${where}: ${value} is below ${low}`);
  }
  if (value > high) throw new CommerceError(`${where}: ${value} is above ${high}`);
  return value;
}

/** @param {unknown} value @param {string} where @param {number} longest @returns {string} */
function text(value, where, longest) {
  if (typeof value !== "string" || ONLY_SPACE.test(value)) throw new CommerceError(`${where}: expected non-empty text`);
  if ([...value].length > longest) throw new CommerceError(`${where}: longer than ${longest} characters`);
  return value;
}

/** @param {unknown} value @param {string} where @returns {Share} */
function share(value, where) {
  const raw = exact(value, ["num", "den"], where);
  const den = int(raw.den, `${where}.den`, 1, MAX_SHARE_DEN);
  const num = int(raw.num, `${where}.num`, 0, MAX_SHARE_DEN);
  if (num > den) throw new CommerceError(`${where}: ${num}/${den} is more than one`);
  return { num, den };
}

/** @param {string} kind @param {unknown} value @param {string} where @returns {MintRule} */
function mintRule(kind, value, where) {
  if (kind === "deposit" || kind === "service" || kind === "pledge") {
    const raw = exact(value, ["share"], where);
    return { kind, share: share(raw.share, `${where}.share`), tokensPerHour: null, moneyPerHour: null };
  }
  if (!isObject(value)) throw new CommerceError(`${where}: expected an object`);
  const keys = keysOf(value);
  if (keys.length === 1 && keys[0] === "tokens_per_hour") {
    const rate = int(value.tokens_per_hour, `${where}.tokens_per_hour`, 1, MAX_TOKENS_PER_HOUR);
    return { kind, share: null, tokensPerHour: rate, moneyPerHour: null };
  }
  if (keys.length === 1 && keys[0] === "money_per_hour") {
    const rate = int(value.money_per_hour, `${where}.money_per_hour`, 1, MAX_MONEY);
    return { kind, share: null, tokensPerHour: null, moneyPerHour: rate };
  }
  throw new CommerceError(`${where}: must hold exactly one of tokens_per_hour or money_per_hour`);
}

/**
 * Validate a rules document (docs/community.md, section 1); CommerceError naming the first flaw,
 * in the reference's order and words.
 * @param {unknown} value
 * @returns {CommunityRules}
 */
export function parseRules(value) {
  checkValue(value, "rules");
  if (!isObject(value)) throw new CommerceError("rules: expected an object");
  const extra = unknownKeys(value, RULES_KEYS);
  if (extra.length) throw new CommerceError(`rules: unknown field ${pyRepr(extra[0])}`);
  if (got(value, "format") !== RULES_FORMAT) throw new CommerceError(`rules: format must be '${RULES_FORMAT}'`);
  const community = validateCommunityId(got(value, "community"), "rules: community");
  const version = int(got(value, "version"), "rules: version", 1, MAX_INT);
  const operator = validateAddress(got(value, "operator"), "rules: operator");
  const token = exact(got(value, "token"), ["name", "symbol"], "rules: token");
  const tokenName = text(token.name, "rules: token.name", 64);
  const symbol = token.symbol;
  if (typeof symbol !== "string" || !SYMBOL.test(symbol)) {
    throw new CommerceError(`rules: token.symbol ${pyRepr(symbol)} is not 1-12 of A-Z 0-9`);
  }
  const currency = validateCurrency(got(value, "currency"), "rules: currency");
  const rawPrice = exact(got(value, "price"), ["amount", "tokens"], "rules: price");
  const price = {
    amount: int(rawPrice.amount, "rules: price.amount", 1, MAX_PRICE_PART),
    tokens: int(rawPrice.tokens, "rules: price.tokens", 1, MAX_PRICE_PART),
  };
  const rawMargin = exact(got(value, "margin"), ["cost", "revenue"], "rules: margin");
  const marginRevenue = int(rawMargin.revenue, "rules: margin.revenue", 1, MAX_SHARE_DEN);
  const marginCost = int(rawMargin.cost, "rules: margin.cost", 0, MAX_SHARE_DEN);
  if (marginCost > marginRevenue) {
    throw new CommerceError(`rules: margin cost ${marginCost} is more than its revenue ${marginRevenue}`);
  }
  /** @type {number | null} */
  let initialSupply = null;
  /** @type {Map<string, number>} */
  const allocation = new Map();
  if (version === 1) {
    if (!Object.hasOwn(value, "initial")) {
      throw new CommerceError("rules: version 1 must declare the initial supply and allocation");
    }
    const initial = exact(value.initial, ["supply", "allocation"], "rules: initial");
    initialSupply = int(initial.supply, "rules: initial.supply", 1, MAX_INT);
    const raw = initial.allocation;
    if (!isObject(raw) || !(keysOf(raw).length >= 1 && keysOf(raw).length <= MAX_MEMBERS)) {
      throw new CommerceError(`rules: initial.allocation must name 1 to ${MAX_MEMBERS} members (address -> tokens)`);
    }
    for (const address of keysOf(raw)) {
      const where = `rules: initial.allocation[${[...address].slice(0, 16).join("")}]`;
      validateAddress(address, where);
      allocation.set(address, int(raw[address], where, 1, MAX_INT));
    }
    let total = 0n;
    for (const amount of allocation.values()) total += BigInt(amount);
    if (total !== BigInt(initialSupply)) {
      throw new CommerceError(`rules: initial allocation sums to ${total}, not the declared supply ${initialSupply}`);
    }
  } else if (Object.hasOwn(value, "initial")) {
    throw new CommerceError(`rules: version ${version} may not declare an initial allocation (only version 1)`);
  }
  const rawMint = got(value, "mint");
  if (!isObject(rawMint)) throw new CommerceError("rules: mint must be an object (rule kind -> parameters)");
  /** @type {Record<string, MintRule>} */
  const mint = {};
  for (const kind of [...keysOf(rawMint)].sort(byCodePoint)) {
    if (!MINT_KINDS.includes(kind)) {
      throw new CommerceError(`rules: unknown mint rule kind ${pyRepr(kind)} (known: ${MINT_KINDS.join(", ")})`);
    }
    mint[kind] = mintRule(kind, rawMint[kind], `rules: mint.${kind}`);
  }
  const surplus = got(value, "surplus");
  if (!SURPLUS_KINDS.includes(surplus)) {
    throw new CommerceError(`rules: unknown surplus rule ${pyRepr(surplus)} (known: ${SURPLUS_KINDS.join(", ")})`);
  }
  const words = exact(got(value, "text"), ["zh", "en"], "rules: text");
  return {
    community, version, operator, tokenName, tokenSymbol: symbol, currency, price, marginCost, marginRevenue,
    initialSupply, allocation, mint, surplus,
    textZh: text(words.zh, "rules: text.zh", MAX_TEXT),
    textEn: text(words.en, "rules: text.en", MAX_TEXT),
    document: value,
  };
}

/** Hex SHA-256 of the rules' canonical JSON (`rules_sha256`). @param {CommunityRules} rules */
export async function rulesSha256(rules) {
  return toHex(await sha256(canonicalJson(rules.document)));
}

// -- the computations (mint.py), exact in BigInt ------------------------------------------------

/** @param {unknown} value @param {string} what @param {number} [low] */
function money(value, what, low = 1) {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new CommerceError(`${what}: expected an integer of minor units`);
  if (value < 0) throw new CommerceError(`${what}: ${value} is negative`);
  if (value < low) throw new CommerceError(`${what}: ${value} is below ${low}`);
  if (value > MAX_MONEY) throw new CommerceError(`${what}: ${value} is above ${MAX_MONEY}`);
  return BigInt(value);
}

/** @param {CommunityRules} rules @param {string} kind @returns {MintRule} */
function ruleOf(rules, kind) {
  const rule = Object.hasOwn(rules.mint, kind) ? rules.mint[kind] : undefined;
  if (rule === undefined) throw new CommerceError(`no ${kind} rule in force (version ${rules.version})`);
  return rule;
}

/**
 * Tokens that `num / den` minor units are worth at the reference price, exactly, rounded down
 * once: floor(num × price.tokens ÷ (den × price.amount)); all operands are non-negative BigInts,
 * so BigInt division is the floor.
 * @param {CommunityRules} rules @param {bigint} num @param {bigint} den
 */
function tokensFor(rules, num, den) {
  return (num * BigInt(rules.price.tokens)) / (den * BigInt(rules.price.amount));
}

/** A result as a Number when it is a safe integer (every one that can be valid), else the BigInt. */
/** @param {bigint} n */
const toNumber = (n) => (n <= BIG_MAX ? Number(n) : n);

/**
 * Tokens minted for a deposit: floor(amount × share ÷ price).
 * @param {CommunityRules} rules @param {unknown} amount @returns {number | bigint}
 */
export function depositMint(rules, amount) {
  const rule = ruleOf(rules, "deposit");
  const a = money(amount, "deposit amount");
  const s = /** @type {Share} */ (rule.share);
  return toNumber(tokensFor(rules, a * BigInt(s.num), BigInt(s.den)));
}

/**
 * Tokens minted for a service: floor((revenue − cost) × share ÷ price); with no recorded cost,
 * cost = revenue × margin.cost ÷ margin.revenue, exactly.
 * @param {CommunityRules} rules @param {unknown} revenue @param {unknown} [cost]
 * @returns {number | bigint}
 */
export function serviceMint(rules, revenue, cost = undefined) {
  const rule = ruleOf(rules, "service");
  const r = money(revenue, "service revenue");
  const s = /** @type {Share} */ (rule.share);
  let profitNum;
  let profitDen;
  if (cost === undefined) {
    const mc = BigInt(rules.marginCost);
    const mr = BigInt(rules.marginRevenue);
    profitNum = r * mr - r * mc;
    profitDen = mr;
  } else {
    const c = money(cost, "service cost", 0);
    if (c > r) throw new CommerceError(`service cost ${cost} is more than its revenue ${revenue}`);
    profitNum = r - c;
    profitDen = 1n;
  }
  return toNumber(tokensFor(rules, profitNum * BigInt(s.num), profitDen * BigInt(s.den)));
}

/**
 * Tokens minted for `minutes` of work: per hour in tokens, or in money at the price.
 * @param {CommunityRules} rules @param {unknown} minutes @returns {number | bigint}
 */
export function workMint(rules, minutes) {
  const rule = ruleOf(rules, "work");
  if (typeof minutes !== "number" || !Number.isInteger(minutes)) throw new CommerceError("work minutes: expected an integer");
  if (minutes < 0) throw new CommerceError(`work minutes: ${minutes} is negative`);
  if (!(minutes >= 1 && minutes <= MAX_MINUTES)) throw new CommerceError(`work minutes: ${minutes} is outside 1..${MAX_MINUTES}`);
  const m = BigInt(minutes);
  if (rule.tokensPerHour !== null) return toNumber((m * BigInt(rule.tokensPerHour)) / 60n);
  return toNumber(tokensFor(rules, m * BigInt(/** @type {number} */ (rule.moneyPerHour)), 60n));
}

/**
 * Tokens minted to a backer for a confirmed pledge: floor(amount × share ÷ price).
 * @param {CommunityRules} rules @param {unknown} amount @returns {number | bigint}
 */
export function pledgeMint(rules, amount) {
  const rule = ruleOf(rules, "pledge");
  const a = money(amount, "pledge amount");
  const s = /** @type {Share} */ (rule.share);
  return toNumber(tokensFor(rules, a * BigInt(s.num), BigInt(s.den)));
}

/**
 * The tokens a reinvested surplus buys at the reference price: floor(surplus ÷ price).
 * @param {CommunityRules} rules @param {unknown} surplus @returns {number | bigint}
 */
export function reinvestTokens(rules, surplus) {
  return toNumber(tokensFor(rules, money(surplus, "surplus"), 1n));
}

/**
 * Share `total` among the members with a positive balance, pro rata: each gets
 * floor(total × b ÷ B); the units left over go one each to the largest remainders
 * (total × b) mod B, ties to the lowest address. The parts sum to `total` exactly.
 * @param {number} total
 * @param {Map<string, number>} balances address -> balance (zero balances allowed)
 * @returns {Map<string, number>} every holder's part, in ascending address order
 */
export function proRata(total, balances) {
  if (total < 0) throw new CommerceError(`distribution total ${total} is negative`);
  const holders = [...balances.keys()].filter((a) => /** @type {number} */ (balances.get(a)) > 0).sort();
  let whole = 0n;
  for (const a of holders) whole += BigInt(/** @type {number} */ (balances.get(a)));
  if (whole <= 0n) throw new CommerceError("no member holds tokens, so there is nobody to share with");
  const t = BigInt(total);
  /** @type {Map<string, bigint>} */
  const parts = new Map();
  /** @type {Map<string, bigint>} */
  const remainders = new Map();
  let given = 0n;
  for (const a of holders) {
    const product = t * BigInt(/** @type {number} */ (balances.get(a)));
    parts.set(a, product / whole);
    remainders.set(a, product % whole);
    given += product / whole;
  }
  const left = Number(t - given);
  // Largest remainder first, then the lowest address (a stable sort keeps the address order).
  const order = [...holders].sort((a, b) => {
    const ra = /** @type {bigint} */ (remainders.get(a));
    const rb = /** @type {bigint} */ (remainders.get(b));
    return ra > rb ? -1 : ra < rb ? 1 : 0;
  });
  for (const a of order.slice(0, left)) parts.set(a, /** @type {bigint} */ (parts.get(a)) + 1n);
  return new Map(holders.map((a) => [a, Number(parts.get(a))]));
}

// -- entries (entries.py) ------------------------------------------------------------------------

/**
 * @typedef {{ kind: "community", n: number, timeMs: bigint, signer: string, community: string,
 *   prev: string, op: string, supply: number, body: Record<string, any>, signedBytes: Uint8Array,
 *   signature: Uint8Array, payload: Uint8Array, hash: string }} CommunityEntry
 * @typedef {{ kind: "transfer", move: number, timeMs: bigint, community: string, sender: string,
 *   to: string, amount: number, prev: string, signedBytes: Uint8Array, signature: Uint8Array,
 *   payload: Uint8Array, hash: string }} TransferStatement
 */

const COMMON = ["community", "prev", "op", "supply"];
const MINT = ["version", "member", "minted"];
/** @type {Record<string, [string[], string[]]>} op: [required beyond the common, optional] */
const OP_FIELDS = {
  rules: [["rules", "rules_sha256"], []],
  deposit: [[...MINT, "amount", "payment_sha256"], []],
  service: [[...MINT, "revenue", "ref_sha256"], ["cost"]],
  work: [[...MINT, "minutes", "ref_sha256"], []],
  pledge: [[...MINT, "campaign", "pledge", "issue_sha256", "amount"], []],
  transfer: [["statement"], []],
  distribution: [["version", "period", "surplus", "parts"], ["tokens"]],
};
export const OPS = Object.freeze(Object.keys(OP_FIELDS));
export const MINT_OPS = Object.freeze(["deposit", "service", "work", "pledge"]);

/** @param {unknown} raw @returns {{ op: string, community: string, prev: string, supply: number }} */
function checkBody(raw) {
  let what = "community entry";
  if (!isObject(raw)) throw new CommerceError(`${what}: body is not a JSON object`);
  const body = raw;
  const op = need(body, "op", "string", what);
  if (!Object.hasOwn(OP_FIELDS, op)) throw new CommerceError(`${what}: unknown op ${pyRepr(op)}`);
  const [required, optional] = OP_FIELDS[op];
  what = `community entry (${op})`;
  const extra = unknownKeys(body, [...COMMON, ...required, ...optional]);
  if (extra.length) throw new CommerceError(`${what}: unknown field ${pyRepr(extra[0])}`);
  const missing = [...COMMON, ...required].filter((k) => !Object.hasOwn(body, k)).sort(byCodePoint);
  if (missing.length) throw new CommerceError(`${what}: field ${pyRepr(missing[0])} missing`);
  const community = validateCommunityId(body.community, `${what}: community`);
  const prev = hex(body, "prev", what);
  const supply = need(body, "supply", "int", what);
  for (const key of ["version", "minted", "amount", "revenue", "cost", "minutes", "surplus", "tokens"]) {
    if (Object.hasOwn(body, key)) need(body, key, "int", what);
  }
  if (Object.hasOwn(body, "member")) validateAddress(body.member, `${what}: member`);
  for (const key of ["payment_sha256", "ref_sha256", "issue_sha256", "rules_sha256"]) {
    if (Object.hasOwn(body, key)) hex(body, key, what);
  }
  if (op === "rules") {
    need(body, "rules", "object", what);
  } else if (op === "pledge") {
    validateGcn(body.campaign);
    hex(body, "pledge", what, HEX32);
  } else if (op === "transfer") {
    need(body, "statement", "string", what);
  } else if (op === "distribution") {
    const period = need(body, "period", "object", what);
    const keys = keysOf(period);
    if (!(keys.length === 2 && Object.hasOwn(period, "from_ms") && Object.hasOwn(period, "until_ms"))) {
      throw new CommerceError(`${what}: period must hold exactly from_ms and until_ms`);
    }
    need(period, "from_ms", "int", `${what}: period`);
    need(period, "until_ms", "int", `${what}: period`);
    const parts = need(body, "parts", "array", what);
    for (const [i, item] of parts.entries()) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "string"
        || typeof item[1] !== "number" || !Number.isInteger(item[1])) {
        throw new CommerceError(`${what}: parts[${i}] is not [address, amount]`);
      }
      validateAddress(item[0], `${what}: parts[${i}]`);
    }
  }
  return { op, community, prev, supply };
}

/**
 * Parse a community entry strictly (decode_community_entry's checks, in its order);
 * CommerceError naming the flaw. The signature is the replay's to check.
 * @param {Uint8Array} payload
 * @returns {Promise<CommunityEntry>}
 */
export async function decodeCommunityEntry(payload) {
  const f = unframe(payload, COMMUNITY_ENTRY_PREFIX, "community", "not a community entry (it does not start with FV 01)");
  frameChecks(f.seq, f.timeMs, "community entry");
  checkValue(f.body, "community entry");
  const data = canonicalJson(f.body);
  if (data.length > MAX_BODY) throw new CommerceError(`community entry body is ${data.length} bytes, more than ${MAX_BODY}`);
  if (!bytesEqual(frame(COMMUNITY_ENTRY_PREFIX, f.seq, f.timeMs, f.signer, data), f.signedBytes)) {
    throw new CommerceError("community entry: not in canonical form");
  }
  const { op, community, prev, supply } = checkBody(f.body);
  if (f.signer !== communitySigner(community)) throw new CommerceError("community entry: its signer does not name its community");
  return {
    kind: "community", n: Number(f.seq), timeMs: f.timeMs, signer: f.signer, community, prev, op, supply,
    body: /** @type {Record<string, any>} */ (f.body), signedBytes: f.signedBytes, signature: f.signature,
    payload, hash: await stateOf(payload),
  };
}

/** @param {unknown} raw */
function checkStatement(raw) {
  const what = "transfer statement";
  if (!isObject(raw)) throw new CommerceError(`${what}: body is not a JSON object`);
  const body = raw;
  const extra = unknownKeys(body, ["op", "community", "from", "to", "amount", "prev"]);
  if (extra.length) throw new CommerceError(`${what}: unknown field ${pyRepr(extra[0])}`);
  if (got(body, "op") !== "transfer") throw new CommerceError(`${what}: op must be transfer`);
  const community = validateCommunityId(got(body, "community"), `${what}: community`);
  const sender = validateAddress(got(body, "from"), `${what}: from`);
  const to = validateAddress(got(body, "to"), `${what}: to`);
  const amount = /** @type {number} */ (need(body, "amount", "int", what));
  const prev = hex(body, "prev", what);
  return { community, sender, to, amount, prev };
}

/**
 * Parse a transfer statement strictly (decode_transfer's checks, in its order); the signature is
 * checked against `from` by the replay.
 * @param {Uint8Array} payload
 * @returns {Promise<TransferStatement>}
 */
export async function decodeTransfer(payload) {
  const f = unframe(payload, TRANSFER_PREFIX, "transfer statement", "not a transfer statement (it does not start with FW 01)");
  frameChecks(f.seq, f.timeMs, "transfer statement");
  checkValue(f.body, "transfer statement");
  const { community, sender, to, amount, prev } = checkStatement(f.body);
  if (f.signer !== (await memberSigner(sender))) throw new CommerceError("transfer statement: its signer does not name its sender");
  if (!bytesEqual(frame(TRANSFER_PREFIX, f.seq, f.timeMs, f.signer, canonicalJson(f.body)), f.signedBytes)) {
    throw new CommerceError("transfer statement: not in canonical form");
  }
  return {
    kind: "transfer", move: Number(f.seq), timeMs: f.timeMs, community, sender, to, amount, prev,
    signedBytes: f.signedBytes, signature: f.signature, payload, hash: await stateOf(payload),
  };
}

/**
 * The transfer statement a `transfer` entry carries (strict base64, strict decoding).
 * @param {CommunityEntry} entry
 */
export async function statementOf(entry) {
  const raw = decodeBase64(entry.body.statement);
  if (raw === null) throw new CommerceError("statement: not valid base64");
  return decodeTransfer(raw);
}

// -- the replay (replay.py) ----------------------------------------------------------------------

/**
 * @callback SignatureCheck
 * @param {Uint8Array} publicKey @param {Uint8Array} signature @param {Uint8Array} message
 * @returns {Promise<boolean>}
 *
 * @typedef {{ n: number, timeMs: number, op: string, delta: number, detail: Record<string, any> }} HistoryLine
 * @typedef {{ n: number, timeMs: number, kind: string, version: number, fromMs: number,
 *   untilMs: number, surplus: number, total: number, parts: Map<string, number> }} Distribution
 * @typedef {{ balance: number, spendState: string, moves: number, history: HistoryLine[],
 *   spent: Set<string> }} MemberState
 * @typedef {{ changes: [string, number, Record<string, any>][], minted: number,
 *   rules: CommunityRules | null, spend: TransferStatement | null,
 *   distribution: Distribution | null, pledge: string | null }} Effect
 */

/** @returns {MemberState} */
const freshMember = () => ({ balance: 0, spendState: GENESIS, moves: 0, history: [], spent: new Set() });

/** @returns {Effect} */
const noEffect = () => ({ changes: [], minted: 0, rules: null, spend: null, distribution: null, pledge: null });

/**
 * The reference rules: feed community entries in order (`apply`); every refusal is a Violation
 * naming the entry (`community entry <n> (<op>)`) and the rule it broke, worded as
 * farmtrace/commerce/community/replay.py words it. `apply` is atomic: a refused entry changes
 * nothing.
 */
export class CommunityReplay {
  /**
   * @param {{ operatorKey?: Uint8Array | null, verify: SignatureCheck }} options `operatorKey`:
   *   the version 1 operator key as the verifier knows it (null trusts entry 1's rules);
   *   `verify(key, signature, message)`.
   */
  constructor({ operatorKey = null, verify }) {
    if (typeof verify !== "function") throw new TypeError("verify must be a signature check");
    this.expectedKey = operatorKey;
    this.verify = verify;
    /** @type {string | null} */
    this.community = null;
    this.n = 0;
    this.head = GENESIS;
    this.timeMs = 0n;
    /** @type {CommunityRules | null} */
    this.rules = null;
    /** @type {[number, CommunityRules][]} (entry n, rules) in order */
    this.versions = [];
    this.supply = 0;
    /** @type {Map<string, MemberState>} */
    this.members = new Map();
    /** @type {Distribution[]} */
    this.distributions = [];
    /** @type {[number, number, number][]} (n, time_ms, supply after) */
    this.supplyHistory = [];
    /** @type {Map<string, number>} pledge ID -> the entry that minted on it */
    this.pledges = new Map();
    this.lastUntilMs = 0;
    this.balanceTotal = 0;
  }

  /** A member's state (a fresh empty one for an address never seen). @param {string} address */
  member(address) {
    return this.members.get(address) ?? freshMember();
  }

  /** Every member's balance (zero balances included). */
  balances() {
    return new Map([...this.members].map(([a, m]) => [a, m.balance]));
  }

  /** How many members hold tokens now. */
  get holders() {
    let count = 0;
    for (const m of this.members.values()) if (m.balance > 0) count += 1;
    return count;
  }

  /**
   * What a member's statement shows, in the shape of the reference's `member_view`.
   * @param {string} address
   */
  async memberView(address) {
    const m = this.member(address);
    return {
      member: address,
      fingerprint: await fingerprint(fromHex(address)),
      balance: m.balance,
      spend_state: m.spendState,
      moves: m.moves,
      history: m.history.map((h) => ({ n: h.n, time_ms: h.timeMs, op: h.op, delta: h.delta, detail: h.detail })),
      distributions: this.distributions
        .filter((d) => d.parts.has(address))
        .map((d) => ({ n: d.n, kind: d.kind, total: d.total, part: d.parts.get(address) })),
    };
  }

  /**
   * Check `entry` against every rule and, only if it passes, apply it; Violation otherwise.
   * @param {CommunityEntry} entry
   */
  async apply(entry) {
    const name = `community entry ${entry.n} (${entry.op})`;
    let effect;
    try {
      effect = await this.check(entry);
    } catch (error) {
      if (error instanceof Violation || !(error instanceof CommerceError)) throw error;
      throw new Violation(name, error.message);
    }
    this.commit(entry, effect);
  }

  /** @param {CommunityEntry} entry @returns {Promise<Effect>} */
  async check(entry) {
    if (this.community !== null && entry.community !== this.community) {
      throw new CommerceError(`names community ${pyRepr(entry.community)}, not this community ${pyRepr(this.community)}`);
    }
    if (entry.n !== this.n + 1) {
      if (this.n === 0) throw new CommerceError("the first entry must be entry 1");
      throw new CommerceError(`is not the next entry (${this.n + 1})`);
    }
    if (entry.prev !== this.head) throw new CommerceError("prev does not name the previous entry's hash");
    /** @type {CommunityRules | null} */
    let newRules = null;
    let key;
    let version;
    if (this.rules === null) {
      if (entry.op !== "rules") throw new CommerceError("the first entry must publish the rules (version 1)");
      newRules = await this.parsePublished(entry);
      key = fromHex(newRules.operator);
      if (this.expectedKey !== null && !bytesEqual(key, this.expectedKey)) {
        throw new CommerceError(
          `its rules name operator key ${await fingerprint(key)}, not the operator key ` +
            `${await fingerprint(this.expectedKey)} the verifier was given`,
        );
      }
      version = 1;
    } else {
      key = fromHex(this.rules.operator);
      version = this.rules.version;
    }
    if (!(await this.verify(key, entry.signature, entry.signedBytes))) {
      throw new CommerceError(`signature does not verify with the operator key of version ${version}`);
    }
    if (entry.timeMs < this.timeMs) throw new CommerceError("time goes back before the previous entry's");
    /** @type {Effect} */
    let effect;
    if (entry.op === "rules") {
      effect = noEffect();
      effect.rules = newRules ?? (await this.parsePublished(entry));
      if (newRules !== null) {
        for (const address of [...newRules.allocation.keys()].sort()) {
          effect.changes.push([address, /** @type {number} */ (newRules.allocation.get(address)), { version: 1 }]);
        }
        effect.minted = newRules.initialSupply ?? 0;
      }
    } else if (MINT_OPS.includes(entry.op)) {
      effect = await this.mint(entry);
    } else if (entry.op === "transfer") {
      effect = await this.transfer(entry);
    } else {
      effect = await this.distribution(entry);
    }
    const recount = this.supply + effect.minted;
    if (recount > MAX_INT) throw new CommerceError("the supply would exceed 2**53-1");
    if (entry.supply !== recount) throw new CommerceError(`states supply ${entry.supply} but the recount gives ${recount}`);
    return effect;
  }

  /** @param {CommunityEntry} entry @returns {Promise<CommunityRules>} */
  async parsePublished(entry) {
    const body = entry.body;
    const rules = parseRules(body.rules);
    if (body.rules_sha256 !== (await rulesSha256(rules))) {
      throw new CommerceError("rules_sha256 is not the SHA-256 of the rules' canonical JSON");
    }
    if (rules.community !== entry.community) {
      throw new CommerceError(`the rules name community ${pyRepr(rules.community)}, not ${pyRepr(entry.community)}`);
    }
    const expected = this.rules === null ? 1 : this.rules.version + 1;
    if (rules.version !== expected) throw new CommerceError(`publishes version ${rules.version}, not version ${expected}`);
    return rules;
  }

  /** @param {CommunityEntry} entry @returns {CommunityRules} */
  inForce(entry) {
    const rules = /** @type {CommunityRules} */ (this.rules);
    if (entry.body.version !== rules.version) {
      throw new CommerceError(`computed under version ${entry.body.version}, but version ${rules.version} is in force`);
    }
    return rules;
  }

  /** @param {CommunityEntry} entry @returns {Promise<Effect>} */
  async mint(entry) {
    const rules = this.inForce(entry);
    const body = entry.body;
    const effect = noEffect();
    let computed;
    /** @type {Record<string, any>} */
    let detail;
    if (entry.op === "deposit") {
      computed = depositMint(rules, body.amount);
      detail = { amount: body.amount, currency: rules.currency };
    } else if (entry.op === "service") {
      computed = serviceMint(rules, body.revenue, Object.hasOwn(body, "cost") ? body.cost : undefined);
      detail = { revenue: body.revenue, currency: rules.currency };
      if (Object.hasOwn(body, "cost")) detail.cost = body.cost;
    } else if (entry.op === "work") {
      computed = workMint(rules, body.minutes);
      detail = { minutes: body.minutes };
    } else {
      computed = pledgeMint(rules, body.amount);
      const earlier = this.pledges.get(body.pledge);
      if (earlier !== undefined) throw new CommerceError(`pledge ${body.pledge} was minted on at entry ${earlier}`);
      effect.pledge = body.pledge;
      detail = { campaign: body.campaign, pledge: body.pledge, amount: body.amount, currency: rules.currency };
    }
    if (BigInt(body.minted) !== BigInt(computed)) {
      throw new CommerceError(`mints ${body.minted} tokens but the rules give ${computed}`);
    }
    const minted = /** @type {number} */ (computed);
    if (this.member(body.member).balance + minted > MAX_INT) {
      throw new CommerceError("the member's balance would exceed 2**53-1");
    }
    detail.version = rules.version;
    effect.changes.push([body.member, minted, detail]);
    effect.minted = minted;
    return effect;
  }

  /** @param {CommunityEntry} entry @returns {Promise<Effect>} */
  async transfer(entry) {
    let statement;
    try {
      statement = await statementOf(entry);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      throw new CommerceError(`statement does not decode: ${error.message}`);
    }
    if (statement.community !== entry.community) {
      throw new CommerceError(`the statement names community ${pyRepr(statement.community)}, not ${pyRepr(entry.community)}`);
    }
    if (statement.to === statement.sender) throw new CommerceError("the statement sends to its own address");
    if (statement.amount < 1) throw new CommerceError(`the statement's amount ${statement.amount} is below 1`);
    const sender = this.member(statement.sender);
    if (statement.prev !== sender.spendState) {
      if (sender.spent.has(statement.prev)) {
        throw new CommerceError(`double spend: a second statement spends state ${statement.prev}`);
      }
      throw new CommerceError(
        `the statement spends state ${statement.prev}, not the sender's spend state ${sender.spendState}`,
      );
    }
    if (statement.move !== sender.moves + 1) {
      throw new CommerceError(`the statement is move ${statement.move}, not the sender's next move ${sender.moves + 1}`);
    }
    if (!(await this.verify(fromHex(statement.sender), statement.signature, statement.signedBytes))) {
      throw new CommerceError("the statement's signature does not verify with its sender's key");
    }
    if (statement.amount > sender.balance) {
      throw new CommerceError(`spends ${statement.amount} tokens but the balance is ${sender.balance}`);
    }
    if (this.member(statement.to).balance + statement.amount > MAX_INT) {
      throw new CommerceError("the receiver's balance would exceed 2**53-1");
    }
    const effect = noEffect();
    effect.changes.push([statement.sender, -statement.amount, { to: statement.to }]);
    effect.changes.push([statement.to, statement.amount, { from: statement.sender }]);
    effect.spend = statement;
    return effect;
  }

  /** @param {CommunityEntry} entry @returns {Promise<Effect>} */
  async distribution(entry) {
    const rules = this.inForce(entry);
    const body = entry.body;
    const surplus = body.surplus;
    let total;
    let what;
    if (rules.surplus === "reinvest") {
      if (!Object.hasOwn(body, "tokens")) throw new CommerceError("a reinvest distribution must state the tokens it mints");
      total = /** @type {number} */ (reinvestTokens(rules, surplus));
      if (body.tokens !== total) {
        throw new CommerceError(`states tokens ${body.tokens} but the surplus buys ${total} at the reference price`);
      }
      what = "tokens";
    } else {
      if (Object.hasOwn(body, "tokens")) throw new CommerceError("a dividend distribution may not state tokens");
      reinvestTokens(rules, surplus); // the surplus's range check
      total = surplus;
      what = "surplus";
    }
    const period = body.period;
    if (!(0 <= period.from_ms && period.from_ms < period.until_ms)) throw new CommerceError("the period must start before it ends");
    if (BigInt(period.until_ms) > entry.timeMs) throw new CommerceError("the period ends after the entry's time");
    if (period.from_ms < this.lastUntilMs) {
      throw new CommerceError(`the period starts before the previous distribution's ended (${this.lastUntilMs})`);
    }
    const holders = [...this.members].filter(([, m]) => m.balance > 0).map(([a]) => a).sort();
    /** @type {string[]} */
    const listed = body.parts.map((/** @type {[string, number]} */ item) => item[0]);
    if (listed.length !== holders.length || listed.some((a, i) => a !== holders[i])) {
      throw new CommerceError(
        `parts must list the ${holders.length} holders in ascending address order, each once and nobody else`,
      );
    }
    /** @type {Map<string, number>} */
    const stated = new Map(body.parts.map((/** @type {[string, number]} */ item) => [item[0], item[1]]));
    let paid = 0n;
    for (const v of stated.values()) paid += BigInt(v);
    if (paid !== BigInt(total)) throw new CommerceError(`parts sum to ${paid}, not the ${what} ${total}`);
    const rule = proRata(total, this.balances());
    for (const address of holders) {
      if (stated.get(address) !== rule.get(address)) {
        throw new CommerceError(
          `part of ${await fingerprint(fromHex(address))} is ${stated.get(address)}, the rule gives ${rule.get(address)}`,
        );
      }
    }
    const effect = noEffect();
    effect.distribution = {
      n: entry.n, timeMs: Number(entry.timeMs), kind: rules.surplus, version: rules.version,
      fromMs: period.from_ms, untilMs: period.until_ms, surplus, total, parts: rule,
    };
    if (rules.surplus === "reinvest") {
      effect.minted = total;
      for (const address of holders) {
        effect.changes.push([address, /** @type {number} */ (rule.get(address)), { distribution: entry.n, surplus }]);
      }
    }
    return effect;
  }

  /** @param {CommunityEntry} entry @param {Effect} effect */
  commit(entry, effect) {
    if (this.community === null) this.community = entry.community;
    if (effect.rules !== null) {
      this.rules = effect.rules;
      this.versions.push([entry.n, effect.rules]);
    }
    for (const [address, delta, detail] of effect.changes) {
      let member = this.members.get(address);
      if (member === undefined) {
        member = freshMember();
        this.members.set(address, member);
      }
      member.balance += delta;
      this.balanceTotal += delta;
      member.history.push({ n: entry.n, timeMs: Number(entry.timeMs), op: entry.op, delta, detail });
    }
    if (effect.spend !== null) {
      const sender = /** @type {MemberState} */ (this.members.get(effect.spend.sender));
      sender.spent.add(sender.spendState);
      sender.spendState = effect.spend.hash;
      sender.moves += 1;
    }
    if (effect.distribution !== null) {
      this.distributions.push(effect.distribution);
      this.lastUntilMs = effect.distribution.untilMs;
    }
    if (effect.pledge !== null) this.pledges.set(effect.pledge, entry.n);
    this.supply += effect.minted;
    this.n = entry.n;
    this.head = entry.hash;
    this.timeMs = entry.timeMs;
    this.supplyHistory.push([entry.n, Number(entry.timeMs), this.supply]);
    if (this.balanceTotal !== this.supply) {
      // An invariant of the rules; checked all the same, as the reference does.
      throw new Violation(
        `community entry ${entry.n} (${entry.op})`,
        `the supply ${this.supply} is not the sum of the balances ${this.balanceTotal}`,
      );
    }
  }
}
