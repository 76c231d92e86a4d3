/**
 * QR codes (ISO/IEC 18004) for the browser wallet: byte mode, error correction level M, the
 * smallest version 1..40 that holds the text, the mask of lowest penalty: the same symbol as
 * farmtrace/qr.py (segno with error "m", no boosting) for the same text, module for module
 * (tests/js/wallet_qr.test.mjs compares them on Python-made vectors).
 *
 * The text is encoded in UTF-8 (segno's choice for text beyond Latin-1; for ASCII, all this
 * wallet shows, every encoding agrees). Two details follow segno so the symbols are equal: the
 * bit stream is padded with a whole zero byte when the terminator already ends on a byte
 * boundary, and the masks are scored with the format and version areas still light.
 *
 * `qrMatrix(text)` gives the modules; `qrSvg(text)` an SVG image of them (no script, no style
 * attribute: safe under the page's CSP).
 *
 * @module
 */

import { utf8Encode } from "../verify/bytes.js";

// Error correction level M per version: [blocks, total codewords, data codewords] per group.
const ECC_M = [
  [[1, 26, 16]], [[1, 44, 28]], [[1, 70, 44]], [[2, 50, 32]], [[2, 67, 43]], [[4, 43, 27]],
  [[4, 49, 31]], [[2, 60, 38], [2, 61, 39]], [[3, 58, 36], [2, 59, 37]], [[4, 69, 43], [1, 70, 44]],
  [[1, 80, 50], [4, 81, 51]], [[6, 58, 36], [2, 59, 37]], [[8, 59, 37], [1, 60, 38]],
  [[4, 64, 40], [5, 65, 41]], [[5, 65, 41], [5, 66, 42]], [[7, 73, 45], [3, 74, 46]],
  [[10, 74, 46], [1, 75, 47]], [[9, 69, 43], [4, 70, 44]], [[3, 70, 44], [11, 71, 45]],
  [[3, 67, 41], [13, 68, 42]], [[17, 68, 42]], [[17, 74, 46]], [[4, 75, 47], [14, 76, 48]],
  [[6, 73, 45], [14, 74, 46]], [[8, 75, 47], [13, 76, 48]], [[19, 74, 46], [4, 75, 47]],
  [[22, 73, 45], [3, 74, 46]], [[3, 73, 45], [23, 74, 46]], [[21, 73, 45], [7, 74, 46]],
  [[19, 75, 47], [10, 76, 48]], [[2, 74, 46], [29, 75, 47]], [[10, 74, 46], [23, 75, 47]],
  [[14, 74, 46], [21, 75, 47]], [[14, 74, 46], [23, 75, 47]], [[12, 75, 47], [26, 76, 48]],
  [[6, 75, 47], [34, 76, 48]], [[29, 74, 46], [14, 75, 47]], [[13, 74, 46], [32, 75, 47]],
  [[40, 75, 47], [7, 76, 48]], [[18, 75, 47], [31, 76, 48]],
];
const EC_LEVEL_M_BITS = 0b00;
export const MAX_BYTES = 2331; // version 40-M

/** @param {number} version */
const dataCodewords = (version) => ECC_M[version - 1].reduce((sum, [n, , data]) => sum + n * data, 0);
/** @param {number} version */
const countBits = (version) => (version <= 9 ? 8 : 16);

// -- GF(256) and Reed-Solomon ------------------------------------------------------------------

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255];
}

/** @param {number} a @param {number} b */
const gfMul = (a, b) => (a === 0 || b === 0 ? 0 : EXP[LOG[a] + LOG[b]]);

/** Generator polynomial of degree n (coefficients, highest first, leading 1 omitted). @param {number} n */
function generator(n) {
  let poly = [1];
  for (let i = 0; i < n; i++) {
    const next = new Array(poly.length + 1).fill(0);
    for (let j = 0; j < poly.length; j++) {
      next[j] ^= poly[j];
      next[j + 1] ^= gfMul(poly[j], EXP[i]);
    }
    poly = next;
  }
  return poly.slice(1);
}

/** @param {Uint8Array} data @param {number} n */
function ecCodewords(data, n) {
  const gen = generator(n);
  const rem = new Uint8Array(n);
  for (const byte of data) {
    const factor = byte ^ rem[0];
    rem.copyWithin(0, 1);
    rem[n - 1] = 0;
    for (let i = 0; i < n; i++) rem[i] ^= gfMul(gen[i], factor);
  }
  return rem;
}

// -- data ----------------------------------------------------------------------------------------

/** @param {Uint8Array} bytes @param {number} version @returns {Uint8Array} */
function codewords(bytes, version) {
  const capacity = dataCodewords(version) * 8;
  /** @type {number[]} */
  const bits = [];
  /** @param {number} value @param {number} n */
  const put = (value, n) => {
    for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
  };
  put(0b0100, 4);
  put(bytes.length, countBits(version));
  for (const b of bytes) put(b, 8);
  put(0, Math.min(4, capacity - bits.length)); // terminator
  put(0, 8 - (bits.length % 8)); // to the byte boundary: a whole zero byte when already there (segno)
  const data = new Uint8Array(capacity / 8);
  for (let i = 0; i < data.length && i * 8 < bits.length; i++) {
    let v = 0;
    for (let k = 0; k < 8; k++) v = (v << 1) | bits[i * 8 + k];
    data[i] = v;
  }
  for (let i = Math.floor(bits.length / 8), pad = 0; i < data.length; i++, pad++) data[i] = pad % 2 ? 0x11 : 0xec;
  // Blocks, then interleaved data and error correction codewords.
  /** @type {Uint8Array[]} */
  const blocks = [];
  /** @type {Uint8Array[]} */
  const ecs = [];
  let pos = 0;
  for (const [count, total, size] of ECC_M[version - 1]) {
    for (let i = 0; i < count; i++) {
      const block = data.subarray(pos, pos + size);
      pos += size;
      blocks.push(block);
      ecs.push(ecCodewords(block, total - size));
    }
  }
  /** @type {number[]} */
  const out = [];
  for (const group of [blocks, ecs]) {
    const longest = Math.max(...group.map((b) => b.length));
    for (let i = 0; i < longest; i++) for (const b of group) if (i < b.length) out.push(b[i]);
  }
  return Uint8Array.from(out);
}

// -- the matrix ----------------------------------------------------------------------------------

/** @param {number} version @returns {number[]} */
function alignmentPositions(version) {
  if (version === 1) return [];
  const size = version * 4 + 17;
  const count = Math.floor(version / 7) + 2;
  const step = version === 32 ? 26 : Math.ceil((version * 4 + 4) / (count * 2 - 2)) * 2;
  const out = [6];
  for (let pos = size - 7; out.length < count; pos -= step) out.splice(1, 0, pos);
  return out;
}

/** BCH remainder of `value` shifted by the degree of `poly`. @param {number} value @param {number} poly */
function bch(value, poly) {
  const degree = Math.floor(Math.log2(poly));
  let r = value << degree;
  for (let bit = Math.floor(Math.log2(r || 1)); bit >= degree; bit--) if ((r >>> bit) & 1) r ^= poly << (bit - degree);
  return (value << degree) | r;
}

const MASKS = [
  (/** @type {number} */ i, /** @type {number} */ j) => (i + j) % 2 === 0,
  (i, _j) => i % 2 === 0,
  (_i, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i + j) % 2) + ((i * j) % 3)) % 2 === 0,
];

/**
 * The penalty of a masked matrix (ISO/IEC 18004 7.8.3.1, scored as segno scores it).
 * @param {Uint8Array[]} m
 */
function penalty(m) {
  const size = m.length;
  const N3 = [1, 0, 1, 1, 1, 0, 1];
  /** @param {ArrayLike<number>} seq */
  const n3 = (seq) => {
    let score = 0;
    const find = (/** @type {number} */ from) => {
      for (let i = from; i + 7 <= size; i++) if (N3.every((v, k) => seq[i + k] === v)) return i;
      return -1;
    };
    const light = (/** @type {number} */ a, /** @type {number} */ b) => {
      for (let k = Math.max(a, 0); k < Math.min(b, size); k++) if (seq[k]) return false;
      return true;
    };
    let idx = find(0);
    while (idx !== -1) {
      let next = idx + 7;
      if (idx === 0 || idx === size - 7 || light(idx - 4, idx) || light(idx + 7, idx + 11)) score += 40;
      else next = idx + 4;
      idx = find(next);
    }
    return score;
  };
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let dark = 0;
  const column = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const row = m[i];
    let rowPrev = -1;
    let colPrev = -1;
    let rowRun = 0;
    let colRun = 0;
    for (let j = 0; j < size; j++) {
      const r = row[j];
      const c = m[j][i];
      column[j] = c;
      dark += r;
      if (r === rowPrev) rowRun++;
      else {
        if (rowRun >= 5) s1 += rowRun - 2;
        rowRun = 1;
      }
      if (c === colPrev) colRun++;
      else {
        if (colRun >= 5) s1 += colRun - 2;
        colRun = 1;
      }
      if (i > 0 && j > 0 && r === rowPrev && r === m[i - 1][j] && r === m[i - 1][j - 1]) s2 += 3;
      rowPrev = r;
      colPrev = c;
    }
    s3 += n3(row) + n3(column);
    if (rowRun >= 5) s1 += rowRun - 2;
    if (colRun >= 5) s1 += colRun - 2;
  }
  const s4 = 10 * Math.floor(Math.abs((dark / (size * size)) * 100 - 50) / 5);
  return s1 + s2 + s3 + s4;
}

/**
 * The smallest version at level M holding `length` bytes in byte mode; RangeError beyond 40.
 * @param {number} length
 */
export function versionFor(length) {
  for (let v = 1; v <= 40; v++) if (4 + countBits(v) + 8 * length <= dataCodewords(v) * 8) return v;
  throw new RangeError(`${length} bytes do not fit a QR code at error correction M (at most ${MAX_BYTES})`);
}

/**
 * The QR code of `text` (a string, encoded in UTF-8, or bytes): its version, mask and rows of
 * modules (1 dark, 0 light), without the quiet zone.
 * @param {string | Uint8Array} text
 * @returns {{ version: number, mask: number, size: number, rows: Uint8Array[] }}
 */
export function qrMatrix(text) {
  const bytes = typeof text === "string" ? utf8Encode(text) : text;
  if (!(bytes instanceof Uint8Array)) throw new TypeError("qrMatrix takes text with a UTF-8 form, or bytes");
  const version = versionFor(bytes.length);
  const size = version * 4 + 17;
  const m = Array.from({ length: size }, () => new Uint8Array(size));
  const fixed = Array.from({ length: size }, () => new Uint8Array(size));
  /** @param {number} r @param {number} c @param {number} v */
  const set = (r, c, v) => {
    m[r][c] = v;
    fixed[r][c] = 1;
  };
  // Finder patterns and their separators.
  for (const [r0, c0] of [[0, 0], [0, size - 7], [size - 7, 0]]) {
    for (let dr = -1; dr <= 7; dr++) {
      for (let dc = -1; dc <= 7; dc++) {
        const r = r0 + dr;
        const c = c0 + dc;
        if (r < 0 || r >= size || c < 0 || c >= size) continue;
        const ring = Math.max(Math.abs(dr - 3), Math.abs(dc - 3));
        set(r, c, ring !== 2 && ring !== 4 ? 1 : 0);
      }
    }
  }
  // Timing patterns.
  for (let k = 8; k < size - 8; k++) {
    set(6, k, k % 2 === 0 ? 1 : 0);
    set(k, 6, k % 2 === 0 ? 1 : 0);
  }
  // Alignment patterns.
  const align = alignmentPositions(version);
  for (const r of align) {
    for (const c of align) {
      if ((r === 6 && c === 6) || (r === 6 && c === size - 7) || (r === size - 7 && c === 6)) continue;
      for (let dr = -2; dr <= 2; dr++) {
        for (let dc = -2; dc <= 2; dc++) set(r + dr, c + dc, Math.max(Math.abs(dr), Math.abs(dc)) === 1 ? 0 : 1);
      }
    }
  }
  // Format and version areas, reserved light (and scored light); the dark module comes last.
  for (let k = 0; k < 9; k++) {
    if (k === 6) continue; // the timing patterns cross here
    set(k, 8, 0);
    set(8, k, 0);
  }
  for (let k = 0; k < 8; k++) {
    set(size - 1 - k, 8, 0);
    set(8, size - 1 - k, 0);
  }
  if (version >= 7) {
    for (let k = 0; k < 18; k++) {
      set(size - 11 + (k % 3), Math.floor(k / 3), 0);
      set(Math.floor(k / 3), size - 11 + (k % 3), 0);
    }
  }
  // Codewords, in two-module columns from the right, alternately upwards and downwards.
  const words = codewords(bytes, version);
  let bit = 0;
  for (let right = size - 1; right >= 1; right -= 2) {
    if (right === 6) right = 5;
    for (let vert = 0; vert < size; vert++) {
      for (let z = 0; z < 2; z++) {
        const c = right - z;
        const upward = ((right + 1) & 2) === 0;
        const r = upward ? size - 1 - vert : vert;
        if (fixed[r][c]) continue;
        if (bit < words.length * 8) m[r][c] = (words[bit >>> 3] >>> (7 - (bit & 7))) & 1;
        bit++;
      }
    }
  }
  // The mask of lowest penalty (the first of equals).
  let best = -1;
  let bestScore = Infinity;
  /** @type {Uint8Array[]} */
  let bestRows = m;
  MASKS.forEach((mask, index) => {
    const trial = m.map((row, r) => row.map((v, c) => (fixed[r][c] || !mask(r, c) ? v : v ^ 1)));
    const score = penalty(trial);
    if (score < bestScore) {
      bestScore = score;
      best = index;
      bestRows = trial;
    }
  });
  // Format information (level M, mask), both copies, and the dark module.
  const format = bch((EC_LEVEL_M_BITS << 3) | best, 0x537) ^ 0x5412;
  const fbit = (/** @type {number} */ i) => (format >>> i) & 1;
  for (let i = 0; i <= 5; i++) bestRows[i][8] = fbit(i);
  bestRows[7][8] = fbit(6);
  bestRows[8][8] = fbit(7);
  bestRows[8][7] = fbit(8);
  for (let i = 9; i < 15; i++) bestRows[8][14 - i] = fbit(i);
  for (let i = 0; i < 8; i++) bestRows[8][size - 1 - i] = fbit(i);
  for (let i = 8; i < 15; i++) bestRows[size - 15 + i][8] = fbit(i);
  bestRows[size - 8][8] = 1;
  if (version >= 7) {
    const info = bch(version, 0x1f25);
    for (let k = 0; k < 18; k++) {
      const v = (info >>> k) & 1;
      bestRows[size - 11 + (k % 3)][Math.floor(k / 3)] = v;
      bestRows[Math.floor(k / 3)][size - 11 + (k % 3)] = v;
    }
  }
  return { version, mask: best, size, rows: bestRows };
}

/**
 * An SVG image of `text`'s QR code: `scale` pixels a module, a `border`-module quiet zone,
 * one path of dark modules, titled with `title` when given.
 * @param {string | Uint8Array} text
 * @param {{ scale?: number, border?: number, title?: string }} [options]
 * @returns {string}
 */
export function qrSvg(text, { scale = 4, border = 4, title } = {}) {
  const { size, rows } = qrMatrix(text);
  const full = size + 2 * border;
  let path = "";
  rows.forEach((row, r) => {
    for (let c = 0; c < size; c++) {
      if (!row[c]) continue;
      let run = 1;
      while (c + run < size && row[c + run]) run++;
      path += `M${c + border} ${r + border}h${run}v1h-${run}z`;
      c += run - 1;
    }
  });
  const escape = (/** @type {string} */ s) =>
    s.replace(/[&<>"']/g, (ch) => `&#${/** @type {number} */ (ch.codePointAt(0))};`);
  const heading = title === undefined ? "" : `<title>${escape(title)}</title>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${full} ${full}" width="${full * scale}" `
    + `height="${full * scale}" shape-rendering="crispEdges" role="img">${heading}`
    + `<rect width="${full}" height="${full}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`
  );
}
