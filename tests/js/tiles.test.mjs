// The browser verifier's C2SP tiles (verify/tiles.js) against the Python reference's
// cross-vectors (docs/vectors/tiles.json, tests/tiles/make_tile_vectors.py): paths, trees,
// bundles, and the same message for every altered tile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { REPO_ROOT } from "./vectors.mjs";
import {
  bundleRefs,
  decodeBundle,
  hashTileRefs,
  parseTilePath,
  tilePath,
  verifyBundle,
  verifyHashTiles,
} from "../../farmtrace/api/web/static/verify/tiles.js";
import { TlogError } from "../../farmtrace/api/web/static/verify/errors.js";

const data = JSON.parse(readFileSync(`${REPO_ROOT}docs/vectors/tiles.json`, "utf8"));
const hex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

test("paths parse and print as the reference's", () => {
  for (const c of data.paths.good) {
    assert.deepEqual(parseTilePath(c.path), { level: c.level, index: c.index, width: c.width });
    assert.equal(tilePath(parseTilePath(c.path)), c.path);
  }
  for (const c of data.paths.bad) {
    assert.throws(() => parseTilePath(c.path), (e) => e instanceof TlogError && e.code === "TileError" && e.message === c.error, c.path);
  }
});

test("every tree's tiles and bundles check against its root", async () => {
  assert.ok(data.trees.length >= 5);
  for (const tree of data.trees) {
    const tiles = new Map(Object.entries(tree.tiles).map(([p, h]) => [p, hex(h)]));
    assert.deepEqual(hashTileRefs(tree.size).map(tilePath), [...tiles.keys()]);
    await verifyHashTiles(tree.size, hex(tree.root), (ref) => tiles.get(tilePath(ref)));
    assert.deepEqual(bundleRefs(tree.size).map(tilePath), Object.keys(tree.bundles));
    for (const [path, bundle] of Object.entries(tree.bundles)) {
      const ref = parseTilePath(path);
      const got = await verifyBundle(ref, hex(bundle), tiles.get(path.replace("entries", "0")));
      assert.equal(got.length, ref.width);
    }
  }
});

test("an altered tile gets the reference's message", async () => {
  for (const tree of data.trees) {
    for (const c of tree.altered) {
      const tiles = new Map(Object.entries(tree.tiles).map(([p, h]) => [p, hex(h)]));
      const bad = tiles.get(c.path).slice();
      bad[c.byte] ^= 1;
      tiles.set(c.path, bad);
      await assert.rejects(
        verifyHashTiles(tree.size, hex(tree.root), (ref) => tiles.get(tilePath(ref))),
        (e) => e instanceof TlogError && e.code === "TileMismatch" && e.message === c.error,
        `${tree.size} ${c.path}`,
      );
    }
  }
});

test("a bundle that is not one is refused", () => {
  assert.throws(() => decodeBundle(Uint8Array.of(0), 1), /ends inside the length of entry 0/);
  assert.throws(() => decodeBundle(Uint8Array.of(0, 2, 7), 1), /ends inside entry 0/);
  assert.throws(() => decodeBundle(Uint8Array.of(0, 0), 2), /holds 1 entries, expected 2/);
});
