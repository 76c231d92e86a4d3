/**
 * Lot declarations (entry prefix "FL" 01, docs/bundle.md), rule for rule as the Python reference
 * farmtrace/api/services/lots/declaration.py: strict decoding (one encoding per declaration),
 * the version chain, and the comparison of a bundle's `lot` object with the newest version.
 *
 * `decodeDeclaration` returns the decoded entry or throws DeclarationError saying what was
 * malformed; `chainProblem` and `firstDifference` answer null when all is well, else the
 * reference's message. The signature is checked by the caller (page/entries.js verifyEd25519).
 *
 * @module
 */

import { encodeBase64 } from "./base64.js";
import { bytesEqual, sha256, utf8Decode, utf8Encode } from "./bytes.js";

export const DECLARATION_PREFIX = Object.freeze([0x46, 0x4c, 0x01]);
export const MAX_DECLARATION_BODY = 65536;
const SIGNATURE_SIZE = 64;
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const LENIENT_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2})$/;

/** The declared lot's keys and their kinds of value, in the reference's order. */
export const LOT_FIELDS = Object.freeze({
  gtin: "str", lot: "str", product_name: "str", product_class: "str", farm: "str", origin_region: "str",
  harvest_date: "date", pack_date: "date", details: "details", stages: "stages",
});
export const DETAILS_FIELDS = Object.freeze({
  grower: "opt", method: "opt", certifications: "list", farm_location: "opt", time_zone: "str",
});
export const STAGE_FIELDS = Object.freeze({
  kind: "str", name: "str", place_id: "opt", start: "time", end: "opt-time", device_ids: "list",
});

/** A malformed declaration; `message` says what was wrong. */
export class DeclarationError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "DeclarationError";
  }
}

/**
 * @typedef {{ kind: "declaration", seq: bigint, timeMs: bigint, signer: string, body: any,
 *   version: number, signedBytes: Uint8Array, signature: Uint8Array, payload: Uint8Array }} DeclarationEntry
 */

/** @param {unknown} v @returns {v is Record<string, any>} */
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for
 * strings, null, safe integers, lists and objects (keys sorted by code point).
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

/** @param {string} a @param {string} b */
function byCodePoint(a, b) {
  const x = Array.from(a, (ch) => /** @type {number} */ (ch.codePointAt(0)));
  const y = Array.from(b, (ch) => /** @type {number} */ (ch.codePointAt(0)));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Whether any string in a parsed JSON value holds a lone surrogate (text with no UTF-8 form).
 * @param {unknown} value
 * @returns {boolean}
 */
function hasLoneSurrogate(value) {
  if (typeof value === "string") return utf8Encode(value) === null;
  if (Array.isArray(value)) return value.some(hasLoneSurrogate);
  if (isObject(value)) return Object.entries(value).some(([k, v]) => hasLoneSurrogate(k) || hasLoneSurrogate(v));
  return false;
}

/** @param {unknown} v */
const isVersion = (v) => Number.isSafeInteger(v) && /** @type {number} */ (v) >= 1;

/**
 * @param {unknown} value
 * @param {string} kind
 * @param {string} where
 */
function checkValue(value, kind, where) {
  const str = typeof value === "string";
  const good =
    kind === "str" ? str
    : kind === "opt" ? value === null || str
    : kind === "list" ? Array.isArray(value) && value.every((v) => typeof v === "string")
    : kind === "time" ? str && TIME.test(/** @type {string} */ (value))
    : kind === "opt-time" ? value === null || (str && TIME.test(/** @type {string} */ (value)))
    : value === null || (str && DATE.test(/** @type {string} */ (value)));
  if (!good) throw new DeclarationError(`declaration field ${where} is malformed (want ${kind})`);
}

/**
 * @param {unknown} obj
 * @param {Readonly<Record<string, string>>} fields
 * @param {string} where
 */
function checkObject(obj, fields, where) {
  const keys = Object.keys(fields);
  if (!isObject(obj) || Object.keys(obj).length !== keys.length || !keys.every((k) => Object.hasOwn(obj, k))) {
    throw new DeclarationError(`declaration ${where} must have exactly the keys ${[...keys].sort().join(", ")}`);
  }
  for (const [key, kind] of Object.entries(fields)) {
    if (kind === "details") checkObject(obj[key], DETAILS_FIELDS, `${where}.${key}`);
    else if (kind === "stages") {
      if (!Array.isArray(obj[key])) throw new DeclarationError(`declaration field ${where}.${key} is not a list`);
      obj[key].forEach((/** @type {unknown} */ stage, /** @type {number} */ i) =>
        checkObject(stage, STAGE_FIELDS, `${where}.${key}[${i}]`),
      );
    } else checkValue(obj[key], kind, `${where}.${key}`);
  }
}

/**
 * Raise DeclarationError unless `body` has the declaration's exact shape.
 * @param {unknown} body
 */
export function checkBody(body) {
  if (!isObject(body) || Object.keys(body).length !== 3 || !["lot", "previous", "version"].every((k) => Object.hasOwn(body, k))) {
    throw new DeclarationError("declaration body must have exactly the keys lot, previous, version");
  }
  if (!isVersion(body.version)) throw new DeclarationError("declaration version must be an integer from 1");
  const previous = body.previous;
  if (body.version === 1) {
    if (previous !== null) throw new DeclarationError("declaration version 1 names a previous version");
  } else if (
    !isObject(previous) || Object.keys(previous).length !== 2 || !isVersion(previous.version)
    || typeof previous.entry_sha256 !== "string"
  ) {
    throw new DeclarationError("declaration previous must be {entry_sha256, version}");
  }
  checkObject(body.lot, LOT_FIELDS, "lot");
}

/**
 * Decode a lot declaration entry strictly: the bytes must be the canonical encoding.
 * @param {Uint8Array} payload
 * @returns {DeclarationEntry}
 */
export function decodeDeclaration(payload) {
  if (payload.length < 3 || DECLARATION_PREFIX.some((b, i) => payload[i] !== b)) {
    throw new DeclarationError("not a lot declaration (it does not start with FL 01)");
  }
  if (payload.length < 3 + 16 + 1 + 4 + SIGNATURE_SIZE) throw new DeclarationError("declaration entry is truncated");
  const signedBytes = payload.subarray(0, payload.length - SIGNATURE_SIZE);
  const view = new DataView(signedBytes.buffer, signedBytes.byteOffset, signedBytes.byteLength);
  const seq = view.getBigUint64(3);
  const timeMs = view.getBigInt64(11);
  const n = signedBytes[19];
  let pos = 20 + n;
  if (pos + 4 > signedBytes.length) throw new DeclarationError("declaration entry is truncated in its signer");
  const signerRaw = signedBytes.subarray(20, pos);
  const length = view.getUint32(pos);
  pos += 4;
  if (pos + length !== signedBytes.length) throw new DeclarationError("declaration body length does not match the entry's size");
  const signer = signerRaw.every((b) => b < 0x80) ? String.fromCharCode(...signerRaw) : null;
  const json = utf8Decode(signedBytes.subarray(pos));
  /** @type {unknown} */
  let body;
  try {
    body = signer === null || json === null ? undefined : JSON.parse(json);
  } catch {
    body = undefined;
  }
  if (body === undefined) throw new DeclarationError("declaration signer or body is not valid ASCII/JSON");
  if (seq < 1n) throw new DeclarationError(`declaration seq ${seq} out of range`);
  if (!DEVICE_ID.test(/** @type {string} */ (signer))) throw new DeclarationError("signer: not a valid signer ID");
  checkBody(body);
  // JSON.stringify writes a lone surrogate as an escape; Python cannot encode it at all.
  const canonical = hasLoneSurrogate(body) ? null : utf8Encode(canonicalJson(body));
  if (canonical === null) throw new DeclarationError("declaration body holds text with no UTF-8 form");
  if (canonical.length > MAX_DECLARATION_BODY) {
    throw new DeclarationError(`declaration body is ${canonical.length} bytes, more than ${MAX_DECLARATION_BODY}`);
  }
  if (!bytesEqual(canonical, signedBytes.subarray(pos))) throw new DeclarationError("declaration entry is not in canonical form");
  const b = /** @type {any} */ (body);
  return {
    kind: "declaration", seq, timeMs, signer: /** @type {string} */ (signer), body: b, version: b.version,
    signedBytes, signature: payload.subarray(payload.length - SIGNATURE_SIZE), payload,
  };
}

/**
 * How a later version names this one: SHA-256 of the whole entry, standard base64.
 * @param {Uint8Array} payload
 * @returns {Promise<string>}
 */
export async function entrySha256(payload) {
  return encodeBase64(await sha256(payload));
}

/**
 * What breaks the version chain, or null: versions 1..n in order, each after the first naming
 * its predecessor's version and entry hash.
 * @param {DeclarationEntry[]} versions
 * @returns {Promise<string | null>}
 */
export async function chainProblem(versions) {
  for (const [i, entry] of versions.entries()) {
    if (entry.version !== i + 1) return `declaration ${i} is version ${entry.version}, expected version ${i + 1}`;
    if (i === 0) continue;
    const prev = versions[i - 1];
    const named = entry.body.previous;
    if (named.version !== prev.version || named.entry_sha256 !== (await entrySha256(prev.payload))) {
      return `declaration v${entry.version} does not name v${prev.version} as its previous`;
    }
  }
  return null;
}

/** @param {number} y */
const leap = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
/** @param {number} y @param {number} m */
const daysIn = (y, m) => [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

/**
 * A time string's instant in ms (RFC 3339 as Python's datetime.fromisoformat reads it), or null.
 * @param {unknown} value
 * @returns {number | null}
 */
function instant(value) {
  if (typeof value !== "string") return null;
  const m = LENIENT_TIME.exec(value);
  if (m === null) return null;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
  const micro = Number((m[7] ?? "").padEnd(6, "0"));
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59) return null;
  if (micro % 1000 !== 0) return null;
  let offset = 0;
  if (m[8] !== "Z") {
    const oh = Number(m[8].slice(1, 3));
    const om = Number(m[8].slice(4, 6));
    if (oh > 23 || om > 59) return null;
    offset = (oh * 60 + om) * (m[8][0] === "-" ? -1 : 1);
  }
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, micro / 1000);
  return t.getTime() - offset * 60000;
}

/**
 * @param {unknown} shown
 * @param {unknown} declared
 * @param {string} kind
 */
function same(shown, declared, kind) {
  if ((kind === "time" || kind === "opt-time") && declared !== null) {
    const at = instant(shown);
    return at !== null && at === instant(declared);
  }
  if (typeof shown !== typeof declared || Array.isArray(shown) !== Array.isArray(declared)) return false;
  return canonicalJson(shown) === canonicalJson(declared);
}

/**
 * @param {unknown} shown
 * @param {Record<string, any>} declared
 * @param {Readonly<Record<string, string>>} fields
 * @param {string} where
 * @param {number} v
 * @returns {string | null}
 */
function differ(shown, declared, fields, where, v) {
  if (!isObject(shown)) return `${where} is not an object as in declaration v${v}`;
  for (const key of Object.keys(shown)) {
    if (!Object.hasOwn(fields, key) && !(where === "lot" && key === "digital_link")) {
      return `${where}.${key} is not in declaration v${v}`;
    }
  }
  for (const [key, kind] of Object.entries(fields)) {
    const path = `${where}.${key}`;
    if (!Object.hasOwn(shown, key)) return `${path} is missing (declaration v${v} states it)`;
    let found = null;
    if (kind === "details") found = differ(shown[key], declared[key], DETAILS_FIELDS, path, v);
    else if (kind === "stages") found = differStages(shown[key], declared[key], path, v);
    else if (!same(shown[key], declared[key], kind)) found = `${path} differs from declaration v${v}`;
    if (found !== null) return found;
  }
  return null;
}

/**
 * @param {unknown} shown
 * @param {Record<string, any>[]} declared
 * @param {string} where
 * @param {number} v
 * @returns {string | null}
 */
function differStages(shown, declared, where, v) {
  if (!Array.isArray(shown)) return `${where} is not a list as in declaration v${v}`;
  for (const [i, stage] of shown.slice(0, declared.length).entries()) {
    const found = differ(stage, declared[i], STAGE_FIELDS, `${where}[${i}]`, v);
    if (found !== null) return found;
  }
  if (shown.length !== declared.length) return `${where} has ${shown.length} stages, declaration v${v} has ${declared.length}`;
  return null;
}

/** Python's urllib.parse.quote(text, safe=""). @param {string} text */
const quote = (text) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * The first field of a bundle's `lot` that differs from the declaration, worded as the
 * reference words it ("lot.stages[1].end differs from declaration v2"); null if none does.
 * @param {unknown} lot
 * @param {DeclarationEntry} declaration
 * @returns {string | null}
 */
export function firstDifference(lot, declaration) {
  const v = declaration.version;
  const declared = declaration.body.lot;
  const found = differ(lot, declared, LOT_FIELDS, "lot", v);
  if (found !== null || !Object.hasOwn(/** @type {object} */ (lot), "digital_link")) return found;
  const link = /** @type {any} */ (lot).digital_link;
  const tail = `/01/${quote(declared.gtin)}/10/${quote(declared.lot)}`;
  let path = null;
  try {
    path = typeof link === "string" ? new URL(link).pathname : null;
  } catch {
    path = null;
  }
  return path !== null && path.endsWith(tail) ? null : `lot.digital_link does not name the lot of declaration v${v}`;
}
