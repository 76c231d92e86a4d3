/**
 * The complete-series rule of a lot bundle (docs/bundle.md, "Complete series"), rule for rule
 * and message for message as the Python reference farmtrace/api/services/series_rule.py.
 *
 * For each stage of the lot and each of its devices the bundle carries one `series` item: a
 * run of consecutive device seqs `first_seq..last_seq` in which every seq is either a reading
 * of the bundle or inside a declared gap, bounded below by a reading signed before the stage's
 * window (or by the device's seq 1) and above by a reading signed after it, the device's
 * newest stored reading, or its signed drop floor. The bundle's readings go by device, then
 * seq, each once, and each belongs to some series.
 *
 * Contract: `checkSeries` resolves to a summary or throws SeriesError whose message names the
 * device and the seq (or the series) that broke the rule; TypeError only for wrong arguments.
 * Signatures of drop floors are checked with the `verifySignature(publicKey, signature,
 * message)` the caller passes (WebCrypto Ed25519), so this module needs no crypto of its own.
 *
 * @module
 */

import { decodeBase64 } from "./base64.js";

export const LOWER_BOUNDS = Object.freeze(["boundary", "device-start"]);
export const UPPER_BOUNDS = Object.freeze(["boundary", "newest-stored", "drop-floor"]);
export const CAUSES = Object.freeze(["dropped-by-device", "not-received", "rejected-by-gateway"]);
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const FLOOR_HEAD = 19;
const SIGNATURE_SIZE = 64;
const FLOOR_MAX = FLOOR_HEAD + 1 + 128 + SIGNATURE_SIZE;

/** A bundle whose readings do not form the complete series it claims. */
export class SeriesError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "SeriesError";
  }
}

/**
 * @typedef {{ what: string, deviceId: string, seq: bigint, timestampMs: bigint }} BundleReading
 * @typedef {{ stage: string, deviceId: string, firstSeq: bigint, lastSeq: bigint, cause: string }} Gap
 * @typedef {{ lotReadings: number, otherReadings: number, gaps: Gap[], lines: string[] }} SeriesSummary
 * @typedef {{ name: string, startMs: bigint, endMs: bigint | null, deviceIds: string[] }} Stage
 * @typedef {{ deviceId: string, floor: bigint }} Floor
 * @typedef {(publicKey: Uint8Array, signature: Uint8Array, message: Uint8Array) => Promise<boolean>} VerifySignature
 */

/** @param {string} message @returns {never} */
function fail(message) {
  throw new SeriesError(message);
}

/** @param {unknown} value @returns {value is Record<string, any>} */
function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Milliseconds since the epoch of an ISO 8601 time with a zone, as the bundle states it.
 * @param {unknown} value
 * @param {string} what
 * @returns {bigint}
 */
export function windowMs(value, what) {
  if (typeof value !== "string" || !/(Z|[+-]\d\d:\d\d)$/.test(value)) fail(`${what}: not a time`);
  const ms = Date.parse(/** @type {string} */ (value));
  if (Number.isNaN(ms)) fail(`${what}: not a time`);
  return BigInt(ms);
}

/** @param {unknown} lot @returns {Stage[]} */
function stagesOf(lot) {
  const stages = isObject(lot) ? lot.stages : undefined;
  if (!Array.isArray(stages)) fail("lot: missing or malformed field 'stages'");
  return stages.map((stage, k) => {
    if (!isObject(stage)) fail(`stage ${k}: malformed`);
    const name = stage.name;
    if (typeof name !== "string") fail(`stage ${k}: missing or malformed field 'name'`);
    const devices = stage.device_ids;
    if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) {
      fail(`stage '${name}': missing or malformed field 'device_ids'`);
    }
    const startMs = windowMs(stage.start, `stage '${name}': start`);
    const endMs = stage.end === null || stage.end === undefined ? null : windowMs(stage.end, `stage '${name}': end`);
    return { name, startMs, endMs, deviceIds: devices };
  });
}

/** @param {unknown} item @param {string} key @param {string} what @returns {bigint} */
function int(item, key, what) {
  const value = isObject(item) ? item[key] : undefined;
  if (!Number.isSafeInteger(value) || value < 0) fail(`${what}: missing or malformed field '${key}'`);
  return BigInt(value);
}

/** @param {unknown} item @param {string} key @param {string} what @param {readonly string[]} allowed */
function oneOf(item, key, what, allowed) {
  const value = isObject(item) ? item[key] : undefined;
  if (!allowed.includes(value)) fail(`${what}: missing or malformed field '${key}'`);
  return /** @type {string} */ (value);
}

/** @param {string} a @param {string} b */
function compareText(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Index the readings by device and seq; they must go by device, then seq, each once.
 * @param {BundleReading[]} readings
 * @returns {Map<string, Map<bigint, BundleReading>>}
 */
function order(readings) {
  /** @type {Map<string, Map<bigint, BundleReading>>} */
  const byDevice = new Map();
  /** @type {BundleReading | null} */
  let previous = null;
  for (const r of readings) {
    if (previous !== null) {
      const cmp = compareText(r.deviceId, previous.deviceId) || (r.seq < previous.seq ? -1 : r.seq > previous.seq ? 1 : 0);
      if (cmp === 0) fail(`${r.what}: held twice`);
      if (cmp < 0) {
        fail(`${r.what}: out of order: after device ${previous.deviceId} seq ${previous.seq} (readings go by device, then seq)`);
      }
    }
    if (!byDevice.has(r.deviceId)) byDevice.set(r.deviceId, new Map());
    /** @type {Map<bigint, BundleReading>} */ (byDevice.get(r.deviceId)).set(r.seq, r);
    previous = r;
  }
  return byDevice;
}

/**
 * Decode a drop floor statement (docs/wire-format.md, "Drop floor"); throws SeriesError with
 * the reason the Python decoder (farmtrace/wire/dropfloor.py) gives.
 * @param {Uint8Array} payload
 * @param {string} what
 */
function decodeFloor(payload, what) {
  const size = payload.length;
  /** @param {string} reason @returns {never} */
  const bad = (reason) => fail(`${what}: does not decode (${reason})`);
  if (size > FLOOR_MAX) bad("oversized");
  if (size < 2) bad("truncated");
  if (payload[0] !== 0x46 || payload[1] !== 0x44) bad("bad-magic");
  if (size < 3) bad("truncated");
  if (payload[2] !== 1) bad("unsupported-version");
  if (size <= FLOOR_HEAD) bad("truncated");
  const length = payload[FLOOR_HEAD];
  if (length === 0) bad("empty-field");
  if (length > 128) bad("field-too-long");
  const end = FLOOR_HEAD + 1 + length;
  if (size < end + SIGNATURE_SIZE) bad("truncated");
  if (size > end + SIGNATURE_SIZE) bad("trailing-bytes");
  const deviceId = String.fromCharCode(...payload.subarray(FLOOR_HEAD + 1, end));
  if (!DEVICE_ID.test(deviceId)) bad("bad-device-id");
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    deviceId,
    floor: view.getBigUint64(3),
    signedBytes: payload.subarray(0, end),
    signature: payload.subarray(end),
  };
}

/**
 * @param {Record<string, any>} bundle
 * @param {Map<string, Uint8Array>} keys
 * @param {VerifySignature} verifySignature
 * @returns {Promise<Map<string, Floor>>}
 */
async function floorsOf(bundle, keys, verifySignature) {
  const raw = "drop_floors" in bundle ? bundle.drop_floors : {};
  if (!isObject(raw)) fail("bundle: malformed field 'drop_floors'");
  /** @type {Map<string, Floor>} */
  const found = new Map();
  for (const [device, text] of Object.entries(raw)) {
    const what = `drop floor of ${device}`;
    const payload = typeof text === "string" ? decodeBase64(text) : null;
    if (payload === null) fail(`${what}: not valid base64`);
    const signed = decodeFloor(payload, what);
    if (signed.deviceId !== device) fail(`${what}: the statement is device ${signed.deviceId}'s`);
    const key = keys.get(device);
    if (key === undefined || !(await verifySignature(key, signed.signature, signed.signedBytes))) {
      fail(`${what}: device signature does not verify`);
    }
    found.set(device, { deviceId: device, floor: signed.floor });
  }
  return found;
}

/**
 * Check the complete-series rule (module docs); throws SeriesError.
 * @param {Record<string, any>} bundle the parsed bundle
 * @param {BundleReading[]} readings the bundle's readings, in its order, already proven
 * @param {Map<string, Uint8Array>} deviceKeys
 * @param {VerifySignature} verifySignature
 * @returns {Promise<SeriesSummary>}
 */
export async function checkSeries(bundle, readings, deviceKeys, verifySignature) {
  if (!isObject(bundle) || !Array.isArray(readings) || typeof verifySignature !== "function") {
    throw new TypeError("checkSeries(bundle, readings, deviceKeys, verifySignature)");
  }
  const byDevice = order(readings);
  const stages = stagesOf(bundle.lot);
  const floors = await floorsOf(bundle, deviceKeys, verifySignature);
  const items = bundle.series;
  if (!Array.isArray(items)) fail("bundle: missing or malformed field 'series'");
  /** @type {Set<string>} */
  const seen = new Set();
  for (const [j, item] of items.entries()) {
    const what = `series ${j}`;
    const k = Number(int(item, "stage_index", what));
    if (k >= stages.length) fail(`${what}: stage ${k} is not in the lot`);
    const device = item.device_id;
    if (typeof device !== "string") fail(`${what}: missing or malformed field 'device_id'`);
    if (!stages[k].deviceIds.includes(device)) fail(`${what}: device ${device} is not one of stage '${stages[k].name}''s`);
    const key = `${k}\n${device}`;
    if (seen.has(key)) fail(`stage '${stages[k].name}': device ${device} has two series`);
    seen.add(key);
  }
  for (const [k, stage] of stages.entries()) {
    for (const device of stage.deviceIds) {
      if (!seen.has(`${k}\n${device}`)) fail(`stage '${stage.name}': device ${device} has no series`);
    }
  }
  /** @type {SeriesSummary} */
  const summary = { lotReadings: 0, otherReadings: 0, gaps: [], lines: [] };
  /** @type {Set<string>} */
  const inWindow = new Set();
  /** @type {Set<string>} */
  const claimed = new Set();
  for (const item of items) {
    const stage = stages[item.stage_index];
    const run = new Run(item, stage, byDevice.get(item.device_id) ?? new Map(), floors, summary);
    run.check();
    for (const s of run.inside) inWindow.add(`${run.device}\n${s}`);
    for (const s of run.members) claimed.add(`${run.device}\n${s}`);
  }
  for (const r of readings) {
    if (!claimed.has(`${r.deviceId}\n${r.seq}`)) fail(`${r.what}: in no stage's series`);
  }
  summary.lotReadings = inWindow.size;
  summary.otherReadings = readings.length - inWindow.size;
  return summary;
}

/** One series item checked against its stage window and the bundle's readings. */
class Run {
  /**
   * @param {Record<string, any>} item
   * @param {Stage} stage
   * @param {Map<bigint, BundleReading>} readings
   * @param {Map<string, Floor>} floors
   * @param {SeriesSummary} summary
   */
  constructor(item, stage, readings, floors, summary) {
    /** @type {string} */
    this.device = item.device_id;
    this.stage = stage;
    this.what = `stage '${stage.name}', device ${this.device}`;
    this.first = int(item, "first_seq", this.what);
    this.last = int(item, "last_seq", this.what);
    this.lower = oneOf(item, "lower", this.what, LOWER_BOUNDS);
    this.upper = oneOf(item, "upper", this.what, UPPER_BOUNDS);
    this.gaps = this.gapsOf(item.gaps);
    this.readings = readings;
    this.floor = floors.get(this.device) ?? null;
    this.summary = summary;
    /** @type {bigint[]} */
    this.inside = [];
    /** @type {bigint[]} */
    this.members = [];
  }

  /** @param {unknown} raw @returns {[bigint, bigint, string][]} */
  gapsOf(raw) {
    if (!Array.isArray(raw)) fail(`${this.what}: missing or malformed field 'gaps'`);
    /** @type {[bigint, bigint, string][]} */
    const gaps = [];
    for (const g of raw) {
      const first = int(g, "first_seq", this.what);
      const last = int(g, "last_seq", this.what);
      const cause = oneOf(g, "cause", this.what, CAUSES);
      if (first > last || (gaps.length > 0 && first <= gaps[gaps.length - 1][1])) {
        fail(`${this.what}: gap ${first}-${last} is out of order`);
      }
      gaps.push([first, last, cause]);
    }
    return gaps;
  }

  /** Bounds, then each seq of the run, then where the run's readings lie in time. */
  check() {
    this.shape();
    this.cover();
    for (const [first, last, cause] of this.gaps) {
      if (cause === "dropped-by-device") this.dropped(first, last);
      this.summary.gaps.push({ stage: this.stage.name, deviceId: this.device, firstSeq: first, lastSeq: last, cause });
    }
    this.times();
    this.summary.lines.push(this.line());
  }

  shape() {
    const { first, last, what, gaps } = this;
    if (first < 1n || last < first - 1n) fail(`${what}: run ${first}-${last} is empty or reversed`);
    if (last === first - 1n && (this.lower !== "device-start" || this.upper !== "newest-stored")) {
      fail(`${what}: an empty run must start at seq 1 and end at none stored`);
    }
    if (this.lower === "device-start" && first !== 1n) fail(`${what}: a run from the device's start begins at seq 1, not ${first}`);
    if (this.upper === "boundary" && this.stage.endMs === null) fail(`${what}: an upper boundary for a stage that has not ended`);
    if (gaps.length > 0 && (gaps[0][0] < first || gaps[gaps.length - 1][1] > last)) {
      fail(`${what}: a gap lies outside the run ${first}-${last}`);
    }
    /** @type {[boolean, bigint][]} */
    const ends = [
      [this.lower === "boundary", first],
      [this.upper !== "drop-floor", last],
    ];
    for (const [held, seq] of ends) {
      if (held && last >= first && gaps.some(([a, b]) => a <= seq && seq <= b)) {
        fail(`${what}: seq ${seq} bounds the run and cannot be a gap`);
      }
    }
    if (this.upper === "drop-floor") {
      if (this.floor === null || this.floor.floor !== last) fail(`${what}: the run ends at a drop floor ${last} it does not hold`);
      const final = gaps[gaps.length - 1];
      if (final === undefined || final[1] !== last || final[2] !== CAUSES[0]) {
        fail(`${what}: the run ends at its drop floor but not with a gap`);
      }
    }
  }

  /** Every seq of the run is a reading or in a gap, never both: the first that is not is named. */
  cover() {
    const held = [...this.readings.keys()].filter((s) => this.first <= s && s <= this.last).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const gaps = this.gaps;
    let seq = this.first;
    let i = 0;
    let g = 0;
    while (seq <= this.last) {
      if (g < gaps.length && gaps[g][0] <= seq) {
        if (i < held.length && held[i] <= gaps[g][1]) fail(`${this.what}: seq ${held[i]} is a reading and in a gap`);
        seq = gaps[g][1] + 1n;
        g += 1;
        continue;
      }
      if (i >= held.length || held[i] !== seq) fail(`${this.what}: seq ${seq} is missing (not in the bundle, not a declared gap)`);
      this.members.push(seq);
      seq += 1n;
      i += 1;
    }
  }

  /** @param {bigint} first @param {bigint} last */
  dropped(first, last) {
    if (this.floor === null) {
      fail(`${this.what}: seqs ${first}-${last} declared dropped by the device, but the bundle holds no drop floor of it`);
    }
    if (this.floor.floor < last) {
      fail(`${this.what}: seqs ${first}-${last} declared dropped by the device, but its signed drop floor is ${this.floor.floor}`);
    }
  }

  times() {
    const { what, readings } = this;
    const start = this.stage.startMs;
    const end = this.stage.endMs;
    /** @param {bigint} seq */
    const at = (seq) => /** @type {BundleReading} */ (readings.get(seq)).timestampMs;
    if (this.lower === "boundary" && !(at(this.first) < start)) {
      fail(`${what}: lower boundary seq ${this.first} is not signed before the stage starts`);
    }
    if (this.upper === "boundary" && !(at(this.last) > /** @type {bigint} */ (end))) {
      fail(`${what}: upper boundary seq ${this.last} is not signed after the stage ends`);
    }
    /** @param {bigint} ts */
    const within = (ts) => start <= ts && (end === null || ts <= end);
    const interior = this.members
      .filter((s) => !(this.lower === "boundary" && s === this.first) && !(this.upper === "boundary" && s === this.last))
      .map((s) => /** @type {BundleReading} */ (readings.get(s)));
    const inside = interior.filter((r) => within(r.timestampMs)).map((r) => r.seq);
    const firstIn = inside.length > 0 ? inside[0] : null;
    const lastIn = inside.length > 0 ? inside[inside.length - 1] : null;
    for (const r of interior) {
      // Before the window's first reading (by seq) only readings signed after the window (a
      // clock ahead) may stand; after its last one only readings signed before it.
      if ((firstIn === null || r.seq < firstIn) && r.timestampMs < start) {
        fail(
          `${what}: seq ${r.seq} is signed before the stage starts, inside the run: ` +
            "the run's lower boundary is not the device's last reading before the window",
        );
      }
      if ((lastIn === null || r.seq > lastIn) && end !== null && r.timestampMs > end) {
        fail(
          `${what}: seq ${r.seq} is signed after the stage ends, inside the run: ` +
            "the run's upper boundary is not the device's first reading after the window",
        );
      }
    }
    for (const r of readings.values()) {
      if (!(this.first <= r.seq && r.seq <= this.last) && within(r.timestampMs)) {
        fail(`${what}: seq ${r.seq} is signed inside the stage's window but is outside the run ${this.first}-${this.last}`);
      }
    }
    this.inside = inside;
  }

  line() {
    const lower = this.lower === "device-start" ? "the device's first seq" : `seq ${this.first}, signed before the window`;
    const upper =
      this.upper === "boundary" ? `seq ${this.last}, signed after the window`
      : this.upper === "newest-stored" ? `complete up to the newest stored reading, seq ${this.last}`
      : `the device's signed drop floor, seq ${this.last}`;
    const gaps = this.gaps.reduce((n, [a, b]) => n + Number(b - a + 1n), 0);
    return `${this.what}: seqs ${this.first}-${this.last}: from ${lower} to ${upper}; ${this.inside.length} inside the window, ${gaps} in gaps`;
  }
}
