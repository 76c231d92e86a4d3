// Test helpers: locate the vendored test vectors and the verifier modules from this file's path.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";

/** The repository root (tests/js/ is two levels below it). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** tests/vectors/rfc9162: transparency-dev/merkle's vectors, vendored (see tests/vectors/README.md). */
export const RFC9162_VECTORS = fileURLToPath(new URL("../vectors/rfc9162/", import.meta.url));

/** Where the verifier's ES modules live. */
export const VERIFY_DIR = new URL("../../farmtrace/api/web/static/verify/", import.meta.url);

/**
 * Every RFC 9162 vector file, as { id, kind, fields }, sorted by path. Throws when the folder is
 * missing: the vectors are a required part of the test, never a reason to skip.
 * @returns {{ id: string, kind: "inclusion" | "consistency", fields: any }[]}
 */
export function loadRfc9162Vectors() {
  let isDir = false;
  try {
    isDir = statSync(RFC9162_VECTORS).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new Error(
      `RFC 9162 test vectors not found at ${RFC9162_VECTORS}: they are part of the repository ` +
        "(see tests/vectors/README.md)",
    );
  }
  const files = readdirSync(RFC9162_VECTORS, { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".json"))
    .map((name) => join(RFC9162_VECTORS, name))
    .sort();
  return files.map((path) => {
    const id = relative(RFC9162_VECTORS, path).split("\\").join("/");
    return {
      id,
      kind: /** @type {"inclusion" | "consistency"} */ (id.split("/")[0]),
      fields: parseWithBigSizes(readFileSync(path, "utf8")),
    };
  });
}

/**
 * JSON.parse, but with the integer fields of the vectors read as bigints: some are 2**64 - 1,
 * which a JavaScript number cannot hold exactly.
 * @param {string} text
 * @returns {any}
 */
function parseWithBigSizes(text) {
  const quoted = text.replace(/"(leafIdx|treeSize|size1|size2)":\s*(-?\d+)/g, '"$1": "$2"');
  const fields = JSON.parse(quoted);
  for (const key of ["leafIdx", "treeSize", "size1", "size2"]) {
    if (typeof fields[key] === "string") fields[key] = BigInt(fields[key]);
  }
  return fields;
}

/**
 * Decode standard base64 with node's Buffer (independent of the module under test).
 * @param {string} text
 * @returns {Uint8Array}
 */
export function b64(text) {
  return new Uint8Array(Buffer.from(text, "base64"));
}
