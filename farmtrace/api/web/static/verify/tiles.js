/**
 * C2SP tlog-tiles in the browser: tile paths, entry bundles and checking tiles against a root,
 * mirroring farmtrace/tlog/tiles.py (docs/tiles.md). Cross-vectors: docs/vectors/tiles.json.
 *
 * A tile is `{level, index, width}`: level 0..63 for a hash tile, -1 (ENTRIES) for an entry
 * bundle; width 1..256 (256: full). Indices and sizes are numbers (safe integers): a browser
 * checks logs far below 2**53 entries.
 *
 * Errors are TlogError with code "TileError" (a path or bundle that breaks the format) or
 * "TileMismatch" (a tile that does not hash to what it must), the message naming the tile(s) as
 * the Python reference does, word for word.
 *
 * @module
 */

import { bytesEqual, concatBytes, sha256 } from "./bytes.js";
import { TlogError } from "./errors.js";

/** Hashes in a full tile, entries in a full bundle. */
export const TILE_WIDTH = 256;
/** The `level` of an entry bundle. */
export const ENTRIES = -1;

const HASH = 32;
const NODE = Uint8Array.of(0x01);
const LEAF = Uint8Array.of(0x00);

/**
 * @typedef {{level: number, index: number, width: number}} TileRef
 */

/**
 * The index written in 3-digit groups, all but the last prefixed "x": 1234067 -> x001/x234/067.
 * @param {number} index
 * @returns {string}
 */
export function tileIndexPath(index) {
  const groups = [String(index % 1000).padStart(3, "0")];
  for (let n = Math.floor(index / 1000); n > 0; n = Math.floor(n / 1000)) {
    groups.push(`x${String(n % 1000).padStart(3, "0")}`);
  }
  return groups.reverse().join("/");
}

/**
 * The path of a tile under its log's prefix: "tile/0/x001/234", "tile/entries/005.p/7".
 * @param {TileRef} ref
 * @returns {string}
 */
export function tilePath(ref) {
  const level = ref.level === ENTRIES ? "entries" : String(ref.level);
  const suffix = ref.width === TILE_WIDTH ? "" : `.p/${ref.width}`;
  return `tile/${level}/${tileIndexPath(ref.index)}${suffix}`;
}

const PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * The tile a path names; throws TlogError "TileError" for any other spelling (as Python).
 * @param {string} path
 * @returns {TileRef}
 */
export function parseTilePath(path) {
  const found = PATH.exec(path);
  const quoted = `'${path}'`;
  if (found === null) throw new TlogError("TileError", `${quoted} is not a tile path (tile/<L>/<N>[.p/<W>])`);
  const level = found[1] === "entries" ? ENTRIES : Number(found[1]);
  if (level > 63) throw new TlogError("TileError", `${quoted}: tile level ${level} is above 63`);
  const groups = found[2].split("/");
  if (groups.length > 1 && groups[0] === "x000") {
    throw new TlogError("TileError", `${quoted}: the tile index has a leading zero group`);
  }
  const index = Number(groups.map((g) => g.replace("x", "")).join(""));
  const width = found[3] === undefined ? TILE_WIDTH : Number(found[3]);
  if (found[3] !== undefined && width >= TILE_WIDTH) {
    throw new TlogError("TileError", `${quoted}: a partial tile is 1 to 255 wide`);
  }
  return { level, index, width };
}

/**
 * How many hashes level `level` of a tree of `size` leaves has.
 * @param {number} size
 * @param {number} level
 */
function hashesAt(size, level) {
  return Math.floor(size / 256 ** level);
}

/**
 * Every hash tile of a tree of `size` leaves, level 0 first, full tiles then the partial one.
 * @param {number} size
 * @returns {TileRef[]}
 */
export function hashTileRefs(size) {
  const refs = [];
  for (let level = 0, count; (count = hashesAt(size, level)) > 0; level++) {
    for (let n = 0; n < Math.floor(count / TILE_WIDTH); n++) refs.push({ level, index: n, width: TILE_WIDTH });
    if (count % TILE_WIDTH) refs.push({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return refs;
}

/**
 * Every entry bundle of a log of `size` entries.
 * @param {number} size
 * @returns {TileRef[]}
 */
export function bundleRefs(size) {
  const refs = [];
  for (let n = 0; n < Math.floor(size / TILE_WIDTH); n++) refs.push({ level: ENTRIES, index: n, width: TILE_WIDTH });
  if (size % TILE_WIDTH) refs.push({ level: ENTRIES, index: Math.floor(size / TILE_WIDTH), width: size % TILE_WIDTH });
  return refs;
}

/**
 * The tile of a tree of `size` leaves holding hash `position` of `level`.
 * @param {number} size
 * @param {number} level
 * @param {number} position
 * @returns {TileRef}
 */
function tileCovering(size, level, position) {
  const index = Math.floor(position / TILE_WIDTH);
  return { level, index, width: Math.min(TILE_WIDTH, hashesAt(size, level) - index * TILE_WIDTH) };
}

/**
 * The `count` entries of a bundle; TlogError "TileError" unless `data` is exactly that.
 * @param {Uint8Array} data
 * @param {number} count
 * @returns {Uint8Array[]}
 */
export function decodeBundle(data, count) {
  const entries = [];
  let at = 0;
  while (at < data.length) {
    if (at + 2 > data.length) throw new TlogError("TileError", `the bundle ends inside the length of entry ${entries.length}`);
    const length = (data[at] << 8) | data[at + 1];
    if (at + 2 + length > data.length) throw new TlogError("TileError", `the bundle ends inside entry ${entries.length}`);
    entries.push(data.slice(at + 2, at + 2 + length));
    at += 2 + length;
  }
  if (entries.length !== count) {
    throw new TlogError("TileError", `the bundle holds ${entries.length} entries, expected ${count}`);
  }
  return entries;
}

/**
 * The RFC 9162 root of hashes taken as the nodes of one level (a power of two of them).
 * @param {Uint8Array[]} hashes
 * @returns {Promise<Uint8Array>}
 */
export async function perfectRoot(hashes) {
  let level = hashes;
  if (level.length === 0 || level.length & (level.length - 1)) {
    throw new TlogError("TileError", `${level.length} hashes do not make a perfect tree`);
  }
  while (level.length > 1) {
    const up = [];
    for (let i = 0; i < level.length; i += 2) up.push(sha256(concatBytes(NODE, level[i], level[i + 1])));
    level = await Promise.all(up);
  }
  return level[0];
}

/**
 * @param {Uint8Array} data
 * @param {TileRef} ref
 * @returns {Uint8Array[]}
 */
function splitHashes(data, ref) {
  if (data.length !== ref.width * HASH) {
    throw new TlogError("TileMismatch", `${tilePath(ref)}: is ${data.length} bytes, a tile ${ref.width} wide is ${ref.width * HASH}`);
  }
  const out = [];
  for (let i = 0; i < data.length; i += HASH) out.push(data.slice(i, i + HASH));
  return out;
}

/**
 * Check every hash tile of a tree of `size` leaves against its `root`, top-down, as
 * farmtrace.tlog.tiles.verify_hash_tiles: the right-edge tiles must hash to the root, then each
 * full tile to its hash in the tile above. `readTile(ref)` returns (a promise of) the tile's
 * bytes. Throws TlogError "TileMismatch" naming the first tile found wrong.
 * @param {number} size
 * @param {Uint8Array} root
 * @param {(ref: TileRef) => Uint8Array | Promise<Uint8Array>} readTile
 * @returns {Promise<void>}
 */
export async function verifyHashTiles(size, root, readTile) {
  if (size === 0) return;
  const refs = hashTileRefs(size);
  const hashes = new Map();
  for (const ref of refs) hashes.set(tilePath(ref), splitHashes(await readTile(ref), ref));
  // The complete subtrees the tree splits into, left to right, each within one tile.
  const roots = [];
  const used = [];
  let start = 0;
  for (let bit = Math.floor(Math.log2(size)); bit >= 0; bit--) {
    if (Math.floor(size / 2 ** bit) % 2 === 0) continue;
    const level = Math.floor(bit / 8);
    const first = Math.floor(start / 256 ** level);
    const ref = tileCovering(size, level, first);
    if (!used.some((u) => tilePath(u) === tilePath(ref))) used.push(ref);
    const offset = first - ref.index * TILE_WIDTH;
    roots.push(await perfectRoot(hashes.get(tilePath(ref)).slice(offset, offset + 2 ** (bit % 8))));
    start += 2 ** bit;
  }
  let acc = roots[roots.length - 1];
  for (let i = roots.length - 2; i >= 0; i--) acc = await sha256(concatBytes(NODE, roots[i], acc));
  if (!bytesEqual(acc, root)) {
    used.sort((a, b) => b.level - a.level || b.index - a.index || b.width - a.width);
    const names = used.map(tilePath).join(", ");
    throw new TlogError("TileMismatch", `${names}: do not hash to the checkpoint's root (one was altered)`);
  }
  const topDown = [...refs].sort((a, b) => b.level - a.level || a.index - b.index);
  for (const ref of topDown) {
    if (ref.width !== TILE_WIDTH) continue; // on the right edge: checked through the root
    const parent = tileCovering(size, ref.level + 1, ref.index);
    const expected = hashes.get(tilePath(parent))[ref.index % TILE_WIDTH];
    if (!bytesEqual(await perfectRoot(hashes.get(tilePath(ref))), expected)) {
      throw new TlogError("TileMismatch", `${tilePath(ref)}: does not hash to hash ${ref.index % TILE_WIDTH} of ${tilePath(parent)}`);
    }
  }
}

/**
 * The entries of bundle `ref` after checking each hashes to its leaf in the (checked) level-0
 * tile `level0`; TlogError "TileMismatch" naming the bundle otherwise.
 * @param {TileRef} ref
 * @param {Uint8Array} data
 * @param {Uint8Array} level0
 * @returns {Promise<Uint8Array[]>}
 */
export async function verifyBundle(ref, data, level0) {
  let entries;
  try {
    entries = decodeBundle(data, ref.width);
  } catch (error) {
    if (!(error instanceof TlogError)) throw error;
    throw new TlogError("TileMismatch", `${tilePath(ref)}: ${error.message}`);
  }
  const leaves = await Promise.all(entries.map((e) => sha256(concatBytes(LEAF, e))));
  for (let i = 0; i < leaves.length; i++) {
    if (!bytesEqual(leaves[i], level0.subarray(i * HASH, (i + 1) * HASH))) {
      throw new TlogError("TileMismatch", `${tilePath(ref)}: entry ${ref.index * TILE_WIDTH + i} does not hash to its leaf in the level-0 tile`);
    }
  }
  return entries;
}
