// The browser wallet's keys and backup files (farmtrace/api/web/static/wallet/keys.js,
// backup.js) under node's WebCrypto, with the in-memory store in place of IndexedDB.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";

import {
  WalletError, createWallet, currentWallet, deleteWallet, listWallets, memoryStore, selectWallet, useStore,
} from "../../farmtrace/api/web/static/wallet/keys.js";
import {
  BACKUP_FORMAT, BackupError, PBKDF2_ITERATIONS, exportBackup, importBackup, parseBackup,
} from "../../farmtrace/api/web/static/wallet/backup.js";

const ed25519 = { name: "Ed25519" };
const fromHex = (text) => Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));

beforeEach(() => useStore(memoryStore()));

test("a new wallet has a 64-hex address, a non-extractable key, and becomes current", async () => {
  assert.equal(await currentWallet(), null);
  const wallet = await createWallet("  phone  ");
  assert.equal(wallet.name, "phone");
  assert.match(wallet.address, /^[0-9a-f]{64}$/);
  assert.equal(wallet.extractable, false);
  assert.equal(wallet.privateKey.extractable, false);
  await assert.rejects(crypto.subtle.exportKey("pkcs8", wallet.privateKey));
  assert.equal((await currentWallet())?.address, wallet.address);
});

test("a wallet signs with its key: the signature verifies under its address", async () => {
  const wallet = await createWallet("signer");
  const message = new TextEncoder().encode("FH\x01 test");
  const signature = await wallet.sign(message);
  assert.equal(signature.length, 64);
  const key = await crypto.subtle.importKey("raw", fromHex(wallet.address), ed25519, true, ["verify"]);
  assert.equal(await crypto.subtle.verify(ed25519, key, signature, message), true);
});

test("several wallets: listed oldest first, one current, select and delete", async () => {
  const a = await createWallet("a");
  const b = await createWallet("b", { extractable: true });
  let list = await listWallets();
  assert.deepEqual(list.map((w) => [w.name, w.current, w.extractable]), [["a", false, false], ["b", true, true]]);
  await selectWallet("a");
  assert.equal((await currentWallet())?.address, a.address);
  await deleteWallet("a");
  assert.equal(await currentWallet(), null);
  list = await listWallets();
  assert.deepEqual(list.map((w) => w.address), [b.address]);
});

test("names: taken, empty, too long and unknown are refused with the reason", async () => {
  await createWallet("same");
  await assert.rejects(createWallet("same"), { name: "WalletError", message: 'a wallet named "same" already exists' });
  await assert.rejects(createWallet("   "), { message: "a wallet needs a name" });
  await assert.rejects(createWallet("x".repeat(65)), { message: "a wallet name has at most 64 characters" });
  await assert.rejects(createWallet("a\nb"), { message: "a wallet name cannot hold control characters" });
  await assert.rejects(selectWallet("nobody"), WalletError);
  await assert.rejects(deleteWallet("nobody"), WalletError);
});

test("backup round trip: the restored wallet has the same address and signs the same bytes", async () => {
  const wallet = await createWallet("backed", { extractable: true });
  const text = await exportBackup(wallet, "correct horse battery");
  const file = JSON.parse(text);
  assert.equal(file.format, BACKUP_FORMAT);
  assert.equal(file.kdf.iterations, PBKDF2_ITERATIONS);
  assert.ok(PBKDF2_ITERATIONS >= 600_000);
  assert.equal(file.address, wallet.address);
  const message = new TextEncoder().encode("same bytes");
  const before = await wallet.sign(message);

  useStore(memoryStore()); // another browser
  const restored = await importBackup(text, "correct horse battery");
  assert.equal(restored.address, wallet.address);
  assert.equal(restored.name, "backed");
  assert.deepEqual(await restored.sign(message), before); // Ed25519 is deterministic
  assert.equal((await currentWallet())?.address, wallet.address);
  // The same backup again is a no-op; a clashing name gets " (restored)".
  assert.equal((await importBackup(text, "correct horse battery")).name, "backed");
  useStore(memoryStore());
  await createWallet("backed");
  assert.equal((await importBackup(text, "correct horse battery")).name, "backed (restored)");
});

test("backup: a wrong passphrase or an altered file restores nothing, with a clear error", async () => {
  const wallet = await createWallet("w", { extractable: true });
  const text = await exportBackup(wallet, "right passphrase", { iterations: 1000 });
  useStore(memoryStore());
  await assert.rejects(importBackup(text, "wrong passphrase"), {
    name: "BackupError", message: "wrong passphrase, or the backup file was altered: nothing was restored",
  });
  const file = JSON.parse(text);
  const other = (await createWallet("other")).address;
  await deleteWallet("other");
  await assert.rejects(importBackup(JSON.stringify({ ...file, address: other }), "right passphrase"), BackupError);
  assert.deepEqual(await listWallets(), []);
  await assert.rejects(importBackup("not json", "x"), { message: "this is not a wallet backup file (not JSON)" });
  await assert.rejects(importBackup("{}", "x"), /its format is not farmtrace-wallet-backup\/v1/);
  assert.throws(() => parseBackup(JSON.stringify({ ...file, cipher: { name: "AES-GCM", iv: "AAAA" } })), /iv is not 12 bytes/);
});

test("backup: a wallet made without backup allowed cannot be backed up; short passphrases are refused", async () => {
  const wallet = await createWallet("locked");
  await assert.rejects(exportBackup(wallet, "long enough phrase"), {
    name: "BackupError",
    message: 'wallet "locked" was made without backup allowed: its key cannot leave this browser, so it cannot be backed up',
  });
  const open = await createWallet("open", { extractable: true });
  await assert.rejects(exportBackup(open, "short"), { message: "the passphrase needs at least 8 characters" });
});
