/**
 * The market page's wallet actions (/campaigns/{gcn}/market, rendered by
 * farmtrace/api/services/market_page.py, whose docstring lists the ids and data- attributes used
 * here): list one of the wallet's coupons, offer to buy a listing, withdraw one's own listing.
 * The page reads fully without this script; with no wallet in the browser it only says so.
 *
 * @module
 */

import { currentWallet } from "../wallet/keys.js";
import { holderCoupons } from "../wallet/api.js";
import { listCoupon, offerToBuy, withdraw } from "./client.js";
import { formatPrice, parsePrice, verifyListing } from "./listing.js";

const root = document.getElementById("market");
const lang = root?.dataset.lang === "zh" ? "zh" : "en";

const TEXT = {
  en: {
    wallet: (name, address) => `Wallet “${name}” (${address.slice(0, 16)}…)`,
    noCoupon: "You hold no active coupon of this campaign.",
    badPrice: (digits) => `Enter a price such as 48${digits ? "." + "0".repeat(digits) : ""}.`,
    listed: "Listed. It stays open until you withdraw it or the coupon moves.",
    offered: "Request sent. The seller sees your wallet address; agree on payment with them, then they transfer the coupon to you.",
    withdrawn: "Listing withdrawn.",
    refused: (detail) => `Refused: ${detail}`,
    working: "Signing…",
    signed: "Signed by the coupon's holder (checked in this browser)",
    unsigned: (problem) => `This listing does not check out: ${problem}`,
  },
  zh: {
    wallet: (name, address) => `钱包“${name}”（${address.slice(0, 16)}…）`,
    noCoupon: "你没有本众筹的有效产品券。",
    badPrice: (digits) => `请输入价格，例如 48${digits ? "." + "0".repeat(digits) : ""}。`,
    listed: "已挂单。在你撤下或券转移之前一直有效。",
    offered: "请求已发送。卖方能看到你的钱包地址；与卖方约定付款后，由卖方把券转给你。",
    withdrawn: "挂单已撤下。",
    refused: (detail) => `被拒绝：${detail}`,
    working: "正在签名…",
    signed: "由券的持有人签名（已在本浏览器中验证）",
    unsigned: (problem) => `此挂单验证失败：${problem}`,
  },
}[lang];

/** @param {string} text @param {"ok" | "error" | "working"} kind */
function say(text, kind) {
  const message = document.getElementById("market-message");
  if (!message) return;
  message.textContent = text;
  message.dataset.kind = kind;
}

/** @param {unknown} error */
function detail(error) {
  return error instanceof Error ? error.message : String(error);
}

/** @param {() => Promise<string>} action */
async function act(action) {
  say(TEXT.working, "working");
  try {
    say(await action(), "ok");
    return true;
  } catch (error) {
    say(TEXT.refused(detail(error)), "error");
    return false;
  }
}

/** Check every listing's signature on the page (open and ended) with WebCrypto. */
async function checkListings() {
  for (const item of document.querySelectorAll("li.listing")) {
    const li = /** @type {HTMLElement} */ (item);
    const d = li.dataset;
    const problem = await verifyListing({
      id: d.listing ?? "", coupon: d.coupon ?? "", state: d.state ?? "", seller: d.seller ?? "",
      amount: Number(d.amount), currency: d.currency ?? "", timeMs: Number(d.time), signature: d.signature ?? "",
    });
    li.dataset.verified = problem === null ? "yes" : "no";
    const line = li.querySelector("p.check");
    if (line) line.textContent = problem === null ? TEXT.signed : TEXT.unsigned(problem);
  }
}

async function start() {
  if (!root) return;
  try {
    await checkListings();
  } catch (error) {
    say(TEXT.refused(detail(error)), "error"); // e.g. no Ed25519 in this browser's WebCrypto
  }
  const gcn = root.dataset.campaign ?? "";
  const currency = root.dataset.currency ?? "";
  const digits = Number(root.dataset.digits ?? "2");
  const panel = document.getElementById("market-wallet");
  let wallet = null;
  try {
    wallet = await currentWallet();
  } catch {
    wallet = null; // no IndexedDB or no Ed25519 here: the page stays read-only
  }
  if (panel) panel.dataset.state = wallet ? "ready" : "none";
  if (!wallet) return;
  const name = document.getElementById("market-wallet-name");
  if (name) name.textContent = TEXT.wallet(wallet.name, wallet.address);

  for (const item of document.querySelectorAll("#market-open li.listing")) {
    const li = /** @type {HTMLElement} */ (item);
    const listing = li.dataset.listing ?? "";
    const offer = /** @type {HTMLButtonElement | null} */ (li.querySelector("button[data-action=offer]"));
    const pull = /** @type {HTMLButtonElement | null} */ (li.querySelector("button[data-action=withdraw]"));
    if (li.dataset.seller === wallet.address) {
      if (offer) offer.hidden = true;
      if (pull) {
        pull.hidden = false;
        pull.addEventListener("click", async () => {
          pull.disabled = true;
          if (await act(async () => (await withdraw(wallet, listing), TEXT.withdrawn))) {
            li.dataset.ended = "withdrawn";
            li.hidden = true;
          } else {
            pull.disabled = false;
          }
        });
      }
    } else if (offer) {
      offer.disabled = false;
      offer.addEventListener("click", async () => {
        offer.disabled = true;
        if (!(await act(async () => (await offerToBuy(wallet, listing), TEXT.offered)))) offer.disabled = false;
      });
    }
  }

  const form = /** @type {HTMLFormElement | null} */ (document.getElementById("list-form"));
  const select = /** @type {HTMLSelectElement | null} */ (document.getElementById("list-coupon"));
  const price = /** @type {HTMLInputElement | null} */ (document.getElementById("list-price"));
  const submit = /** @type {HTMLButtonElement | null} */ (document.getElementById("list-submit"));
  if (!form || !select || !price || !submit) return;
  price.placeholder = formatPrice(0, digits);
  let held = [];
  try {
    held = (await holderCoupons(wallet.address)).filter((c) => c.campaign === gcn && c.status === "active");
  } catch (error) {
    say(TEXT.refused(detail(error)), "error");
  }
  select.replaceChildren(...held.map((c) => new Option(c.coupon, c.coupon)));
  if (held.length === 0) {
    say(TEXT.noCoupon, "ok");
    return;
  }
  select.disabled = false;
  submit.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const amount = parsePrice(price.value, digits);
    if (amount === null) {
      say(TEXT.badPrice(digits), "error");
      price.focus();
      return;
    }
    submit.disabled = true;
    const done = await act(async () => (await listCoupon(wallet, select.value, amount, currency), TEXT.listed));
    submit.disabled = false;
    if (done) setTimeout(() => location.reload(), 800); // show the new listing as the server has it
  });
}

start();
