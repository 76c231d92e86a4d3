/**
 * Campaign entries (`FC 01`) and holder statements (`FH 01`), docs/commerce.md, rule for rule as
 * the Python reference farmtrace/commerce/ (canonical.py, gcn.py, points.py, units.py, terms.py,
 * entries.py, replay.py): strict decoding (one encoding per entry), identifiers, terms, wallet
 * addresses (a canonical curve point of more than small order, in BigInt arithmetic) and the
 * replay that names the first violation.
 *
 * Error contract: decoders and validators throw CommerceError whose message is the reference's
 * (same wording, so a cross test can compare them); the replay throws Violation, whose message
 * reads `<item>: <reason>` exactly as the reference's. TypeError only for arguments of the wrong
 * type. Signatures are checked with the function the caller gives (page/entries.js
 * `verifyEd25519` in the pages), so this module needs nothing but WebCrypto's SHA-256.
 *
 * @module
 */

import { bytesEqual, sha256, toHex, utf8Decode, utf8Encode } from "./bytes.js";
import { decodeBase64 } from "./base64.js";

export const CAMPAIGN_PREFIX = Object.freeze([0x46, 0x43, 0x01]);
export const COUPON_MOVE_PREFIX = Object.freeze([0x46, 0x48, 0x01]);
export const MAX_INT = Number.MAX_SAFE_INTEGER;
export const MAX_SERIAL = 10 ** 12 - 1;
export const GENESIS = "0".repeat(64);
export const MAX_VOIDS_PER_ENTRY = 64;
export const MAX_CAP = 1_000_000;
export const VOID_REASONS = Object.freeze(["campaign-failed", "shortfall-refund", "expired"]);
export const SHORTFALL_POLICIES = Object.freeze(["pro-rata", "refund"]);
const SIGNATURE_SIZE = 64;
const MAX_TEXT = 4000;
const MAX_QUANTITY = 10 ** 9;
const MAX_PRICE = 10 ** 12;
const HEX64 = /^[0-9a-f]{64}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const GCN = /^[0-9]{13}$/;
const COUPON = /^([0-9]{13})([1-9][0-9]{0,11})$/;
const FARM = /^[A-Za-z0-9._:-]{1,64}$/;
const GTIN = /^[0-9]{14}$/;
const LOT = /^[!-~]{1,20}$/;
// Python's str.isspace() characters: what `value.strip()` removes.
const PY_SPACE = "[\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
export const ONLY_SPACE = new RegExp(`^${PY_SPACE}*$`, "u");

const CURRENCY_TABLE = `
AED 2 AFN 2 ALL 2 AMD 2 ANG 2 AOA 2 ARS 2 AUD 2 AWG 2 AZN 2 BAM 2 BBD 2 BDT 2 BGN 2 BHD 3
BIF 0 BMD 2 BND 2 BOB 2 BRL 2 BSD 2 BTN 2 BWP 2 BYN 2 BZD 2 CAD 2 CDF 2 CHF 2 CLP 0 CNY 2
COP 2 CRC 2 CUP 2 CVE 2 CZK 2 DJF 0 DKK 2 DOP 2 DZD 2 EGP 2 ERN 2 ETB 2 EUR 2 FJD 2 FKP 2
GBP 2 GEL 2 GHS 2 GIP 2 GMD 2 GNF 0 GTQ 2 GYD 2 HKD 2 HNL 2 HTG 2 HUF 2 IDR 2 ILS 2 INR 2
IQD 3 IRR 2 ISK 0 JMD 2 JOD 3 JPY 0 KES 2 KGS 2 KHR 2 KMF 0 KPW 2 KRW 0 KWD 3 KYD 2 KZT 2
LAK 2 LBP 2 LKR 2 LRD 2 LSL 2 LYD 3 MAD 2 MDL 2 MGA 2 MKD 2 MMK 2 MNT 2 MOP 2 MRU 2 MUR 2
MVR 2 MWK 2 MXN 2 MYR 2 MZN 2 NAD 2 NGN 2 NIO 2 NOK 2 NPR 2 NZD 2 OMR 3 PAB 2 PEN 2 PGK 2
PHP 2 PKR 2 PLN 2 PYG 0 QAR 2 RON 2 RSD 2 RUB 2 RWF 0 SAR 2 SBD 2 SCR 2 SDG 2 SEK 2 SGD 2
SHP 2 SLE 2 SOS 2 SRD 2 SSP 2 STN 2 SVC 2 SYP 2 SZL 2 THB 2 TJS 2 TMT 2 TND 3 TOP 2 TRY 2
TTD 2 TWD 2 TZS 2 UAH 2 UGX 0 USD 2 UYU 2 UZS 2 VES 2 VND 0 VUV 0 WST 2 XAF 0 XCD 2 XOF 0
XPF 0 YER 2 ZAR 2 ZMW 2 ZWG 2`;

/** Active ISO 4217 codes and their minor-unit digits (farmtrace/commerce/units.py). */
export const CURRENCIES = Object.freeze(
  Object.fromEntries(
    CURRENCY_TABLE.trim()
      .split(/\s+/)
      .flatMap((word, i, all) => (i % 2 === 0 ? [[word, Number(all[i + 1])]] : [])),
  ),
);

/** UN/ECE Rec 20 codes a coupon's quantity may use. */
export const UNITS = Object.freeze({
  KGM: "kilogram", GRM: "gram", TNE: "tonne", LBR: "pound", ONZ: "ounce", LTR: "litre",
  MLT: "millilitre", H87: "piece", EA: "each", DZN: "dozen",
});

/** Input the commerce formats refuse; `message` is the reference's. */
export class CommerceError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "CommerceError";
  }
}

/** A history that breaks a rule: `item` names the entry, `reason` what it broke. */
export class Violation extends CommerceError {
  /** @param {string} item @param {string} reason */
  constructor(item, reason) {
    super(`${item}: ${reason}`);
    this.name = "Violation";
    this.item = item;
    this.reason = reason;
  }
}

// -- JSON as Python's json.loads reads it --------------------------------------------------------

/** A JSON number with a fraction or exponent (or NaN/Infinity): a Python float, never allowed. */
export class JsonFloat {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
  }
}

/** Key order of each parsed object as Python's dict keeps it (first occurrence). */
const KEY_ORDER = new WeakMap();

/** @param {unknown} v @returns {v is Record<string, any>} */
export const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof JsonFloat);

/** @param {object} obj @returns {string[]} */
export const keysOf = (obj) => KEY_ORDER.get(obj) ?? Object.keys(obj);

/**
 * Parse JSON text as Python's `json.loads` does: integers of any size (BigInt beyond 2^53 - 1),
 * floats, NaN and Infinity kept apart (JsonFloat), duplicate keys keep the last value at the first
 * place, lone surrogates from `\u` escapes kept. Throws SyntaxError for what Python refuses.
 * @param {string} text
 * @returns {unknown}
 */
export function parsePythonJson(text) {
  let pos = 0;
  const ws = () => {
    while (pos < text.length && " \t\n\r".includes(text[pos])) pos++;
  };
  const fail = () => {
    throw new SyntaxError(`invalid JSON at ${pos}`);
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
  /** @param {number} depth @returns {unknown} */
  const value = (depth) => {
    if (depth > 900) fail(); // Python's recursion limit refuses deeper nesting
    ws();
    const ch = text[pos];
    if (ch === "{") {
      pos++;
      /** @type {Record<string, unknown>} */
      const obj = {};
      /** @type {string[]} */
      const order = [];
      ws();
      if (text[pos] === "}") {
        pos++;
      } else {
        for (;;) {
          ws();
          if (text[pos] !== '"') fail();
          const key = string();
          ws();
          if (text[pos] !== ":") fail();
          pos++;
          const item = value(depth + 1);
          if (!Object.hasOwn(obj, key)) order.push(key);
          Object.defineProperty(obj, key, { value: item, writable: true, enumerable: true, configurable: true });
          ws();
          if (text[pos] === ",") pos++;
          else if (text[pos] === "}") {
            pos++;
            break;
          } else fail();
        }
      }
      KEY_ORDER.set(obj, order);
      return obj;
    }
    if (ch === "[") {
      pos++;
      const list = [];
      ws();
      if (text[pos] === "]") {
        pos++;
        return list;
      }
      for (;;) {
        list.push(value(depth + 1));
        ws();
        if (text[pos] === ",") pos++;
        else if (text[pos] === "]") {
          pos++;
          return list;
        } else fail();
      }
    }
    if (ch === '"') return string();
    for (const [word, result] of /** @type {[string, unknown][]} */ ([
      ["true", true], ["false", false], ["null", null], ["NaN", new JsonFloat("nan")],
      ["Infinity", new JsonFloat("inf")], ["-Infinity", new JsonFloat("-inf")],
    ])) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return result;
      }
    }
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) fail();
    const lexeme = /** @type {RegExpExecArray} */ (m)[0];
    pos += lexeme.length;
    if (/** @type {RegExpExecArray} */ (m)[1] !== undefined || /** @type {RegExpExecArray} */ (m)[2] !== undefined) {
      return new JsonFloat(lexeme);
    }
    const n = BigInt(lexeme);
    return n >= -BigInt(MAX_INT) && n <= BigInt(MAX_INT) ? Number(n) : n;
  };
  const string = () => {
    pos++; // the opening quote
    let out = "";
    for (;;) {
      if (pos >= text.length) fail();
      const ch = text[pos];
      if (ch === '"') {
        pos++;
        return out;
      }
      if (ch.charCodeAt(0) < 0x20) fail(); // strict: control characters must be escaped
      if (ch !== "\\") {
        out += ch;
        pos++;
        continue;
      }
      const esc = text[pos + 1];
      const simple = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (esc !== undefined && Object.hasOwn(simple, esc)) {
        out += simple[/** @type {keyof typeof simple} */ (esc)];
        pos += 2;
      } else if (esc === "u" && /^[0-9a-fA-F]{4}$/.test(text.slice(pos + 2, pos + 6))) {
        out += String.fromCharCode(parseInt(text.slice(pos + 2, pos + 6), 16));
        pos += 6;
      } else fail();
    }
  };
  const result = value(0);
  ws();
  if (pos !== text.length) fail();
  return result;
}

/**
 * Python's repr() of a parsed JSON value, as the reference's messages print it.
 * @param {unknown} value
 * @returns {string}
 */
export function pyRepr(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (value instanceof JsonFloat) return value.text;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  if (typeof value === "string") {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    let out = "";
    for (const ch of value) {
      const c = /** @type {number} */ (ch.codePointAt(0));
      if (ch === "\\" || ch === quote) out += `\\${ch}`;
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c === 0xad) out += `\\x${c.toString(16).padStart(2, "0")}`;
      else if (c >= 0xd800 && c <= 0xdfff) out += `\\u${c.toString(16).padStart(4, "0")}`;
      else out += ch;
    }
    return quote + out + quote;
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(", ")}]`;
  if (typeof value === "object") {
    return `{${keysOf(value).map((k) => `${pyRepr(k)}: ${pyRepr(/** @type {any} */ (value)[k])}`).join(", ")}}`;
  }
  return String(value);
}

// -- canonical JSON (farmtrace/commerce/canonical.py) ------------------------------------------

/**
 * Throw CommerceError naming the first value canonical JSON does not allow.
 * @param {unknown} value
 * @param {string} [where]
 */
export function checkValue(value, where = "body") {
  if (typeof value === "boolean" || value === null || value === undefined || value instanceof JsonFloat
    || (typeof value === "number" && !Number.isInteger(value))) {
    throw new CommerceError(`${where}: only strings, integers, arrays and objects are allowed`);
  }
  if (typeof value === "number" || typeof value === "bigint") {
    if (typeof value === "bigint" || !Number.isSafeInteger(value)) {
      throw new CommerceError(`${where}: integer ${value} is outside ±(2**53-1)`);
    }
  } else if (typeof value === "string") {
    if (utf8Encode(value) === null) throw new CommerceError(`${where}: text with no UTF-8 form`);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => checkValue(item, `${where}[${i}]`));
  } else if (typeof value === "object") {
    for (const key of keysOf(value)) {
      if (utf8Encode(key) === null) throw new CommerceError(`${where}: an object key with no UTF-8 form`);
      checkValue(/** @type {any} */ (value)[key], `${where}.${key}`);
    }
  } else {
    throw new CommerceError(`${where}: ${typeof value} is not allowed`);
  }
}

/** @param {string} a @param {string} b */
export function byCodePoint(a, b) {
  const x = Array.from(a, (ch) => /** @type {number} */ (ch.codePointAt(0)));
  const y = Array.from(b, (ch) => /** @type {number} */ (ch.codePointAt(0)));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * The canonical text of a value checked by `checkValue`: keys sorted by code point, no spaces,
 * non-ASCII as itself (Python's json.dumps(sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False)).
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalText(value) {
  checkValue(value);
  return encode(value);
}

/** @param {unknown} value @returns {string} */
function encode(value) {
  if (Array.isArray(value)) return `[${value.map(encode).join(",")}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${encode(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The canonical UTF-8 bytes of `value`.
 * @param {unknown} value
 * @returns {Uint8Array}
 */
export function canonicalJson(value) {
  return /** @type {Uint8Array} */ (utf8Encode(canonicalText(value)));
}

// -- identifiers (gcn.py), addresses (points.py), units (units.py) -----------------------------

/**
 * The GS1 mod-10 check digit of a string of digits (weights 3, 1, 3... from the right).
 * @param {string} data
 * @returns {string}
 */
export function checkDigit(data) {
  let total = 0;
  [...data].reverse().forEach((d, i) => {
    total += Number(d) * (i % 2 === 0 ? 3 : 1);
  });
  return String((10 - (total % 10)) % 10);
}

/**
 * `gcn` if it is 13 digits with a valid check digit; else CommerceError.
 * @param {unknown} gcn
 * @returns {string}
 */
export function validateGcn(gcn) {
  if (typeof gcn !== "string" || !GCN.test(gcn)) {
    throw new CommerceError("gcn: expected 13 digits (GS1 Global Coupon Number without serial)");
  }
  const want = checkDigit(gcn.slice(0, 12));
  if (want !== gcn[12]) throw new CommerceError(`gcn: check digit of ${gcn} should be ${want}`);
  return gcn;
}

/**
 * The coupon's AI (255) value: the GCN followed by its serial.
 * @param {string} gcn
 * @param {number} serial
 */
export function couponId(gcn, serial) {
  if (!(Number.isSafeInteger(serial) && serial >= 1 && serial <= MAX_SERIAL)) {
    throw new CommerceError(`coupon serial ${serial} out of range 1..${MAX_SERIAL}`);
  }
  return `${gcn}${serial}`;
}

/**
 * Split a coupon ID into [gcn, serial]; CommerceError naming the flaw.
 * @param {unknown} value
 * @returns {[string, number]}
 */
export function parseCouponId(value) {
  if (typeof value !== "string") throw new CommerceError("coupon: expected a string of digits (GCN and serial)");
  const m = COUPON.exec(value);
  if (m === null) {
    throw new CommerceError(
      "coupon: expected the 13-digit GCN followed by a serial of 1-12 digits without leading zeros",
    );
  }
  return [validateGcn(m[1]), Number(m[2])];
}

const P = 2n ** 255n - 19n;
/** @param {bigint} a */
const mod = (a) => ((a % P) + P) % P;
/** @param {bigint} base @param {bigint} exp */
function powMod(base, exp) {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}
const D = mod(-121665n * powMod(121666n, P - 2n));
const SMALL_ORDER = new Set([
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]);
/** @type {Map<string, string | null>} */
const ADDRESS_CACHE = new Map();

/**
 * Why 32 bytes are not a usable Ed25519 public key (RFC 8032 5.1.3 decoding: y < p, x exists,
 * not x = 0 with the sign bit set, not one of the eight small-order points), or null if they are.
 * @param {Uint8Array} raw
 * @returns {string | null}
 */
export function addressProblem(raw) {
  if (raw.length !== 32) return `it is ${raw.length} bytes, not 32`;
  const hex = toHex(raw);
  const cached = ADDRESS_CACHE.get(hex);
  if (cached !== undefined) return cached;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(raw[i]);
  y &= (1n << 255n) - 1n;
  const sign = raw[31] >> 7;
  let problem = null;
  if (y >= P) problem = "its y coordinate is not reduced modulo p (a non-canonical encoding)";
  else {
    const u = mod(y * y - 1n);
    const v = mod(D * y * y + 1n);
    const v3 = (((v * v) % P) * v) % P;
    const x = (((u * v3) % P) * powMod((((((u * v3) % P) * v3) % P) * v) % P, (P - 5n) / 8n)) % P;
    const vx2 = (((v * x) % P) * x) % P;
    if (vx2 !== u && vx2 !== mod(-u)) problem = "it is not a point on the curve";
    else if (u === 0n && sign) problem = "it encodes x = 0 with the sign bit set (a non-canonical encoding)";
    else if (SMALL_ORDER.has(hex)) problem = "it is a point of small order (anyone could sign for it)";
  }
  if (ADDRESS_CACHE.size > 65536) ADDRESS_CACHE.clear();
  ADDRESS_CACHE.set(hex, problem);
  return problem;
}

/** @param {string} hex */
export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A wallet address (64 lowercase hex digits: a raw Ed25519 public key) as its 32 bytes.
 * @param {unknown} value
 * @param {string} [where]
 * @returns {Uint8Array}
 */
export function parseAddress(value, where = "address") {
  if (typeof value !== "string" || !HEX64.test(value)) {
    throw new CommerceError(`${where}: expected 64 lowercase hex digits (an Ed25519 public key)`);
  }
  const raw = fromHex(value);
  const problem = addressProblem(raw);
  if (problem !== null) throw new CommerceError(`${where}: not a usable Ed25519 public key: ${problem}`);
  return raw;
}

/** @param {unknown} code @param {string} [where] @returns {string} */
export function validateCurrency(code, where = "currency") {
  if (typeof code !== "string" || !Object.hasOwn(CURRENCIES, code)) {
    throw new CommerceError(`${where}: ${pyRepr(code)} is not an active ISO 4217 currency code`);
  }
  return code;
}

/** @param {unknown} code @param {string} [where] @returns {string} */
export function validateUnit(code, where = "unit") {
  if (typeof code !== "string" || !Object.hasOwn(UNITS, code)) {
    const known = Object.keys(UNITS).sort().join(", ");
    throw new CommerceError(`${where}: ${pyRepr(code)} is not a UN/ECE Rec 20 unit for produce (${known})`);
  }
  return code;
}

/**
 * 16 hex digits of the key's SHA-256: how pages name a holder.
 * @param {Uint8Array} publicKey
 * @returns {Promise<string>}
 */
export async function fingerprint(publicKey) {
  return toHex(await sha256(publicKey)).slice(0, 16);
}

/** @param {Uint8Array} publicKey */
export async function farmSigner(publicKey) {
  return `farm.${await fingerprint(publicKey)}`;
}

/** @param {string} coupon */
export const statementSigner = (coupon) => `coupon.${coupon}`;

/** @param {Uint8Array} payload */
export async function stateOf(payload) {
  return toHex(await sha256(payload));
}

// -- terms (terms.py) --------------------------------------------------------------------------

/**
 * @typedef {{ campaign: string, farm: string, gtin: string, lot: string, quantity: number,
 *   unit: string, price: number, currency: string, target: number, cap: number, opensMs: number,
 *   deadlineMs: number, deliveryFromMs: number, deliveryUntilMs: number, textZh: string,
 *   textEn: string, json: Record<string, any> }} CampaignTerms
 */

const TERMS_KEYS = [
  "campaign", "farm", "gtin", "lot", "per_coupon", "price", "target", "cap", "opens_ms",
  "deadline_ms", "delivery", "text",
];

/** @param {any} obj @param {string} key @param {number} low @param {number} high @param {string} where */
function termsInt(obj, key, low, high, where) {
  const value = obj[key];
  if (typeof value !== "number" || !Number.isInteger(value)) throw new CommerceError(`${where}${key}: expected an integer`);
  if (!(low <= value && value <= high)) throw new CommerceError(`${where}${key}: ${value} is outside ${low}..${high}`);
  return value;
}

/** @param {any} obj @param {string} key */
function termsObj(obj, key) {
  const value = Object.hasOwn(obj, key) ? obj[key] : undefined;
  if (!isObject(value)) throw new CommerceError(`${key}: expected an object`);
  return value;
}

/** @param {any} obj @param {string} key @param {string} where */
function termsText(obj, key, where) {
  const value = obj[key];
  if (typeof value !== "string" || ONLY_SPACE.test(value)) throw new CommerceError(`${where}${key}: expected non-empty text`);
  const length = [...value].length;
  if (length > MAX_TEXT) throw new CommerceError(`${where}${key}: ${length} characters, more than ${MAX_TEXT}`);
  return value;
}

/** @param {object} obj @param {Iterable<string>} allowed */
export const unknownKeys = (obj, allowed) => {
  const set = new Set(allowed);
  return keysOf(obj).filter((k) => !set.has(k)).sort(byCodePoint);
};

/**
 * Validate a terms object; CommerceError naming the first field that is wrong.
 * @param {unknown} obj
 * @returns {CampaignTerms}
 */
export function parseTerms(obj) {
  if (!isObject(obj)) throw new CommerceError("terms: expected an object");
  const unknown = unknownKeys(obj, TERMS_KEYS);
  if (unknown.length) throw new CommerceError(`terms: unknown field ${pyRepr(unknown[0])}`);
  const gcn = validateGcn(obj.campaign);
  const farm = obj.farm;
  if (typeof farm !== "string" || !FARM.test(farm)) throw new CommerceError("farm: expected 1-64 characters of A-Z a-z 0-9 . _ : -");
  const gtin = obj.gtin;
  if (typeof gtin !== "string" || !GTIN.test(gtin)) throw new CommerceError("gtin: expected 14 digits");
  if (checkDigit(gtin.slice(0, 13)) !== gtin[13]) {
    throw new CommerceError(`gtin: check digit of ${gtin} should be ${checkDigit(gtin.slice(0, 13))}`);
  }
  const lot = obj.lot;
  if (typeof lot !== "string" || !LOT.test(lot)) throw new CommerceError("lot: expected 1-20 printable ASCII characters");
  const per = termsObj(obj, "per_coupon");
  const price = termsObj(obj, "price");
  const delivery = termsObj(obj, "delivery");
  const text = termsObj(obj, "text");
  for (const [name, part, keys] of /** @type {[string, object, string[]][]} */ ([
    ["per_coupon", per, ["quantity", "unit"]],
    ["price", price, ["amount", "currency"]],
    ["delivery", delivery, ["from_ms", "until_ms"]],
    ["text", text, ["zh", "en"]],
  ])) {
    const extra = unknownKeys(part, keys);
    if (extra.length) throw new CommerceError(`${name}: unknown field ${pyRepr(extra[0])}`);
  }
  /** @type {CampaignTerms} */
  const terms = {
    campaign: gcn,
    farm,
    gtin,
    lot,
    quantity: termsInt(per, "quantity", 1, MAX_QUANTITY, "per_coupon."),
    unit: validateUnit(per.unit, "per_coupon.unit"),
    price: termsInt(price, "amount", 0, MAX_PRICE, "price."),
    currency: validateCurrency(price.currency, "price.currency"),
    target: termsInt(obj, "target", 1, MAX_CAP, ""),
    cap: termsInt(obj, "cap", 1, MAX_CAP, ""),
    opensMs: termsInt(obj, "opens_ms", 0, MAX_INT, ""),
    deadlineMs: termsInt(obj, "deadline_ms", 0, MAX_INT, ""),
    deliveryFromMs: termsInt(delivery, "from_ms", 0, MAX_INT, "delivery."),
    deliveryUntilMs: termsInt(delivery, "until_ms", 0, MAX_INT, "delivery."),
    textZh: termsText(text, "zh", "text."),
    textEn: termsText(text, "en", "text."),
    json: obj,
  };
  if (terms.target > terms.cap) throw new CommerceError(`target: ${terms.target} coupons is more than the cap ${terms.cap}`);
  if (BigInt(terms.price) * BigInt(terms.cap) > BigInt(MAX_INT)) {
    throw new CommerceError("price: price times cap overflows the largest exact amount (2**53-1)");
  }
  if (!(terms.opensMs < terms.deadlineMs)) throw new CommerceError("deadline_ms: must be after opens_ms");
  if (!(terms.deadlineMs <= terms.deliveryFromMs && terms.deliveryFromMs <= terms.deliveryUntilMs)) {
    throw new CommerceError("delivery: must run from_ms <= until_ms, starting at or after the deadline");
  }
  return terms;
}

/**
 * Hex SHA-256 of the terms' canonical JSON: what the open entry signs as `terms_sha256`.
 * @param {CampaignTerms} terms
 */
export async function termsSha256(terms) {
  return toHex(await sha256(canonicalJson(terms.json)));
}

// -- entries (entries.py, chain/signed_entry.py) -----------------------------------------------

/**
 * @typedef {{ issued: number, redeemed: number, voided: number }} Totals
 * @typedef {{ kind: "campaign", seq: bigint, timeMs: bigint, signer: string, campaign: string,
 *   cseq: number, prev: string, op: string, totals: Totals, body: Record<string, any>,
 *   signedBytes: Uint8Array, signature: Uint8Array, payload: Uint8Array, state: string }} CampaignEntry
 * @typedef {{ kind: "statement", move: number, timeMs: bigint, signer: string, op: string,
 *   coupon: string, prev: string, to: string | null, price: [number, string] | null,
 *   body: Record<string, any>, signedBytes: Uint8Array, signature: Uint8Array,
 *   payload: Uint8Array, state: string }} HolderStatement
 */

/** @param {Totals} t */
export const outstanding = (t) => t.issued - t.redeemed - t.voided;
/** @param {Totals} t */
const totalsRepr = (t) => `{'issued': ${t.issued}, 'redeemed': ${t.redeemed}, 'voided': ${t.voided}}`;

/**
 * The operator-entry framing: prefix, seq, time, signer, body, signature; as `unframe` of
 * farmtrace/chain/signed_entry.py with the body parsed as Python's json.loads.
 * @param {Uint8Array} payload
 * @param {readonly number[]} prefix
 * @param {string} noun
 * @param {string} notThis
 */
export function unframe(payload, prefix, noun, notThis) {
  if (!(payload instanceof Uint8Array)) throw new TypeError("payload must be a Uint8Array");
  if (payload.length < prefix.length || prefix.some((b, i) => payload[i] !== b)) throw new CommerceError(notThis);
  if (payload.length < prefix.length + 16 + 1 + 4 + SIGNATURE_SIZE) throw new CommerceError(`${noun} entry is truncated`);
  const signedBytes = payload.subarray(0, payload.length - SIGNATURE_SIZE);
  const signature = payload.subarray(payload.length - SIGNATURE_SIZE);
  const view = new DataView(signedBytes.buffer, signedBytes.byteOffset, signedBytes.byteLength);
  let pos = prefix.length;
  const seq = view.getBigUint64(pos);
  const timeMs = view.getBigInt64(pos + 8);
  pos += 16;
  const n = signedBytes[pos];
  const signerRaw = signedBytes.subarray(pos + 1, pos + 1 + n);
  pos += 1 + n;
  if (signerRaw.length !== n || pos + 4 > signedBytes.length) throw new CommerceError(`${noun} entry is truncated in its signer`);
  const length = view.getUint32(pos);
  pos += 4;
  if (pos + length !== signedBytes.length) throw new CommerceError(`${noun} body length does not match the entry's size`);
  const text = utf8Decode(signedBytes.subarray(pos));
  /** @type {unknown} */
  let body;
  let good = text !== null && signerRaw.every((b) => b < 0x80);
  if (good) {
    try {
      body = parsePythonJson(/** @type {string} */ (text));
    } catch {
      good = false;
    }
  }
  if (!good) throw new CommerceError(`${noun} signer or body is not valid ASCII/JSON`);
  const signer = String.fromCharCode(...signerRaw);
  return { seq, timeMs, signer, body, signedBytes, signature, bodyBytes: signedBytes.subarray(pos) };
}

/** @param {bigint} seq @param {bigint} timeMs @param {string} what */
export function frameChecks(seq, timeMs, what) {
  if (!(seq >= 1n && seq <= BigInt(MAX_INT))) throw new CommerceError(`${what} seq ${seq} out of range 1..2**53-1`);
  if (!(timeMs >= 0n && timeMs <= BigInt(MAX_INT))) throw new CommerceError(`${what} time ${timeMs} out of range`);
}

const KIND_NAMES = { string: "str", int: "int", object: "dict", array: "list" };

/**
 * @param {Record<string, any>} body @param {string} key
 * @param {"string" | "int" | "object" | "array"} kind @param {string} what
 * @returns {any}
 */
export function need(body, key, kind, what) {
  const value = Object.hasOwn(body, key) ? body[key] : undefined;
  const good =
    kind === "string" ? typeof value === "string"
    : kind === "int" ? typeof value === "number" && Number.isInteger(value)
    : kind === "array" ? Array.isArray(value)
    : isObject(value);
  if (!good) throw new CommerceError(`${what}: field ${pyRepr(key)} missing or not a ${KIND_NAMES[kind]}`);
  return value;
}

/** @param {Record<string, any>} body @param {string} key @param {string} what @param {RegExp} [pattern] */
export function hex(body, key, what, pattern = HEX64) {
  const value = need(body, key, "string", what);
  if (!pattern.test(value)) throw new CommerceError(`${what}: field ${pyRepr(key)} is not lowercase hex of the right length`);
  return /** @type {string} */ (value);
}

/** @param {Record<string, any>} body @param {string} key @param {string} what @param {number} [low] */
function count(body, key, what, low = 0) {
  const value = need(body, key, "int", what);
  if (!(low <= value && value <= MAX_INT)) throw new CommerceError(`${what}: field ${pyRepr(key)} = ${value} out of range`);
  return /** @type {number} */ (value);
}

/** @type {Record<string, string[]>} */
const OP_FIELDS = {
  open: ["terms", "terms_sha256", "farm_key"],
  issue: ["pledge", "holder", "first", "count", "payment_sha256"],
  funded: [],
  failed: [],
  void: ["reason", "coupons"],
  refund: ["pledge", "amount", "currency"],
  harvested: ["quantity"],
  shortfall: ["policy", "covered", "uncovered", "share"],
  redeem: ["serial", "statement", "event"],
  closed: [],
};
export const CAMPAIGN_OPS = Object.freeze(Object.keys(OP_FIELDS));
const COMMON = ["campaign", "cseq", "prev", "op", "totals"];

/** @param {Record<string, any>} obj @param {string[]} keys */
const exactly = (obj, keys) => keysOf(obj).length === keys.length && keys.every((k) => Object.hasOwn(obj, k));

/**
 * @param {unknown} raw
 * @returns {{ op: string, cseq: number, campaign: string, prev: string, totals: Totals }}
 */
function checkCampaignBody(raw) {
  let what = "campaign entry";
  if (!isObject(raw)) throw new CommerceError(`${what}: body is not a JSON object`);
  const body = raw;
  const op = need(body, "op", "string", what);
  if (!Object.hasOwn(OP_FIELDS, op)) throw new CommerceError(`${what}: unknown op ${pyRepr(op)}`);
  const extra = unknownKeys(body, [...COMMON, ...OP_FIELDS[op]]);
  if (extra.length) throw new CommerceError(`${what} (${op}): unknown field ${pyRepr(extra[0])}`);
  what = `campaign entry (${op})`;
  const campaign = validateGcn(body.campaign);
  const cseq = count(body, "cseq", what, 1);
  const prev = hex(body, "prev", what);
  const rawTotals = need(body, "totals", "object", what);
  if (!exactly(rawTotals, ["issued", "redeemed", "voided"])) {
    throw new CommerceError(`${what}: totals must hold exactly issued, redeemed, voided`);
  }
  const [issued, redeemed, voided] = ["issued", "redeemed", "voided"].map((k) => count(rawTotals, k, what));
  const totals = { issued, redeemed, voided };
  if (outstanding(totals) < 0) throw new CommerceError(`${what}: totals redeem or void more coupons than were issued`);
  if (op === "open") {
    need(body, "terms", "object", what);
    hex(body, "terms_sha256", what);
    hex(body, "farm_key", what);
  } else if (op === "issue") {
    hex(body, "pledge", what, HEX32);
    hex(body, "holder", what);
    hex(body, "payment_sha256", what);
    const first = count(body, "first", what, 1);
    const n = count(body, "count", what, 1);
    if (first + n - 1 > MAX_SERIAL) throw new CommerceError(`${what}: serials run past ${MAX_SERIAL}`);
  } else if (op === "void") {
    if (!VOID_REASONS.includes(body.reason)) throw new CommerceError(`${what}: reason must be one of ${VOID_REASONS.join(", ")}`);
    const coupons = need(body, "coupons", "array", what);
    if (!(coupons.length >= 1 && coupons.length <= MAX_VOIDS_PER_ENTRY)) {
      throw new CommerceError(`${what}: names 1..${MAX_VOIDS_PER_ENTRY} coupons`);
    }
    for (const item of coupons) {
      if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== "number" || !Number.isInteger(item[0])
        || !(item[0] >= 1 && item[0] <= MAX_SERIAL) || typeof item[1] !== "string" || !HEX64.test(item[1])) {
        throw new CommerceError(`${what}: each coupon is [serial, state]`);
      }
    }
  } else if (op === "refund") {
    hex(body, "pledge", what, HEX32);
    count(body, "amount", what);
    validateCurrency(body.currency, `${what}: currency`);
  } else if (op === "harvested") {
    count(body, "quantity", what);
  } else if (op === "shortfall") {
    if (!SHORTFALL_POLICIES.includes(body.policy)) {
      throw new CommerceError(`${what}: policy must be one of ${SHORTFALL_POLICIES.join(", ")}`);
    }
    count(body, "covered", what);
    count(body, "uncovered", what, 1);
    const share = need(body, "share", "object", what);
    if (!exactly(share, ["quantity", "coupons"])) throw new CommerceError(`${what}: share must hold exactly quantity and coupons`);
    count(share, "quantity", what);
    count(share, "coupons", what);
  } else if (op === "redeem") {
    count(body, "serial", what, 1);
    need(body, "statement", "string", what);
    const event = need(body, "event", "object", what);
    if (!exactly(event, ["signer", "seq", "sha256"])) throw new CommerceError(`${what}: event must hold exactly signer, seq, sha256`);
    need(event, "signer", "string", what);
    count(event, "seq", what, 1);
    hex(event, "sha256", what);
  }
  return { op, cseq, campaign, prev, totals };
}

/**
 * The signed bytes of an operator entry (signed_entry.frame). Exported for the browser wallet,
 * which signs holder statements with it (static/wallet/statements.js).
 * @param {readonly number[]} prefix @param {bigint} seq @param {bigint} timeMs
 * @param {string} signer @param {Uint8Array} data
 * @returns {Uint8Array}
 */
export function frame(prefix, seq, timeMs, signer, data) {
  const out = new Uint8Array(prefix.length + 16 + 1 + signer.length + 4 + data.length);
  const view = new DataView(out.buffer);
  out.set(prefix, 0);
  let pos = prefix.length;
  view.setBigUint64(pos, seq);
  view.setBigInt64(pos + 8, timeMs);
  pos += 16;
  out[pos++] = signer.length;
  for (let i = 0; i < signer.length; i++) out[pos++] = signer.charCodeAt(i);
  view.setUint32(pos, data.length);
  out.set(data, pos + 4);
  return out;
}

/**
 * Parse a campaign entry strictly (every check of the reference's decode_campaign_entry, in its
 * order); CommerceError naming the flaw. The signature is the caller's to check.
 * @param {Uint8Array} payload
 * @returns {Promise<CampaignEntry>}
 */
export async function decodeCampaignEntry(payload) {
  const f = unframe(payload, CAMPAIGN_PREFIX, "campaign", "not a campaign entry (it does not start with FC 01)");
  frameChecks(f.seq, f.timeMs, "campaign entry");
  checkValue(f.body, "campaign entry");
  if (!bytesEqual(frame(CAMPAIGN_PREFIX, f.seq, f.timeMs, f.signer, canonicalJson(f.body)), f.signedBytes)) {
    throw new CommerceError("campaign entry: not in canonical form");
  }
  const { op, cseq, campaign, prev, totals } = checkCampaignBody(f.body);
  return {
    kind: "campaign", seq: f.seq, timeMs: f.timeMs, signer: f.signer, campaign, cseq, prev, op, totals,
    body: /** @type {Record<string, any>} */ (f.body), signedBytes: f.signedBytes, signature: f.signature,
    payload, state: await stateOf(payload),
  };
}

/** @param {unknown} raw */
function checkStatementBody(raw) {
  const what = "holder statement";
  if (!isObject(raw)) throw new CommerceError(`${what}: body is not a JSON object`);
  const body = raw;
  const op = Object.hasOwn(body, "op") ? body.op : undefined;
  if (op !== "transfer" && op !== "redeem") throw new CommerceError(`${what}: op must be transfer or redeem`);
  const allowed = ["op", "coupon", "prev", ...(op === "transfer" ? ["to", "price"] : [])];
  const extra = unknownKeys(body, allowed);
  if (extra.length) throw new CommerceError(`${what} (${op}): unknown field ${pyRepr(extra[0])}`);
  const coupon = Object.hasOwn(body, "coupon") ? body.coupon : undefined;
  parseCouponId(coupon);
  const prev = hex(body, "prev", what);
  /** @type {string | null} */
  let to = null;
  /** @type {[number, string] | null} */
  let price = null;
  if (op === "transfer") {
    to = /** @type {string} */ (need(body, "to", "string", what));
    parseAddress(to, `${what}: to`);
    if (Object.hasOwn(body, "price")) {
      const p = need(body, "price", "object", what);
      if (!exactly(p, ["amount", "currency"])) throw new CommerceError(`${what}: price must hold exactly amount and currency`);
      price = [count(p, "amount", `${what}: price`), validateCurrency(p.currency)];
    }
  }
  return { op, coupon: /** @type {string} */ (coupon), prev, to, price };
}

/**
 * Parse a holder statement strictly (decode_statement's checks, in its order); CommerceError.
 * The holder's signature is checked by whoever knows the holder (the replay).
 * @param {Uint8Array} payload
 * @returns {Promise<HolderStatement>}
 */
export async function decodeStatement(payload) {
  const f = unframe(payload, COUPON_MOVE_PREFIX, "holder statement", "not a holder statement (it does not start with FH 01)");
  frameChecks(f.seq, f.timeMs, "holder statement");
  checkValue(f.body, "holder statement");
  const { op, coupon, prev, to, price } = checkStatementBody(f.body);
  if (f.signer !== statementSigner(coupon)) throw new CommerceError("holder statement: its stream ID does not name its coupon");
  if (!bytesEqual(frame(COUPON_MOVE_PREFIX, f.seq, f.timeMs, f.signer, canonicalJson(f.body)), f.signedBytes)) {
    throw new CommerceError("holder statement: not in canonical form");
  }
  return {
    kind: "statement", move: Number(f.seq), timeMs: f.timeMs, signer: f.signer, op, coupon, prev, to, price,
    body: /** @type {Record<string, any>} */ (f.body), signedBytes: f.signedBytes, signature: f.signature,
    payload, state: await stateOf(payload),
  };
}

// -- the replay (replay.py) --------------------------------------------------------------------

/**
 * @callback SignatureCheck
 * @param {Uint8Array} publicKey
 * @param {Uint8Array} signature
 * @param {Uint8Array} message
 * @returns {Promise<boolean>}
 */

/**
 * @typedef {{ coupon: string, serial: number, holder: string, state: string, status: string,
 *   moves: number, history: [string, Uint8Array, string][], pledge: string }} CouponState
 *   history: (kind, entry bytes, state after it)
 * @typedef {{ policy: string, covered: number, uncovered: number, voided: number }} Shortfall
 */

/**
 * The reference rules: give holder transfers in any order (`addTransfer`), campaign entries in
 * cseq order (`apply`), then `finish`. Each throws Violation at the first broken rule, worded as
 * farmtrace/commerce/replay.py words it.
 */
export class CampaignReplay {
  /**
   * @param {{ farmKey?: Uint8Array | null, verify: SignatureCheck }} options `farmKey`: the farm's
   *   key as the verifier knows it (null trusts the open entry's); `verify(key, sig, msg)`.
   */
  constructor({ farmKey = null, verify }) {
    if (typeof verify !== "function") throw new TypeError("verify must be a signature check");
    this.expectedKey = farmKey;
    this.verify = verify;
    /** @type {Uint8Array | null} */
    this.farmKey = null;
    this.farmSigner = "";
    /** @type {CampaignTerms | null} */
    this.terms = null;
    this.status = "none";
    /** @type {Totals} */
    this.totals = { issued: 0, redeemed: 0, voided: 0 };
    this.cseq = 0;
    this.head = GENESIS;
    this.timeMs = 0n;
    /** @type {number | null} */
    this.harvested = null;
    /** @type {Shortfall | null} */
    this.shortfall = null;
    /** @type {Map<number, CouponState>} */
    this.coupons = new Map();
    /** @type {Map<string, number>} */
    this.pledges = new Map();
    /** @type {Map<string, number>} */
    this.refunded = new Map();
    /** @type {Map<string, HolderStatement>} key: `${serial} ${prev}` */
    this.transfers = new Map();
    this.transfersApplied = 0;
  }

  /** Coupons the recorded harvest covers (null before the harvest). */
  covered() {
    return this.harvested === null || this.terms === null ? null : Math.floor(this.harvested / this.terms.quantity);
  }

  /** @param {CampaignEntry} entry */
  async apply(entry) {
    const name = `campaign entry ${entry.cseq} (${entry.op})`;
    if (entry.cseq !== this.cseq + 1) throw new Violation(name, `expected campaign entry ${this.cseq + 1} next`);
    if (entry.prev !== this.head) throw new Violation(name, "prev does not name the previous campaign entry");
    if (this.terms !== null && entry.campaign !== this.terms.campaign) {
      throw new Violation(name, `names campaign ${entry.campaign}, not ${this.terms.campaign}`);
    }
    if (entry.op === "open") await this.open(name, entry);
    else if (this.terms === null) throw new Violation(name, "the first campaign entry must be open");
    const key = /** @type {Uint8Array} */ (this.farmKey);
    if (entry.signer !== this.farmSigner || !(await this.verify(key, entry.signature, entry.signedBytes))) {
      throw new Violation(name, "not signed by the farm key the campaign opened with");
    }
    if (entry.timeMs < this.timeMs) throw new Violation(name, "its time is before the previous campaign entry's");
    const totals = await this.applyOp(name, entry, /** @type {CampaignTerms} */ (this.terms));
    const t = entry.totals;
    if (t.issued !== totals.issued || t.redeemed !== totals.redeemed || t.voided !== totals.voided) {
      throw new Violation(name, `states totals ${totalsRepr(t)} but the recount gives ${totalsRepr(totals)}`);
    }
    this.totals = totals;
    this.cseq = entry.cseq;
    this.head = entry.state;
    this.timeMs = entry.timeMs;
  }

  /** @param {string} name @param {CampaignEntry} entry */
  async open(name, entry) {
    if (entry.cseq !== 1) throw new Violation(name, "a campaign opens only once, at entry 1");
    let terms;
    try {
      terms = parseTerms(entry.body.terms);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      throw new Violation(name, `terms: ${error.message}`);
    }
    if ((await termsSha256(terms)) !== entry.body.terms_sha256) {
      throw new Violation(name, "terms_sha256 is not the SHA-256 of the terms");
    }
    if (terms.campaign !== entry.campaign) throw new Violation(name, "the terms name another campaign");
    const key = fromHex(entry.body.farm_key);
    if (this.expectedKey !== null && !bytesEqual(key, this.expectedKey)) {
      throw new Violation(name, "opened with another key than the farm's");
    }
    this.farmKey = key;
    this.farmSigner = await farmSigner(key);
    this.terms = terms;
  }

  /**
   * @param {string} name @param {CampaignEntry} entry @param {CampaignTerms} terms
   * @returns {Promise<Totals>}
   */
  async applyOp(name, entry, terms) {
    const t = this.totals;
    const body = entry.body;
    const op = entry.op;
    if (op === "open") {
      if (t.issued || t.redeemed || t.voided) throw new Violation(name, "a campaign opens with zero totals");
      this.status = "open";
      return t;
    }
    if (this.status === "closed") throw new Violation(name, "the campaign is closed");
    if (op === "issue") {
      if (this.status !== "open" && this.status !== "funded") {
        throw new Violation(name, `coupons issued while the campaign is ${this.status}`);
      }
      if (this.harvested !== null) throw new Violation(name, "coupons issued after the harvest");
      if (!(BigInt(terms.opensMs) <= entry.timeMs && entry.timeMs <= BigInt(terms.deadlineMs))) {
        throw new Violation(name, "coupons issued outside the opening time and deadline");
      }
      const { first, count: n } = body;
      if (first !== t.issued + 1) throw new Violation(name, `serials must continue at ${t.issued + 1}`);
      if (t.issued + n > terms.cap) throw new Violation(name, `issues coupons past the cap: ${t.issued + n} > ${terms.cap}`);
      if (this.pledges.has(body.pledge)) throw new Violation(name, "pledge already issued");
      try {
        parseAddress(body.holder, "holder");
      } catch (error) {
        if (!(error instanceof CommerceError)) throw error;
        throw new Violation(name, error.message);
      }
      this.pledges.set(body.pledge, n);
      for (let serial = first; serial < first + n; serial++) {
        this.coupons.set(serial, {
          coupon: couponId(terms.campaign, serial), serial, holder: body.holder, state: entry.state,
          status: "active", moves: 0, history: [["issue", entry.payload, entry.state]], pledge: body.pledge,
        });
      }
      return { issued: t.issued + n, redeemed: t.redeemed, voided: t.voided };
    }
    if (op === "funded") {
      if (this.status !== "open") throw new Violation(name, `funded while the campaign is ${this.status}`);
      if (t.issued < terms.target) throw new Violation(name, `funded with ${t.issued} coupons, short of ${terms.target}`);
      this.status = "funded";
      return t;
    }
    if (op === "failed") {
      if (this.status !== "open") throw new Violation(name, `failed while the campaign is ${this.status}`);
      if (entry.timeMs <= BigInt(terms.deadlineMs)) throw new Violation(name, "failed before the deadline");
      if (t.issued >= terms.target) throw new Violation(name, "failed although the target was issued");
      this.status = "failed";
      return t;
    }
    if (op === "void") return this.void(name, entry, terms);
    if (op === "refund") {
      const pledge = body.pledge;
      if (!this.pledges.has(pledge)) throw new Violation(name, "refund of a pledge that was never issued");
      if (body.currency !== terms.currency) throw new Violation(name, `refund in ${body.currency}, not ${terms.currency}`);
      if (this.status !== "failed" && !(this.shortfall !== null && this.shortfall.policy === "refund")) {
        throw new Violation(name, "refunds follow a failed campaign or a refund shortfall");
      }
      const owed = /** @type {number} */ (this.pledges.get(pledge)) * terms.price;
      const soFar = this.refunded.get(pledge) ?? 0;
      if (soFar + body.amount > owed) throw new Violation(name, `refunds more than the pledge paid (${owed})`);
      this.refunded.set(pledge, soFar + body.amount);
      return t;
    }
    if (op === "harvested") {
      if (this.status !== "funded") throw new Violation(name, `harvest recorded while the campaign is ${this.status}`);
      if (this.harvested !== null) throw new Violation(name, "the harvest is recorded once");
      this.harvested = body.quantity;
      return t;
    }
    if (op === "shortfall") return this.decideShortfall(name, entry, terms);
    if (op === "redeem") return this.redeem(name, entry);
    if (op === "closed") {
      if (this.status !== "funded" && this.status !== "failed") {
        throw new Violation(name, `closed while the campaign is ${this.status}`);
      }
      if (outstanding(t)) throw new Violation(name, `closed with ${outstanding(t)} coupons outstanding`);
      this.checkCover(name, t);
      this.status = "closed";
      return t;
    }
    throw new Violation(name, `unknown op ${pyRepr(op)}`);
  }

  /** @param {string} name @param {Totals} t */
  checkCover(name, t) {
    const covered = this.covered();
    if (covered === null || this.status === "failed") return;
    const claims = t.redeemed + outstanding(t);
    if (this.shortfall === null) {
      if (claims > covered) {
        throw new Violation(
          name,
          `redeemed + outstanding (${claims}) exceed the harvest's ${covered} coupons ` +
            "and no shortfall decision covers the difference",
        );
      }
    } else if (this.shortfall.policy === "refund" && t.redeemed > covered) {
      throw new Violation(name, `redeems ${t.redeemed} coupons, more than the harvest's ${covered}`);
    }
  }

  /** @param {string} name @param {CampaignEntry} entry @param {CampaignTerms} terms */
  decideShortfall(name, entry, terms) {
    const t = this.totals;
    const covered = this.covered();
    if (covered === null) throw new Violation(name, "a shortfall decision needs the harvest recorded first");
    if (this.shortfall !== null) throw new Violation(name, "the shortfall is decided once");
    const body = entry.body;
    const uncovered = t.redeemed + outstanding(t) - covered;
    if (uncovered <= 0) throw new Violation(name, "there is no shortfall: the harvest covers every coupon");
    const share = { quantity: /** @type {number} */ (this.harvested) - t.redeemed * terms.quantity, coupons: outstanding(t) };
    if (body.covered !== covered || body.uncovered !== uncovered
      || body.share.quantity !== share.quantity || body.share.coupons !== share.coupons) {
      throw new Violation(
        name,
        `states covered=${body.covered} uncovered=${body.uncovered} share=${pyRepr(body.share)}, ` +
          `but the recount gives covered=${covered} uncovered=${uncovered} share=${pyRepr(share)}`,
      );
    }
    this.shortfall = { policy: body.policy, covered, uncovered, voided: 0 };
    return t;
  }

  /** @param {string} name @param {number} serial */
  async coupon(name, serial) {
    const coupon = this.coupons.get(serial);
    if (coupon === undefined) throw new Violation(name, `coupon serial ${serial} was never issued`);
    await this.advance(coupon);
    return coupon;
  }

  /** @param {string} name @param {CampaignEntry} entry @param {CampaignTerms} terms */
  async void(name, entry, terms) {
    const t = this.totals;
    const { reason, coupons: items } = entry.body;
    if (reason === "campaign-failed" && this.status !== "failed") {
      throw new Violation(name, "voids for a failed campaign while it has not failed");
    }
    if (reason === "expired" && (this.status !== "funded" || entry.timeMs <= BigInt(terms.deliveryUntilMs))) {
      throw new Violation(name, "coupons expire only after the delivery window of a funded campaign");
    }
    if (reason === "shortfall-refund") {
      if (this.shortfall === null || this.shortfall.policy !== "refund") {
        throw new Violation(name, "shortfall refunds need a refund shortfall decision");
      }
      if (this.shortfall.voided + items.length > this.shortfall.uncovered) {
        throw new Violation(name, "voids more coupons than the shortfall left uncovered");
      }
      this.shortfall.voided += items.length;
    }
    const seen = new Set();
    for (const [serial, prev] of items) {
      if (seen.has(serial)) throw new Violation(name, `names coupon serial ${serial} twice`);
      seen.add(serial);
      const coupon = await this.coupon(name, serial);
      if (coupon.status !== "active") throw new Violation(name, `voids coupon ${coupon.coupon}, which is ${coupon.status}`);
      if (prev !== coupon.state) {
        throw new Violation(name, `voids coupon ${coupon.coupon} from state ${prev}, not its head ${coupon.state}`);
      }
      coupon.status = "void";
      coupon.state = entry.state;
      coupon.history.push(["void", entry.payload, entry.state]);
    }
    return { issued: t.issued, redeemed: t.redeemed, voided: t.voided + items.length };
  }

  /** @param {string} name @param {CampaignEntry} entry */
  async redeem(name, entry) {
    const t = this.totals;
    if (this.status !== "funded") throw new Violation(name, `redeemed while the campaign is ${this.status}`);
    if (this.harvested === null) throw new Violation(name, "redeemed before the harvest was recorded");
    const body = entry.body;
    const coupon = await this.coupon(name, body.serial);
    let statement;
    try {
      const raw = decodeBase64(body.statement);
      if (raw === null) throw new CommerceError("statement: not valid base64");
      statement = await decodeStatement(raw);
    } catch (error) {
      if (!(error instanceof CommerceError)) throw error;
      throw new Violation(name, `redeem statement: ${error.message}`);
    }
    await checkStatement(name, coupon, statement, "redeem", this.verify);
    coupon.status = "redeemed";
    coupon.moves += 1;
    coupon.state = entry.state;
    coupon.history.push(["redeem", entry.payload, entry.state]);
    const after = { issued: t.issued, redeemed: t.redeemed + 1, voided: t.voided };
    this.checkCover(name, after);
    return after;
  }

  /**
   * Queue a transfer; it applies when its coupon's chain reaches the state it names.
   * @param {HolderStatement} statement
   */
  addTransfer(statement) {
    const name = `transfer of coupon ${statement.coupon} move ${statement.move}`;
    if (statement.op !== "transfer") throw new Violation(name, "a redeem statement reaches the chain only inside a redeem entry");
    if (this.terms !== null && !statement.coupon.startsWith(this.terms.campaign)) {
      throw new Violation(name, "the coupon belongs to another campaign");
    }
    const key = `${Number(statement.coupon.slice(13))} ${statement.prev}`;
    if (this.transfers.has(key)) throw new Violation(name, `double spend: a second statement spends state ${statement.prev}`);
    this.transfers.set(key, statement);
  }

  /** @param {CouponState} coupon */
  async advance(coupon) {
    for (;;) {
      const key = `${coupon.serial} ${coupon.state}`;
      const statement = this.transfers.get(key);
      if (statement === undefined) return;
      this.transfers.delete(key);
      const name = `transfer of coupon ${coupon.coupon} move ${statement.move}`;
      await checkStatement(name, coupon, statement, "transfer", this.verify);
      coupon.holder = /** @type {string} */ (statement.to);
      coupon.state = statement.state;
      coupon.moves += 1;
      coupon.history.push(["transfer", statement.payload, statement.state]);
      this.transfersApplied += 1;
    }
  }

  /** Apply every queued transfer; one that never fits a coupon's chain is a violation. */
  async finish() {
    for (const coupon of this.coupons.values()) await this.advance(coupon);
    if (this.transfers.size === 0) return;
    /** @type {[string, HolderStatement] | null} */
    let lowest = null;
    for (const item of this.transfers) if (lowest === null || item[1].move < lowest[1].move) lowest = item;
    const [key, statement] = /** @type {[string, HolderStatement]} */ (lowest);
    const serial = Number(key.split(" ")[0]);
    const name = `transfer of coupon ${statement.coupon} move ${statement.move}`;
    const known = this.coupons.get(serial);
    if (known === undefined) throw new Violation(name, "the coupon was never issued");
    if (known.status !== "active") throw new Violation(name, `the coupon is ${known.status} and never moves again`);
    throw new Violation(name, `spends state ${statement.prev}, which is not in the coupon's history`);
  }
}

/**
 * Whether `statement` may spend `coupon`'s current state (replay.check_statement); Violation
 * naming `name` otherwise.
 * @param {string} name @param {CouponState} coupon @param {HolderStatement} statement
 * @param {string} op @param {SignatureCheck} verify
 */
export async function checkStatement(name, coupon, statement, op, verify) {
  if (statement.op !== op || statement.coupon !== coupon.coupon) {
    throw new Violation(name, `the statement is not a ${op} of coupon ${coupon.coupon}`);
  }
  if (coupon.status !== "active") throw new Violation(name, `coupon ${coupon.coupon} is ${coupon.status} and never moves again`);
  if (statement.prev !== coupon.state) {
    throw new Violation(name, `spends state ${statement.prev} of coupon ${coupon.coupon}, not its head ${coupon.state}`);
  }
  if (statement.move !== coupon.moves + 1) throw new Violation(name, `is move ${statement.move}, expected ${coupon.moves + 1}`);
  if (!(await verify(fromHex(coupon.holder), statement.signature, statement.signedBytes))) {
    throw new Violation(name, `not signed by the holder of coupon ${coupon.coupon}`);
  }
}
