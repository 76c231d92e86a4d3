// Test helper: assertions on the verifier's typed errors.
import assert from "node:assert/strict";

import { VERIFY_DIR } from "./vectors.mjs";

const { TlogError } = await import(new URL("errors.js", VERIFY_DIR).href);

/**
 * Assert that `promise` rejects (or `fn` throws) a TlogError with `code` and a matching message.
 * @param {Promise<unknown> | (() => unknown)} action
 * @param {string} code
 * @param {RegExp} [pattern]
 */
export async function rejectsWith(action, code, pattern = /./) {
  const check = (error) => {
    assert.ok(error instanceof TlogError, `expected a TlogError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  };
  if (typeof action === "function") assert.throws(action, check);
  else await assert.rejects(action, check);
}
