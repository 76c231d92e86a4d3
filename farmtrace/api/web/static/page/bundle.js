/**
 * Verifying a lot bundle (docs/bundle.md, format "farmtrace-bundle/v2") in the browser or node,
 * rule for rule as the Python reference `farmtrace verify` (farmtrace/api/services/verify.py), with WebCrypto only.
 *
 * Checked, in the reference's order: each chain's checkpoint is signed by one of the given
 * verifier keys, or by a key that the chain's key hand-overs (`key_handovers`, docs/chain.md)
 * lead to from one of them; each block header parses, is the block the bundle says, and is in its chain's
 * log (C2SP tlog-proof against that same checkpoint); each reading decodes and is signed by its
 * device's key; each reading is in its block's batch tree at the stated place (RFC 9162); the
 * readings form the complete series of every stage and device (verify/series.js); each
 * event decodes, is signed by the API's event key, and when anchored is proven like a reading.
 *
 * Contract: `verifyBundle` never throws for bad data; it resolves to a report whose `failures`
 * name each failing item and check. The first failure is the one the Python reference reports
 * (same order, same wording for items and the checks that fail). A stage that fails stops the
 * later stages, which are reported as "skipped", so a broken block does not also blame every
 * reading in it. TypeError is thrown only for arguments of the wrong type.
 *
 * @module
 */

import { decodeBase64 } from "../verify/base64.js";
import { DeclarationError, chainProblem, decodeDeclaration, firstDifference } from "../verify/declaration.js";
import { utf8Encode } from "../verify/bytes.js";
import { openCheckpoint } from "../verify/checkpoint.js";
import { TlogError } from "../verify/errors.js";
import { leafHash, verifyInclusion } from "../verify/merkle.js";
import { Verifier } from "../verify/note.js";
import { SeriesError, checkSeries } from "../verify/series.js";
import { parseTlogProof, verifyTlogProof } from "../verify/tlogproof.js";
import { parseBlockHeader } from "./block.js";
import { EntryError, decodeEvent, decodeReading, signerId, verifyEd25519 } from "./entries.js";

export const BUNDLE_FORMAT = "farmtrace-bundle/v2";
// Bundles of format v1 (before lot declarations and complete series) prove less than this
// verifier checks: refused with a remedy, worded as farmtrace verify words it.
const OLDER_FORMATS = { "farmtrace-bundle/v1": "it proves neither the lot's facts nor complete series" };

/** The checks a report names, in the order they run. */
export const CHECKS = Object.freeze(["checkpoint", "blocks", "signatures", "batches", "series", "claims"]);

/**
 * @typedef {"checkpoint" | "blocks" | "signatures" | "batches" | "series" | "claims"} CheckName
 * @typedef {{ check: CheckName, message: string }} Failure
 * @typedef {{
 *   ok: boolean,
 *   state: "verified" | "pending" | "failed",
 *   checks: Record<CheckName, "ok" | "failed" | "skipped">,
 *   counts: { chains: number, size: number, blocks: number, readings: number, events: number, pending: number,
 *     lotReadings: number, declarations: number, declarationsPending: number, declarationVersion: number,
 *     revisedAtMs: number | null },
 *   failures: Failure[],
 *   lines: string[],
 *   readings: import("./entries.js").Reading[],
 *   series: import("../verify/series.js").SeriesSummary | null,
 * }} BundleReport
 */

/** A failure that ends the check (a stage or the bundle's structure is broken). */
export class Stop extends Error {}

/**
 * Verify a bundle against the published verifier key(s).
 * @param {string | object} bundle the bundle's JSON text or the parsed object
 * @param {string | string[]} vkeys C2SP verifier keys
 * @returns {Promise<BundleReport>}
 */
export async function verifyBundle(bundle, vkeys) {
  if (typeof bundle !== "string" && (typeof bundle !== "object" || bundle === null)) {
    throw new TypeError("bundle must be JSON text or an object");
  }
  const keys = typeof vkeys === "string" ? [vkeys] : vkeys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "string")) throw new TypeError("vkeys must be strings");
  /** @type {BundleReport} */
  const report = {
    ok: false,
    state: "failed",
    checks: {
      checkpoint: "skipped",
      blocks: "skipped",
      signatures: "skipped",
      batches: "skipped",
      series: "skipped",
      claims: "skipped",
    },
    counts: {
      chains: 0, size: 0, blocks: 0, readings: 0, events: 0, pending: 0, lotReadings: 0,
      declarations: 0, declarationsPending: 0, declarationVersion: 0, revisedAtMs: null,
    },
    failures: [],
    lines: [],
    readings: [],
    series: null,
  };
  const ctx = new Context(report);
  try {
    await run(ctx, bundle, keys);
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
  }
  for (const name of CHECKS) {
    if (report.failures.some((f) => f.check === name)) report.checks[name] = "failed";
    // Claims are checked in every stage: only a run to the end has checked them all.
    else if (ctx.ran.has(name) && (name !== "claims" || ctx.completed)) report.checks[name] = "ok";
  }
  report.ok = report.failures.length === 0;
  const pending = report.counts.pending + report.counts.declarationsPending;
  report.state = !report.ok ? "failed" : pending > 0 ? "pending" : "verified";
  return report;
}

export class Context {
  /** @param {BundleReport} report */
  constructor(report) {
    this.report = report;
    /** @type {Set<CheckName>} */
    this.ran = new Set();
    this.completed = false;
  }
  /** @param {CheckName} check @param {string} message */
  fail(check, message) {
    this.report.failures.push({ check, message });
  }
  /** @param {CheckName} check @param {string} message @returns {never} */
  stop(check, message) {
    this.fail(check, message);
    throw new Stop(message);
  }
  /** @param {string} line */
  ok(line) {
    this.report.lines.push(line);
  }
  /** @param {CheckName[]} names */
  started(...names) {
    for (const n of names) this.ran.add(n);
  }
  /** Stop if anything failed so far (the stage is done). */
  endStage() {
    if (this.report.failures.length > 0) throw new Stop("stage failed");
  }
}

/**
 * @param {unknown} obj
 * @param {string} key
 * @param {"string" | "object" | "array" | "int"} kind
 * @param {string} what
 * @param {Context} ctx
 * @returns {any}
 */
export function get(obj, key, kind, what, ctx) {
  const value = obj !== null && typeof obj === "object" && !Array.isArray(obj) ? /** @type {any} */ (obj)[key] : undefined;
  const good =
    kind === "array" ? Array.isArray(value)
    : kind === "object" ? value !== null && typeof value === "object" && !Array.isArray(value)
    : kind === "int" ? Number.isSafeInteger(value)
    : typeof value === kind;
  if (!good) ctx.stop("claims", `${what}: missing or malformed field '${key}'`);
  return value;
}

/**
 * @param {unknown} value
 * @param {string} what
 * @param {CheckName} check
 * @param {Context} ctx
 * @returns {Uint8Array}
 */
export function b64(value, what, check, ctx) {
  if (typeof value !== "string") ctx.stop(check, `${what}: expected a base64 string`);
  const bytes = decodeBase64(/** @type {string} */ (value));
  if (bytes === null) ctx.stop(check, `${what}: not valid base64`);
  return /** @type {Uint8Array} */ (bytes);
}

/**
 * @param {Context} ctx
 * @param {string | object} input
 * @param {string[]} vkeys
 */
async function run(ctx, input, vkeys) {
  ctx.started("checkpoint");
  /** @type {Verifier[]} */
  const verifiers = [];
  for (const k of vkeys) {
    try {
      verifiers.push(await Verifier.fromVkey(k));
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("checkpoint", `verifier key: ${error.message}`);
    }
  }
  ctx.started("claims");
  let bundle = input;
  if (typeof input === "string") {
    try {
      bundle = JSON.parse(input);
    } catch (error) {
      ctx.stop("claims", `bundle is not JSON: ${/** @type {Error} */ (error).message}`);
    }
  }
  const format = get(bundle, "format", "string", "bundle", ctx);
  if (Object.hasOwn(OLDER_FORMATS, format)) {
    ctx.stop("claims", `bundle format is '${format}', expected '${BUNDLE_FORMAT}': ${OLDER_FORMATS[format]}; download the lot's bundle again`);
  }
  if (format !== BUNDLE_FORMAT) ctx.stop("claims", `bundle format is '${format}', expected '${BUNDLE_FORMAT}'`);
  const lot = get(bundle, "lot", "object", "bundle", ctx);
  ctx.ok(`bundle for lot '${lot.lot}' of GTIN ${lot.gtin}`);
  const chains = await checkpoints(ctx, bundle, verifiers);
  ctx.endStage();
  const headers = await blocks(ctx, bundle, chains);
  ctx.endStage();
  ctx.started("signatures");
  const deviceKeys = keyMap(ctx, get(bundle, "device_keys", "object", "bundle", ctx), "device key of");
  const eventKeys = keyMap(ctx, get(bundle, "event_keys", "object", "bundle", ctx), "event key of");
  const readings = get(bundle, "readings", "array", "bundle", ctx);
  /** @type {[string, Uint8Array][]} */
  const entries = [];
  for (const [i, item] of readings.entries()) {
    const checked = await reading(ctx, item, i, deviceKeys);
    if (checked !== null) entries.push(checked);
  }
  ctx.endStage();
  ctx.ok(`${entries.length} readings: each signed by its registered device`);
  ctx.started("batches");
  for (const [i, item] of readings.entries()) {
    const [what, entry] = entries[i];
    if (await inclusion(ctx, item, what, entry, headers)) ctx.report.counts.readings += 1;
  }
  ctx.endStage();
  ctx.ok(`${ctx.report.counts.readings} readings: each in its block's batch tree (RFC 9162 inclusion)`);
  // The lot's facts before the series: the series rule reads the stage windows from them.
  await declarations(ctx, bundle, lot, headers, eventKeys);
  ctx.endStage();
  await series(ctx, bundle, entries, deviceKeys);
  const events = get(bundle, "events", "array", "bundle", ctx);
  for (const [i, item] of events.entries()) {
    const anchored = await event(ctx, item, i, headers, eventKeys);
    if (anchored === true) ctx.report.counts.events += 1;
    if (anchored === false) ctx.report.counts.pending += 1;
  }
  ctx.endStage();
  const { events: n, pending } = ctx.report.counts;
  ctx.ok(`${n + pending} events signed by the API's event key: ${n} anchored on a chain, ${pending} pending anchoring`);
  ctx.completed = true;
}

/**
 * The lot's declaration (docs/bundle.md, verify/declaration.js), as the reference's
 * `_declarations`: each version signed by the event key and anchored (or pending), the versions
 * an unbroken chain 1..n, and every fact of the bundle's `lot` the newest version's.
 * @param {Context} ctx
 * @param {any} bundle
 * @param {any} lot
 * @param {Map<string, import("./block.js").BlockHeader>} headers
 * @param {Map<string, Uint8Array>} keys
 */
async function declarations(ctx, bundle, lot, headers, keys) {
  const items = bundle.declarations;
  if (!Array.isArray(items) || items.length === 0) {
    ctx.stop("claims", "bundle: no lot declaration (the lot's facts are not signed)");
  }
  /** @type {import("../verify/declaration.js").DeclarationEntry[]} */
  const versions = [];
  for (const [i, item] of items.entries()) {
    let what = `declaration ${i}`;
    const entry = b64(get(item, "entry", "string", what, ctx), what, "signatures", ctx);
    let declared;
    try {
      declared = decodeDeclaration(entry);
    } catch (error) {
      if (!(error instanceof DeclarationError)) throw error;
      ctx.stop("signatures", `${what}: entry does not decode: ${error.message}`);
    }
    what += ` (v${declared.version} by ${declared.signer} seq ${declared.seq})`;
    const key = keys.get(declared.signer);
    if (
      key === undefined ||
      (await signerId(key)) !== declared.signer ||
      !(await verifyEd25519(key, declared.signature, declared.signedBytes))
    ) {
      ctx.stop("signatures", `${what}: signature does not verify with the bundle's event key`);
    }
    const status = get(item, "status", "string", what, ctx);
    if (status === "pending-anchoring") ctx.report.counts.declarationsPending += 1;
    else if (status !== "anchored") ctx.stop("claims", `${what}: unknown status '${status}'`);
    else if (await inclusion(ctx, item, what, entry, headers)) ctx.report.counts.declarations += 1;
    else ctx.endStage();
    versions.push(declared);
  }
  const problem = await chainProblem(versions);
  if (problem !== null) ctx.stop("claims", `lot declaration: ${problem}`);
  const newest = versions[versions.length - 1];
  const difference = firstDifference(lot, newest);
  if (difference !== null) ctx.stop("claims", difference);
  const counts = ctx.report.counts;
  counts.declarationVersion = newest.version;
  counts.revisedAtMs = versions.length > 1 ? Number(newest.timeMs) : null;
  ctx.ok(
    `lot declaration v${newest.version} signed by the API's event key ` +
      `(${counts.declarations} versions anchored, ${counts.declarationsPending} pending), ` +
      "every version naming the one before; the lot's facts are the newest version's",
  );
}

/**
 * The complete-series rule (docs/bundle.md, verify/series.js) over the readings proven so far.
 * @param {Context} ctx
 * @param {any} bundle
 * @param {[string, Uint8Array][]} entries
 * @param {Map<string, Uint8Array>} deviceKeys
 */
async function series(ctx, bundle, entries, deviceKeys) {
  ctx.started("series");
  const held = entries.map(([what], i) => {
    const r = ctx.report.readings[i];
    return { what, deviceId: r.deviceId, seq: r.seq, timestampMs: r.timestampMs };
  });
  try {
    const summary = await checkSeries(bundle, held, deviceKeys, verifyEd25519);
    ctx.report.series = summary;
    ctx.report.counts.lotReadings = summary.lotReadings;
    for (const line of summary.lines) ctx.ok(line);
    ctx.ok(
      `complete series: ${summary.lotReadings} readings inside their stage windows, ` +
        `${summary.otherReadings} more around them (run boundaries, or signed outside their window by the ` +
        `device clock), ${summary.gaps.length} gaps declared`,
    );
  } catch (error) {
    if (!(error instanceof SeriesError)) throw error;
    ctx.stop("series", error.message);
  }
}

/**
 * @param {Context} ctx
 * @param {Record<string, unknown>} map
 * @param {string} label
 * @returns {Map<string, Uint8Array>}
 */
function keyMap(ctx, map, label) {
  return new Map(Object.entries(map).map(([name, k]) => [name, b64(k, `${label} ${name}`, "signatures", ctx)]));
}

/**
 * @typedef {{ note: string, size: bigint, trusted: Verifier[] }} ChainCheckpoint
 */

/**
 * @param {Context} ctx
 * @param {object} bundle
 * @param {Verifier[]} verifiers
 * @returns {Promise<Map<string, ChainCheckpoint>>}
 */
export async function checkpoints(ctx, bundle, verifiers) {
  /** @type {Map<string, ChainCheckpoint>} */
  const found = new Map();
  for (const chain of get(bundle, "chains", "array", "bundle", ctx)) {
    const origin = get(chain, "origin", "string", "chain", ctx);
    const note = get(chain, "checkpoint", "string", `chain ${origin}`, ctx);
    const trusted = await followHandovers(ctx, chain, origin, verifiers);
    try {
      const signed = await openCheckpoint(note, trusted, origin);
      found.set(origin, { note, size: signed.checkpoint.size, trusted });
      ctx.report.counts.chains += 1;
      ctx.report.counts.size += Number(signed.checkpoint.size);
      ctx.ok(`checkpoint of ${origin}: size ${signed.checkpoint.size}, signature verifies with the given key`);
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("checkpoint", `checkpoint of chain ${origin}: ${error.message}`);
    }
  }
  return found;
}

/** The first word of a hand-over checkpoint's extension line naming the next key. */
const ROTATION_LINE = "farmtrace/key-rotation";

/**
 * The given keys plus each key that a hand-over signed by an already trusted key names (as the
 * reference's `_follow_handovers`): a hand-over no trusted key signed is passed over; one that a
 * trusted key signed must be well formed and also signed by the key it names.
 * @param {Context} ctx
 * @param {object} chain
 * @param {string} origin
 * @param {Verifier[]} verifiers
 * @returns {Promise<Verifier[]>}
 */
async function followHandovers(ctx, chain, origin, verifiers) {
  const trusted = [...verifiers];
  const handovers = "key_handovers" in chain ? /** @type {any} */ (chain).key_handovers : [];
  if (!Array.isArray(handovers)) ctx.stop("claims", `chain ${origin}: malformed field 'key_handovers'`);
  for (const [i, note] of handovers.entries()) {
    const what = `key hand-over ${i} of chain ${origin}`;
    if (typeof note !== "string") ctx.stop("checkpoint", `${what}: expected a signed note`);
    let body;
    try {
      body = (await openCheckpoint(note, trusted, origin)).checkpoint;
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      if (error.code === "UnverifiedNote") continue;
      ctx.stop("checkpoint", `${what}: ${error.message}`);
    }
    const lines = body.extensions.filter((line) => line.startsWith(`${ROTATION_LINE} `));
    if (lines.length === 0) ctx.stop("checkpoint", `${what}: names no successor key`);
    if (lines.length > 1) ctx.stop("checkpoint", `${what}: names ${lines.length} successor keys`);
    let successor;
    try {
      successor = await Verifier.fromVkey(lines[0].slice(ROTATION_LINE.length + 1));
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("checkpoint", `${what}: names a malformed successor key`);
    }
    if (successor.name !== origin) {
      ctx.stop("checkpoint", `${what}: names a successor key of another log ('${successor.name}')`);
    }
    if (trusted.some((v) => sameKey(v, successor))) continue;
    try {
      await openCheckpoint(note, [successor], origin);
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("checkpoint", `${what}: not signed by the key it names`);
    }
    trusted.push(successor);
    const id = successor.keyId.toString(16).padStart(8, "0");
    ctx.ok(`key hand-over of ${origin} at size ${body.size}: a trusted key vouches for ${successor.name}+${id}`);
  }
  return trusted;
}

/**
 * @param {Verifier} a
 * @param {Verifier} b
 */
function sameKey(a, b) {
  return a.name === b.name && a.keyId === b.keyId && a.publicKey.every((byte, i) => byte === b.publicKey[i]);
}

/**
 * @param {Context} ctx
 * @param {object} bundle
 * @param {Map<string, ChainCheckpoint>} chains
 * @returns {Promise<Map<string, import("./block.js").BlockHeader>>}
 */
export async function blocks(ctx, bundle, chains) {
  ctx.started("blocks");
  /** @type {Map<string, import("./block.js").BlockHeader>} */
  const headers = new Map();
  for (const block of get(bundle, "blocks", "array", "bundle", ctx)) {
    const origin = get(block, "origin", "string", "block", ctx);
    const height = get(block, "height", "int", `block of ${origin}`, ctx);
    const what = `block ${height} of ${origin}`;
    const text = get(block, "header", "string", what, ctx);
    let header;
    try {
      header = parseBlockHeader(text);
    } catch (error) {
      if (!(error instanceof EntryError)) throw error;
      ctx.stop("blocks", `${what}: header does not parse: ${error.message}`);
    }
    if (header.origin !== origin || header.height !== BigInt(height)) {
      ctx.stop("claims", `${what}: header says block ${header.height} of ${header.origin}`);
    }
    const chain = chains.get(origin);
    if (chain === undefined) ctx.stop("claims", `${what}: the bundle has no checkpoint of that chain`);
    const proofText = get(block, "tlog_proof", "string", what, ctx);
    try {
      const proof = parseTlogProof(proofText);
      if (proof.checkpoint !== chain.note) ctx.stop("claims", `${what}: tlog-proof is not relative to the bundle's checkpoint`);
      await verifyTlogProof(proof, /** @type {Uint8Array} */ (utf8Encode(text)), chain.trusted, origin);
      if (proof.index !== BigInt(height)) ctx.stop("claims", `${what}: tlog-proof is for leaf ${proof.index}`);
    } catch (error) {
      if (!(error instanceof TlogError)) throw error;
      ctx.stop("blocks", `${what}: tlog-proof fails: ${error.message}`);
    }
    headers.set(`${origin}\n${height}`, header);
  }
  ctx.report.counts.blocks = headers.size;
  ctx.ok(`${headers.size} block headers: each in its chain log (C2SP tlog-proof)`);
  return headers;
}

/**
 * Decode a reading and check its device signature; null (with a failure noted) if it fails.
 * @param {Context} ctx
 * @param {unknown} item
 * @param {number} i
 * @param {Map<string, Uint8Array>} keys
 * @returns {Promise<[string, Uint8Array] | null>}
 */
async function reading(ctx, item, i, keys) {
  const index = item !== null && typeof item === "object" && "global_index" in item ? item.global_index : i;
  let what = `reading ${index}`;
  const entry = b64(get(item, "entry", "string", what, ctx), what, "signatures", ctx);
  let decoded;
  try {
    decoded = decodeReading(entry);
  } catch (error) {
    if (!(error instanceof EntryError)) throw error;
    ctx.fail("signatures", `${what}: entry does not decode: ${error.message}`);
    return null;
  }
  what += ` (device ${decoded.deviceId} seq ${decoded.seq})`;
  const key = keys.get(decoded.deviceId);
  if (key === undefined) {
    ctx.fail("signatures", `${what}: the bundle has no key for its device`);
    return null;
  }
  if (!(await verifyEd25519(key, decoded.signature, decoded.signedBytes))) {
    ctx.fail("signatures", `${what}: device signature does not verify`);
    return null;
  }
  ctx.report.readings.push(decoded);
  return [what, entry];
}

/**
 * Check an entry's batch inclusion; false (with a failure noted) if it fails.
 * @param {Context} ctx
 * @param {unknown} item
 * @param {string} what
 * @param {Uint8Array} entry
 * @param {Map<string, import("./block.js").BlockHeader>} headers
 * @returns {Promise<boolean>}
 */
export async function inclusion(ctx, item, what, entry, headers) {
  const origin = get(item, "origin", "string", what, ctx);
  const height = get(item, "block_height", "int", what, ctx);
  const index = get(item, "index_in_block", "int", what, ctx);
  const globalIndex = get(item, "global_index", "int", what, ctx);
  const header = headers.get(`${origin}\n${height}`);
  if (header === undefined) {
    ctx.fail("claims", `${what}: its block ${height} of ${origin} is not in the bundle`);
    return false;
  }
  if (BigInt(globalIndex) !== header.first + BigInt(index)) {
    ctx.fail("claims", `${what}: global index does not match its place in block ${height}`);
    return false;
  }
  const proof = get(item, "inclusion_proof", "array", what, ctx).map((/** @type {unknown} */ h) =>
    b64(h, `${what} proof hash`, "batches", ctx),
  );
  if (!(await verifyInclusion(await leafHash(entry), index, header.size, proof, header.root))) {
    ctx.fail("batches", `${what}: not in block ${height} (batch inclusion proof does not match)`);
    return false;
  }
  return true;
}

/**
 * Check one event: true if anchored and proven, false if pending, null if it failed.
 * @param {Context} ctx
 * @param {unknown} item
 * @param {number} i
 * @param {Map<string, import("./block.js").BlockHeader>} headers
 * @param {Map<string, Uint8Array>} keys
 * @returns {Promise<boolean | null>}
 */
async function event(ctx, item, i, headers, keys) {
  let what = `event ${i}`;
  const entry = b64(get(item, "entry", "string", what, ctx), what, "signatures", ctx);
  let decoded;
  try {
    decoded = decodeEvent(entry);
  } catch (error) {
    if (!(error instanceof EntryError)) throw error;
    ctx.fail("signatures", `${what}: entry does not decode: ${error.message}`);
    return null;
  }
  what += ` (${decoded.body.kind} by ${decoded.signer} seq ${decoded.seq})`;
  const key = keys.get(decoded.signer);
  if (
    key === undefined ||
    (await signerId(key)) !== decoded.signer ||
    !(await verifyEd25519(key, decoded.signature, decoded.signedBytes))
  ) {
    ctx.fail("signatures", `${what}: signature does not verify with the bundle's event key`);
    return null;
  }
  const status = get(item, "status", "string", what, ctx);
  if (status === "pending-anchoring") return false;
  if (status !== "anchored") {
    ctx.fail("claims", `${what}: unknown status '${status}'`);
    return null;
  }
  return (await inclusion(ctx, item, what, entry, headers)) ? true : null;
}
