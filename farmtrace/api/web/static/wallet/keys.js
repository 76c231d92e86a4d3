/**
 * The browser wallet's keys: named Ed25519 wallets made with WebCrypto, one of them current.
 *
 * A wallet is an Ed25519 key pair. Its **address** is the raw public key in 64 lowercase hex
 * digits, as the API and `farmtrace wallet` name a holder (docs/wallet.md). The private key is a
 * WebCrypto CryptoKey made **non-extractable** unless the wallet was created with backup allowed
 * (`{extractable: true}`): then no script, this page's included, can read it, and the wallet
 * cannot be backed up either: losing the browser's storage loses its coupons.
 *
 * Storage sits behind a small adapter (`useStore`): in the browser an IndexedDB database
 * `farmtrace-wallet` (object stores `wallets`, keyed by name, holding the CryptoKey objects by
 * structured clone, and `settings`, holding which wallet is current); `memoryStore()` for tests
 * and for browsers without IndexedDB (nothing then survives a reload).
 *
 * Contract: every function is async; refusals throw WalletError whose message names what was
 * wrong (a name already taken, an unknown wallet, no WebCrypto Ed25519 in this browser).
 *
 * @module
 */

import { toHex } from "../verify/bytes.js";

export const DB_NAME = "farmtrace-wallet";
const DB_VERSION = 1;
const MAX_NAME = 64;
const ED25519 = { name: "Ed25519" };

/** A refused wallet action; `message` says what was wrong. */
export class WalletError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "WalletError";
  }
}

/**
 * @typedef {{ name: string, address: string, privateKey: CryptoKey, publicKey: CryptoKey,
 *   extractable: boolean, created: number }} WalletRecord
 * @typedef {{ get(name: string): Promise<WalletRecord | undefined>, put(record: WalletRecord): Promise<void>,
 *   delete(name: string): Promise<void>, all(): Promise<WalletRecord[]>,
 *   getCurrent(): Promise<string | null>, setCurrent(name: string | null): Promise<void> }} WalletStore
 * @typedef {{ name: string, address: string, extractable: boolean, created: number,
 *   privateKey: CryptoKey, sign(bytes: Uint8Array): Promise<Uint8Array> }} Wallet
 */

// -- storage adapters --------------------------------------------------------------------------

/** A store in memory (tests; browsers without IndexedDB). @returns {WalletStore} */
export function memoryStore() {
  /** @type {Map<string, WalletRecord>} */
  const wallets = new Map();
  /** @type {string | null} */
  let current = null;
  return {
    get: async (name) => wallets.get(name),
    put: async (record) => {
      wallets.set(record.name, record);
    },
    delete: async (name) => {
      wallets.delete(name);
    },
    all: async () => [...wallets.values()],
    getCurrent: async () => current,
    setCurrent: async (name) => {
      current = name;
    },
  };
}

/** @template T @param {IDBRequest<T>} request @returns {Promise<T>} */
const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/**
 * The IndexedDB store (database `farmtrace-wallet`).
 * @param {IDBFactory} [factory]
 * @returns {WalletStore}
 */
export function indexedDbStore(factory = globalThis.indexedDB) {
  /** @type {Promise<IDBDatabase> | null} */
  let opening = null;
  const db = () => {
    opening ??= new Promise((resolve, reject) => {
      const request = factory.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        request.result.createObjectStore("wallets", { keyPath: "name" });
        request.result.createObjectStore("settings");
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new WalletError("the wallet's storage is blocked by another tab of this page"));
    });
    return opening;
  };
  /** @param {string} name @param {IDBTransactionMode} mode */
  const store = async (name, mode) => (await db()).transaction(name, mode).objectStore(name);
  return {
    get: async (name) => done((await store("wallets", "readonly")).get(name)),
    put: async (record) => {
      await done((await store("wallets", "readwrite")).put(record));
    },
    delete: async (name) => {
      await done((await store("wallets", "readwrite")).delete(name));
    },
    all: async () => done((await store("wallets", "readonly")).getAll()),
    getCurrent: async () => (await done((await store("settings", "readonly")).get("current"))) ?? null,
    setCurrent: async (name) => {
      await done((await store("settings", "readwrite")).put(name, "current"));
    },
  };
}

/** @type {WalletStore | null} */
let activeStore = null;

/** Use `store` for every wallet function from now on (tests give `memoryStore()`). @param {WalletStore} store */
export function useStore(store) {
  activeStore = store;
}

/** @returns {WalletStore} */
function storage() {
  activeStore ??= globalThis.indexedDB ? indexedDbStore() : memoryStore();
  return activeStore;
}

// -- keys --------------------------------------------------------------------------------------

/** @returns {SubtleCrypto} */
function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new WalletError("this browser offers no WebCrypto on this page (it needs https or localhost)");
  return s;
}

/** @param {unknown} error @returns {never} */
function noEd25519(error) {
  if (error instanceof Error && error.name === "NotSupportedError") {
    throw new WalletError("this browser cannot make Ed25519 keys with WebCrypto (Chrome 137, Firefox 129, Safari 17 or later can)");
  }
  throw error;
}

/**
 * A wallet name: 1 to 64 characters after trimming, no control characters.
 * @param {unknown} name
 * @returns {string}
 */
export function checkName(name) {
  if (typeof name !== "string") throw new WalletError("a wallet name must be text");
  const trimmed = name.trim();
  if (trimmed.length === 0) throw new WalletError("a wallet needs a name");
  if ([...trimmed].length > MAX_NAME) throw new WalletError(`a wallet name has at most ${MAX_NAME} characters`);
  if (/\p{Cc}/u.test(trimmed)) throw new WalletError("a wallet name cannot hold control characters");
  return trimmed;
}

/** @param {CryptoKey} publicKey @returns {Promise<string>} */
export async function addressOf(publicKey) {
  return toHex(new Uint8Array(await subtle().exportKey("raw", publicKey)));
}

/** @param {WalletRecord} record @returns {Wallet} */
function walletOf(record) {
  const { name, address, extractable, created, privateKey } = record;
  return {
    name,
    address,
    extractable,
    created,
    privateKey,
    sign: async (bytes) => new Uint8Array(await subtle().sign(ED25519, privateKey, bytes)),
  };
}

/**
 * Store a key pair as a new wallet (creation and restore from a backup use this).
 * @param {string} name
 * @param {{ privateKey: CryptoKey, publicKey: CryptoKey }} keys
 * @param {{ makeCurrent?: boolean }} [options]
 * @returns {Promise<Wallet>}
 */
export async function adoptKeys(name, { privateKey, publicKey }, { makeCurrent = true } = {}) {
  const checked = checkName(name);
  const store = storage();
  if (await store.get(checked)) throw new WalletError(`a wallet named "${checked}" already exists`);
  /** @type {WalletRecord} */
  const record = {
    name: checked,
    address: await addressOf(publicKey),
    privateKey,
    publicKey,
    extractable: privateKey.extractable,
    created: Date.now(),
  };
  await store.put(record);
  if (makeCurrent) await store.setCurrent(checked);
  return walletOf(record);
}

/**
 * Make a new wallet and make it the current one. The private key is non-extractable unless
 * `extractable` (backup allowed).
 * @param {string} name
 * @param {{ extractable?: boolean }} [options]
 * @returns {Promise<Wallet>}
 */
export async function createWallet(name, { extractable = false } = {}) {
  const checked = checkName(name);
  if (await storage().get(checked)) throw new WalletError(`a wallet named "${checked}" already exists`);
  /** @type {CryptoKeyPair} */
  let pair;
  try {
    pair = /** @type {CryptoKeyPair} */ (await subtle().generateKey(ED25519, extractable, ["sign", "verify"]));
  } catch (error) {
    noEd25519(error);
  }
  return adoptKeys(checked, pair);
}

/**
 * Every wallet, oldest first: name, address, whether it can be backed up, and which is current.
 * @returns {Promise<{ name: string, address: string, extractable: boolean, created: number, current: boolean }[]>}
 */
export async function listWallets() {
  const store = storage();
  const current = await store.getCurrent();
  const all = await store.all();
  all.sort((a, b) => a.created - b.created || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return all.map(({ name, address, extractable, created }) => ({
    name, address, extractable, created, current: name === current,
  }));
}

/** The wallet named `name`, or null. @param {string} name @returns {Promise<Wallet | null>} */
export async function getWallet(name) {
  const record = await storage().get(name);
  return record ? walletOf(record) : null;
}

/** The current wallet, or null when there is none. @returns {Promise<Wallet | null>} */
export async function currentWallet() {
  const name = await storage().getCurrent();
  return name === null ? null : getWallet(name);
}

/** Make the wallet named `name` current. @param {string} name @returns {Promise<Wallet>} */
export async function selectWallet(name) {
  const wallet = await getWallet(name);
  if (wallet === null) throw new WalletError(`no wallet named "${name}" in this browser`);
  await storage().setCurrent(name);
  return wallet;
}

/**
 * Delete the wallet named `name` and its key, for good. When it was current, no wallet is
 * current afterwards.
 * @param {string} name
 */
export async function deleteWallet(name) {
  const store = storage();
  if (!(await store.get(name))) throw new WalletError(`no wallet named "${name}" in this browser`);
  await store.delete(name);
  if ((await store.getCurrent()) === name) await store.setCurrent(null);
}
