// Test helper: Ed25519 note signing on node:crypto, independent of the verifier under test
// (which only verifies, on WebCrypto).
import { createHash, createPrivateKey, createPublicKey, sign } from "node:crypto";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

/**
 * A deterministic Ed25519 note signer named `name`, its seed derived from `name` and `label`.
 * @param {string} name
 * @param {string} [label]
 */
export function makeSigner(name, label = "") {
  const seed = createHash("sha256").update(`${name}/${label}`).digest();
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  const typed = Buffer.concat([Buffer.from([1]), publicKey]);
  const keyId = createHash("sha256").update(`${name}\n`).update(typed).digest().readUInt32BE(0);
  const hexId = keyId.toString(16).padStart(8, "0");
  return {
    name,
    publicKey,
    keyId,
    vkey: `${name}+${hexId}+${typed.toString("base64")}`,
    /** The raw signature of a note text. */
    signature: (text) => new Uint8Array(sign(null, Buffer.from(text, "utf8"), privateKey)),
    /** A signature line for `text` (optionally with another key ID or signature). */
    line(text, { id = keyId, signature = null } = {}) {
      const sig = signature ?? sign(null, Buffer.from(text, "utf8"), privateKey);
      const blob = Buffer.alloc(4 + sig.length);
      blob.writeUInt32BE(id, 0);
      Buffer.from(sig).copy(blob, 4);
      return `\u2014 ${name} ${blob.toString("base64")}\n`;
    },
  };
}

/**
 * A signed note of `text` by each signer, in order.
 * @param {string} text
 * @param {ReturnType<typeof makeSigner>[]} signers
 */
export function signNote(text, signers) {
  return `${text}\n${signers.map((s) => s.line(text)).join("")}`;
}
