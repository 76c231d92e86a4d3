/**
 * farmtrace block headers (docs/chain.md), parsed strictly as farmtrace/chain/block.py does:
 * exactly eight ASCII lines in a fixed order, one encoding per header.
 *
 * @module
 */

import { decodeCanonicalBase64 } from "../verify/base64.js";
import { EntryError } from "./entries.js";

export const BLOCK_MAGIC = "farmtrace/block/v1";
const FIELDS = ["origin", "height", "previous", "time", "first", "size", "root"];
const DECIMAL = /^(?:0|[1-9][0-9]{0,18})$/;
const ORIGIN = /^[\x21-\x2a\x2c-\x7e]{1,255}$/;
const MAX_INT = 2n ** 63n - 1n;

/**
 * @typedef {{ origin: string, height: bigint, previous: Uint8Array, timeMs: bigint,
 *   first: bigint, size: bigint, root: Uint8Array }} BlockHeader
 */

/**
 * Parse a block header's text. Throws EntryError naming the first thing that is wrong.
 * @param {string} text
 * @returns {BlockHeader}
 */
export function parseBlockHeader(text) {
  if (!/^[\x00-\x7f]*$/.test(text)) throw new EntryError("block header is not ASCII");
  if (!text.endsWith("\n")) throw new EntryError("block header must end with a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines[0] !== BLOCK_MAGIC) throw new EntryError(`block header must start with '${BLOCK_MAGIC}'`);
  if (lines.length !== 1 + FIELDS.length) throw new EntryError(`block header must have 8 lines, not ${lines.length}`);
  /** @type {Record<string, string>} */
  const values = {};
  FIELDS.forEach((field, i) => {
    const line = lines[i + 1];
    if (!line.startsWith(`${field} `)) throw new EntryError(`line ${i + 2} of block header must be '${field} <value>'`);
    values[field] = line.slice(field.length + 1);
  });
  if (!ORIGIN.test(values.origin)) throw new EntryError(`invalid origin ${JSON.stringify(values.origin)}`);
  const int = (/** @type {string} */ name, /** @type {bigint} */ min) => {
    const v = values[name];
    if (!DECIMAL.test(v) || BigInt(v) > MAX_INT) throw new EntryError(`${name} ${JSON.stringify(v)} is not a canonical decimal below 2**63`);
    if (BigInt(v) < min) throw new EntryError(`${name} must be at least ${min}`);
    return BigInt(v);
  };
  const hash = (/** @type {string} */ name) => {
    const v = decodeCanonicalBase64(values[name]);
    if (v === null || v.length !== 32) throw new EntryError(`${name} is not canonical base64 of 32 bytes`);
    return v;
  };
  const header = {
    origin: values.origin,
    height: int("height", 0n),
    previous: hash("previous"),
    timeMs: int("time", 0n),
    first: int("first", 0n),
    size: int("size", 1n),
    root: hash("root"),
  };
  if (header.first + header.size > MAX_INT) throw new EntryError("first + size exceeds 2**63 - 1");
  const genesis = header.previous.every((b) => b === 0);
  if ((header.height === 0n) !== genesis) {
    throw new EntryError(`previous must be 32 zero bytes for block 0 and only for block 0 (height ${header.height})`);
  }
  return header;
}
