/**
 * The wallet page's script (/wallet; the HTML and its ids are farmtrace/api/services/wallet_page.py's,
 * whose docstring is the contract end-to-end tests rely on).
 *
 * Everything secret stays in this browser: keys are made and used through keys.js, statements
 * signed through statements.js, and only signed statements go to the API (api.js). Errors are
 * shown in `#wallet-message` in the page's language, with the server's own detail text.
 *
 * @module
 */

import { CURRENCIES, CommerceError, MAX_INT } from "../verify/commerce.js";
import { ApiError, getCoupon, holderCoupons, postTransfer, waitAnchored } from "./api.js";
import { exportBackup, importBackup } from "./backup.js";
import { WalletError, createWallet, currentWallet, deleteWallet, listWallets, selectWallet } from "./keys.js";
import { qrSvg } from "./qr.js";
import { parseCouponView, redeemStatement, transferStatement } from "./statements.js";
import { say } from "./text.js";

/** @param {string} id @returns {any} */
const $ = (id) => /** @type {any} */ (document.getElementById(id));
const main = $("wallet");
const lang = main?.dataset.lang === "zh" ? "zh" : "en";
/** @param {string} key @param {Record<string, string | number>} [values] */
const t = (key, values) => say(lang, key, values);

/** @type {import("./keys.js").Wallet | null} */
let wallet = null;
/** @type {any[]} */
let coupons = [];

// -- messages and busy state --------------------------------------------------------------------

/** @param {string} text @param {"ok" | "error" | ""} [kind] */
function message(text, kind = "ok") {
  const box = $("wallet-message");
  box.textContent = text;
  box.dataset.kind = kind;
}

/** @param {unknown} error @returns {string} */
function reason(error) {
  if (error instanceof ApiError || error instanceof WalletError || error instanceof CommerceError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Run an action with the page marked busy; its error becomes the message.
 * @param {() => Promise<void>} action
 */
async function run(action) {
  if (main.hasAttribute("data-busy")) return;
  main.setAttribute("data-busy", "");
  for (const b of document.querySelectorAll("form button[type=submit]")) /** @type {HTMLButtonElement} */ (b).disabled = true;
  try {
    await action();
  } catch (error) {
    message(reason(error), "error");
  } finally {
    main.removeAttribute("data-busy");
    for (const b of document.querySelectorAll("form button[type=submit]")) /** @type {HTMLButtonElement} */ (b).disabled = false;
  }
}

// -- rendering ----------------------------------------------------------------------------------

/** @param {Element} box @param {string} svg */
function putSvg(box, svg) {
  const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
  box.replaceChildren(document.importNode(doc.documentElement, true));
}

async function render() {
  const wallets = await listWallets();
  wallet = await currentWallet();
  const select = $("wallet-select");
  select.replaceChildren(
    ...wallets.map((w) => {
      const option = document.createElement("option");
      option.value = w.name;
      option.textContent = w.name;
      option.selected = w.current;
      return option;
    }),
  );
  $("wallet-none").hidden = wallets.length > 0;
  $("wallet-current").hidden = wallet === null;
  for (const id of ["receive", "coupons", "send", "redeem"]) $(id).hidden = wallet === null;
  main.dataset.state = wallet === null ? "empty" : "ready";
  disarmDelete();
  if (wallet === null) {
    $("backup-form").hidden = true;
    $("backup-locked").hidden = true;
    $("wallet-address").textContent = "";
    $("wallet-address").dataset.address = "";
    return;
  }
  $("wallet-address").textContent = wallet.address;
  $("wallet-address").dataset.address = wallet.address;
  $("receive-address").textContent = wallet.address;
  putSvg($("receive-qr"), qrSvg(wallet.address, { title: wallet.address }));
  $("backup-form").hidden = !wallet.extractable;
  $("backup-locked").hidden = wallet.extractable;
  $("backup-download").hidden = true;
  await loadCoupons();
}

async function loadCoupons() {
  if (wallet === null) return;
  const list = $("coupon-list");
  list.setAttribute("aria-busy", "true");
  try {
    coupons = await holderCoupons(wallet.address);
  } catch (error) {
    coupons = [];
    message(t("couponsFailed", { detail: reason(error) }), "error");
  } finally {
    list.removeAttribute("aria-busy");
  }
  list.replaceChildren(...coupons.map(couponItem));
  $("coupons-none").hidden = coupons.length > 0;
  const active = coupons.filter((c) => c.status === "active");
  // Send and redeem need an active coupon; a result being shown keeps its section in view.
  $("send").hidden = active.length === 0 && $("send-result").dataset.state === "idle";
  $("redeem").hidden = active.length === 0 && $("redeem-result").dataset.state === "idle";
  for (const id of ["send-coupon", "redeem-coupon"]) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(
      ...active.map((c) => {
        const option = document.createElement("option");
        option.value = c.coupon;
        option.textContent = c.coupon;
        option.selected = c.coupon === keep;
        return option;
      }),
    );
  }
}

/** @param {any} c @returns {HTMLLIElement} */
function couponItem(c) {
  const li = document.createElement("li");
  li.dataset.coupon = c.coupon;
  li.dataset.status = c.status;
  li.dataset.state = c.state;
  li.dataset.moves = String(c.moves);
  const link = document.createElement("a");
  link.className = "coupon-link";
  link.href = `/255/${encodeURIComponent(c.coupon)}`;
  link.textContent = c.coupon;
  const status = document.createElement("span");
  status.className = `status ${c.status}`;
  status.textContent = `${t(c.status)} · ${t("moves", { moves: c.moves })}`;
  li.append(link, status);
  if (c.status === "active") {
    for (const action of ["send", "redeem"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.dataset.action = action;
      button.textContent = t(action);
      button.setAttribute("aria-label", `${t(action)} ${c.coupon}`);
      button.addEventListener("click", () => {
        $(`${action}-coupon`).value = c.coupon;
        $(action).scrollIntoView({ block: "start" });
        $(action === "send" ? "send-to" : "redeem-submit").focus();
      });
      li.append(button);
    }
  }
  return li;
}

// -- wallets ------------------------------------------------------------------------------------

/** Ask the browser not to evict this site's storage (the keys) under storage pressure. */
async function keepStorage() {
  try {
    await navigator.storage?.persist?.();
  } catch {
    // Not granted or not offered: the loss warning and the backup are what protects the keys.
  }
}

function disarmDelete() {
  const button = $("wallet-delete");
  if (button.dataset.armed) {
    delete button.dataset.armed;
    button.textContent = button.dataset.label;
  }
}

function wireWallets() {
  $("create-form").addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    run(async () => {
      const made = await createWallet($("create-name").value, { extractable: $("create-backup").checked });
      $("create-name").value = "";
      $("create-backup").checked = false;
      await keepStorage();
      await render();
      message(t("created", { name: made.name }));
    });
  });
  $("wallet-select").addEventListener("change", () => {
    run(async () => {
      const chosen = await selectWallet($("wallet-select").value);
      await render();
      message(t("selected", { name: chosen.name }));
    });
  });
  const remove = $("wallet-delete");
  remove.dataset.label = remove.textContent;
  remove.addEventListener("click", () => {
    if (wallet === null) return;
    if (!remove.dataset.armed) {
      // Two presses, no dialog: the first says what deleting means.
      remove.dataset.armed = "1";
      remove.textContent = `${remove.dataset.label} ✓`;
      message(t("deleteConfirm", { name: wallet.name }), "error");
      return;
    }
    const name = wallet.name;
    run(async () => {
      await deleteWallet(name);
      await render();
      message(t("deleted", { name }));
    });
  });
  $("backup-new").addEventListener("click", () => {
    $("create-backup").checked = true;
    $("wallets").scrollIntoView({ block: "start" });
    $("create-name").focus();
  });
}

// -- backup and restore -------------------------------------------------------------------------

/** @type {string | null} */
let backupUrl = null;

function wireBackup() {
  $("backup-form").addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    run(async () => {
      if (wallet === null) return;
      const pass = $("backup-passphrase").value;
      if (pass !== $("backup-confirm").value) throw new WalletError(t("backupMismatch"));
      message(t("backupWorking"));
      const text = await exportBackup(wallet, pass);
      if (backupUrl) URL.revokeObjectURL(backupUrl);
      backupUrl = URL.createObjectURL(new Blob([text], { type: "application/json" }));
      const link = $("backup-download");
      link.href = backupUrl;
      link.download = `farmtrace-wallet-${wallet.name.replace(/[^\p{L}\p{N}._-]+/gu, "-")}.json`;
      link.hidden = false;
      $("backup-passphrase").value = "";
      $("backup-confirm").value = "";
      link.focus();
      message(t("backupReady"));
    });
  });
  $("restore-form").addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    run(async () => {
      const file = $("restore-file").files?.[0];
      if (!file) throw new WalletError(t("restoreNoFile"));
      message(t("restoreWorking"));
      const restored = await importBackup(await file.text(), $("restore-passphrase").value);
      $("restore-passphrase").value = "";
      $("restore-file").value = "";
      await keepStorage();
      await render();
      message(t("restored", { name: restored.name }));
    });
  });
}

// -- receive ------------------------------------------------------------------------------------

function wireReceive() {
  $("receive-copy").addEventListener("click", async () => {
    if (wallet === null) return;
    try {
      await navigator.clipboard.writeText(wallet.address);
      message(t("copied"));
    } catch {
      const range = document.createRange();
      range.selectNodeContents($("receive-address"));
      getSelection()?.removeAllRanges();
      getSelection()?.addRange(range);
      message(t("copyFailed"), "error");
    }
  });
  $("coupons-refresh").addEventListener("click", () => run(loadCoupons));
}

// -- send ---------------------------------------------------------------------------------------

/** @param {string} text @returns {string | null} */
function addressIn(text) {
  const match = /(?:^|[^0-9a-fA-F])([0-9a-fA-F]{64})(?:$|[^0-9a-fA-F])/.exec(text.trim());
  return match ? match[1].toLowerCase() : null;
}

/**
 * The declared price from the form, in minor units; null when no amount is given.
 * @returns {{ amount: number, currency: string } | null}
 */
function priceOf() {
  const amountText = $("send-price-amount").value.trim();
  if (amountText === "") return null;
  const code = $("send-price-currency").value.trim().toUpperCase();
  if (!Object.hasOwn(CURRENCIES, code)) throw new WalletError(t("badCurrency", { code }));
  const digits = CURRENCIES[code];
  const match = /^([0-9]+)(?:[.,]([0-9]+))?$/.exec(amountText);
  if (!match || (match[2] ?? "").length > digits) throw new WalletError(t("badPrice", { digits }));
  const minor = BigInt(match[1]) * 10n ** BigInt(digits) + BigInt((match[2] ?? "").padEnd(digits, "0") || "0");
  if (minor > BigInt(MAX_INT)) throw new WalletError(t("badPrice", { digits }));
  return { amount: Number(minor), currency: code };
}

function wireSend() {
  const result = $("send-result");
  /** @param {string} state @param {string} text */
  const show = (state, text) => {
    result.dataset.state = state;
    result.textContent = text;
  };
  $("send-form").addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    run(async () => {
      if (wallet === null) return;
      const coupon = $("send-coupon").value;
      try {
        if (!coupon) throw new WalletError(t("noCoupon"));
        const to = addressIn($("send-to").value);
        if (to === null) throw new WalletError(t("badAddress"));
        const price = priceOf();
        show("signing", t("signing"));
        delete result.dataset.statementState;
        const head = parseCouponView(coupon, await getCoupon(coupon));
        const signed = await transferStatement(head, wallet, to, { price });
        const after = await postTransfer(coupon, signed.base64);
        result.dataset.statementState = signed.state;
        show("accepted", t("accepted", { coupon, to: `${to.slice(0, 16)}…`, move: after.moves }));
        message(t("accepted", { coupon, to: `${to.slice(0, 16)}…`, move: after.moves }));
        $("send-to").value = "";
        await loadCoupons();
        // Only while this transfer is still the one shown (another send replaces it).
        const current = () => result.dataset.statementState === signed.state;
        waitAnchored(coupon, signed.state)
          .then(() => current() && show("anchored", t("anchored", { coupon })))
          .catch((error) => current() && show("accepted", t("anchorWait", { detail: reason(error) })));
      } catch (error) {
        // 409: the coupon's head moved since this page read it (spent from another tab or
        // device, or redeemed): say so plainly, and show the coupons as they are now.
        const stale = error instanceof ApiError && error.status === 409;
        show("failed", t(stale ? "stale" : "failed", { coupon, detail: reason(error) }));
        await loadCoupons();
        throw error;
      }
    });
  });
  wireScanner();
}

function wireScanner() {
  const button = $("send-scan");
  const video = $("send-video");
  const Detector = /** @type {any} */ (globalThis).BarcodeDetector;
  if (!Detector || !navigator.mediaDevices?.getUserMedia) return; // paste only
  button.hidden = false;
  const label = button.textContent;
  /** @type {MediaStream | null} */
  let stream = null;
  const stop = () => {
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
    video.hidden = true;
    video.srcObject = null;
    button.textContent = label;
  };
  button.addEventListener("click", async () => {
    if (stream) {
      stop();
      return;
    }
    try {
      const detector = new Detector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      video.srcObject = stream;
      video.hidden = false;
      button.textContent = button.dataset.stop;
      await video.play();
      const tick = async () => {
        if (!stream) return;
        const codes = await detector.detect(video).catch(() => []);
        for (const code of codes) {
          const address = addressIn(String(code.rawValue ?? ""));
          if (address) {
            $("send-to").value = address;
            stop();
            message(t("scanned"));
            return;
          }
          message(t("scanNoAddress"), "error");
        }
        setTimeout(tick, 250);
      };
      tick();
    } catch (error) {
      stop();
      message(t("scanUnavailable", { detail: reason(error) }), "error");
    }
  });
}

// -- redeem -------------------------------------------------------------------------------------

function wireRedeem() {
  const result = $("redeem-result");
  $("redeem-form").addEventListener("submit", (/** @type {Event} */ event) => {
    event.preventDefault();
    run(async () => {
      if (wallet === null) return;
      const coupon = $("redeem-coupon").value;
      try {
        if (!coupon) throw new WalletError(t("noCoupon"));
        const head = parseCouponView(coupon, await getCoupon(coupon));
        const signed = await redeemStatement(head, wallet);
        putSvg($("redeem-qr"), qrSvg(signed.base64, { title: `redeem ${coupon}` }));
        $("redeem-text").value = signed.base64;
        $("redeem-text-field").hidden = false;
        result.dataset.state = "shown";
        result.dataset.coupon = coupon;
        message(t("redeemShown"));
      } catch (error) {
        result.dataset.state = "failed";
        $("redeem-qr").replaceChildren();
        $("redeem-text").value = "";
        $("redeem-text-field").hidden = true;
        throw error;
      }
    });
  });
}

// -- the market's panel -------------------------------------------------------------------------

async function loadMarketPanel() {
  const section = $("market-panel");
  const url = section?.dataset.module;
  if (!url) return;
  try {
    const probe = await fetch(url, { method: "HEAD", cache: "no-store" });
    if (!probe.ok) return; // the market is not installed: nothing to show
    const mod = await import(url);
    section.hidden = false;
    if (typeof mod.mount === "function") {
      await mod.mount(section, { lang, currentWallet, refresh: () => run(render) });
    }
    section.dataset.state = "loaded";
  } catch (error) {
    section.dataset.state = "failed";
    section.dataset.error = reason(error);
  }
}

// -- start --------------------------------------------------------------------------------------

async function ed25519Available() {
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

async function start() {
  if (!main) return;
  if (!globalThis.crypto?.subtle || !(await ed25519Available())) {
    main.dataset.state = "unsupported";
    $("wallet-unsupported").hidden = false;
    for (const id of ["wallets", "backup"]) $(id).hidden = true;
    return;
  }
  wireWallets();
  wireBackup();
  wireReceive();
  wireSend();
  wireRedeem();
  await run(render);
  loadMarketPanel();
}

start();
