/**
 * The browser wallet's backup file: its Ed25519 seed encrypted under a passphrase, in WebCrypto
 * only (docs/wallet.md, "The browser wallet", specifies the format).
 *
 * ```json
 * {"format": "farmtrace-wallet-backup/v1", "name": "...", "address": "<64 hex>",
 *  "kdf": {"name": "PBKDF2", "hash": "SHA-256", "iterations": 600000, "salt": "<base64, 16 bytes>"},
 *  "cipher": {"name": "AES-GCM", "iv": "<base64, 12 bytes>"},
 *  "ciphertext": "<base64: the 32-byte seed encrypted, and the 16-byte tag>"}
 * ```
 *
 * The key is PBKDF2-HMAC-SHA-256 of the passphrase (UTF-8 of its NFC form) with a random salt,
 * 600,000 iterations (OWASP's figure for PBKDF2-SHA-256), 256 bits, used as an AES-256-GCM key
 * with a random 96-bit IV; the additional data is `farmtrace-wallet-backup/v1 <address>`, so a
 * file whose address was changed does not decrypt. The plaintext is the 32-byte seed, the same
 * secret `farmtrace wallet export` prints in hex.
 *
 * Only a wallet made with backup allowed (extractable key) can be backed up: WebCrypto never
 * reveals a non-extractable key, which is the point of one. Refusals throw BackupError naming
 * what was wrong; a wrong passphrase and an altered file are one error (AES-GCM cannot tell them
 * apart).
 *
 * @module
 */

import { decodeBase64, encodeBase64 } from "../verify/base64.js";
import { toHex, utf8Encode } from "../verify/bytes.js";
import { adoptKeys, listWallets, getWallet, WalletError } from "./keys.js";

export const BACKUP_FORMAT = "farmtrace-wallet-backup/v1";
export const PBKDF2_ITERATIONS = 600_000;
export const MIN_PASSPHRASE = 8;
const SALT_BYTES = 16;
const IV_BYTES = 12;
// The PKCS #8 (RFC 8410) wrapping of an Ed25519 seed: these 16 bytes, then the 32-byte seed.
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** A backup that cannot be made or restored; `message` says why. */
export class BackupError extends WalletError {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "BackupError";
  }
}

/** @param {string} passphrase @param {Uint8Array} salt @param {number} iterations */
async function deriveKey(passphrase, salt, iterations) {
  const secret = /** @type {Uint8Array} */ (utf8Encode(passphrase.normalize("NFC")));
  const base = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

/** @param {string} address */
const additionalData = (address) => /** @type {Uint8Array} */ (utf8Encode(`${BACKUP_FORMAT} ${address}`));

/** @param {unknown} passphrase @returns {string} */
function checkPassphrase(passphrase) {
  if (typeof passphrase !== "string" || [...passphrase].length < MIN_PASSPHRASE) {
    throw new BackupError(`the passphrase needs at least ${MIN_PASSPHRASE} characters`);
  }
  return passphrase;
}

/**
 * The backup file's text for `wallet` (a wallet of keys.js), encrypted under `passphrase`.
 * @param {{ name: string, address: string, privateKey: CryptoKey }} wallet
 * @param {string} passphrase
 * @param {{ iterations?: number }} [options] iterations: tests only; never below the default in use
 * @returns {Promise<string>}
 */
export async function exportBackup(wallet, passphrase, { iterations = PBKDF2_ITERATIONS } = {}) {
  checkPassphrase(passphrase);
  if (!wallet.privateKey.extractable) {
    throw new BackupError(
      `wallet "${wallet.name}" was made without backup allowed: its key cannot leave this browser, so it cannot be backed up`,
    );
  }
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", wallet.privateKey));
  if (pkcs8.length !== 48 || PKCS8_PREFIX.some((b, i) => pkcs8[i] !== b)) {
    throw new BackupError("the browser exported the key in a form this wallet does not know");
  }
  const seed = pkcs8.slice(16);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const key = await deriveKey(passphrase, salt, iterations);
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: additionalData(wallet.address) }, key, seed),
  );
  seed.fill(0);
  pkcs8.fill(0);
  const file = {
    format: BACKUP_FORMAT,
    name: wallet.name,
    address: wallet.address,
    kdf: { name: "PBKDF2", hash: "SHA-256", iterations, salt: encodeBase64(salt) },
    cipher: { name: "AES-GCM", iv: encodeBase64(iv) },
    ciphertext: encodeBase64(sealed),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/**
 * @param {unknown} value @param {string} field @param {number} size
 * @returns {Uint8Array}
 */
function base64Field(value, field, size) {
  const bytes = typeof value === "string" ? decodeBase64(value) : null;
  if (bytes === null || bytes.length !== size) throw new BackupError(`the backup file's ${field} is not ${size} bytes of base64`);
  return bytes;
}

/**
 * Parse a backup file's text strictly; BackupError naming the first bad field.
 * @param {string} text
 */
export function parseBackup(text) {
  /** @type {any} */
  let file;
  try {
    file = JSON.parse(text);
  } catch {
    throw new BackupError("this is not a wallet backup file (not JSON)");
  }
  if (file === null || typeof file !== "object" || file.format !== BACKUP_FORMAT) {
    throw new BackupError(`this is not a wallet backup file (its format is not ${BACKUP_FORMAT})`);
  }
  if (typeof file.address !== "string" || !/^[0-9a-f]{64}$/.test(file.address)) {
    throw new BackupError("the backup file's address is not 64 lowercase hex digits");
  }
  const kdf = file.kdf ?? {};
  if (kdf.name !== "PBKDF2" || kdf.hash !== "SHA-256") throw new BackupError("the backup file's kdf is not PBKDF2 with SHA-256");
  if (!Number.isSafeInteger(kdf.iterations) || kdf.iterations < 1 || kdf.iterations > 100_000_000) {
    throw new BackupError("the backup file's kdf iterations are not a usable count");
  }
  if ((file.cipher ?? {}).name !== "AES-GCM") throw new BackupError("the backup file's cipher is not AES-GCM");
  return {
    name: typeof file.name === "string" ? file.name : "",
    address: /** @type {string} */ (file.address),
    iterations: /** @type {number} */ (kdf.iterations),
    salt: base64Field(kdf.salt, "salt", SALT_BYTES),
    iv: base64Field(file.cipher.iv, "iv", IV_BYTES),
    ciphertext: base64Field(file.ciphertext, "ciphertext", 32 + 16),
  };
}

/**
 * Decrypt a backup file; its key pair (extractable: a restored wallet can be backed up again)
 * and what the file says.
 * @param {string} text
 * @param {string} passphrase
 */
export async function openBackup(text, passphrase) {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new BackupError("enter the backup's passphrase");
  const file = parseBackup(text);
  const key = await deriveKey(passphrase, file.salt, file.iterations);
  /** @type {Uint8Array} */
  let seed;
  try {
    seed = new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: file.iv, additionalData: additionalData(file.address) }, key, file.ciphertext),
    );
  } catch {
    throw new BackupError("wrong passphrase, or the backup file was altered: nothing was restored");
  }
  const pkcs8 = new Uint8Array(48);
  pkcs8.set(PKCS8_PREFIX);
  pkcs8.set(seed, 16);
  seed.fill(0);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  pkcs8.fill(0);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  const raw = decodeBase64(String(jwk.x).replace(/-/g, "+").replace(/_/g, "/").padEnd(44, "="));
  if (raw === null || toHex(raw) !== file.address) {
    throw new BackupError("the backup file's key does not match its address: nothing was restored");
  }
  const publicKey = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, true, ["verify"]);
  return { name: file.name, address: file.address, privateKey, publicKey };
}

/**
 * Restore a backup file as a wallet of this browser and make it current. A wallet with the same
 * address already here is returned as it is; a name already taken gets " (restored)" added.
 * @param {string} text
 * @param {string} passphrase
 * @param {{ name?: string }} [options] name: the restored wallet's name (default: the file's)
 */
export async function importBackup(text, passphrase, { name } = {}) {
  const opened = await openBackup(text, passphrase);
  const wallets = await listWallets();
  const same = wallets.find((w) => w.address === opened.address);
  if (same) return /** @type {import("./keys.js").Wallet} */ (await getWallet(same.name));
  const base = [...((name ?? opened.name).trim() || "restored")].slice(0, 48).join("");
  const taken = new Set(wallets.map((w) => w.name));
  let wanted = base;
  for (let n = 1; taken.has(wanted); n++) wanted = `${base} (restored${n > 1 ? ` ${n}` : ""})`;
  return adoptKeys(wanted, opened);
}
