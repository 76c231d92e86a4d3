// The page verifier's Ed25519 verdicts (verifyEd25519 of page/entries.js, WebCrypto) on claims
// given as JSON: `node tests/js/ed25519_verdicts.mjs CLAIMS.json` prints a JSON array of
// booleans. CLAIMS.json is an array of {key, msg, sig} hex strings. Driven by
// tests/test_ed25519_edge_cases.py; not a node test of its own (its name has no .test.).
import { readFileSync } from "node:fs";

const PAGE_DIR = new URL("../../farmtrace/api/web/static/page/", import.meta.url);
const { verifyEd25519 } = await import(new URL("entries.js", PAGE_DIR).href);

/** @param {string} text */
function fromHex(text) {
  if (text.length % 2 !== 0 || /[^0-9a-f]/i.test(text)) throw new Error(`not hex: ${text}`);
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

const claims = JSON.parse(readFileSync(process.argv[2], "utf8"));
const verdicts = [];
for (const claim of claims) {
  verdicts.push(await verifyEd25519(fromHex(claim.key), fromHex(claim.sig), fromHex(claim.msg)));
}
process.stdout.write(`${JSON.stringify(verdicts)}\n`);
