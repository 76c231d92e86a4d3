/**
 * The market panel of the /wallet page (`<section id="market-panel">`; wallet.js imports this
 * module and calls `mount(section, { lang, currentWallet, refresh })`). It shows the current
 * wallet's listings with the requests to buy each received, a "sell to this buyer" action that
 * signs the coupon's transfer to that buyer at the listed price (the wallet's own transfer
 * statement, ../wallet/statements.js), a withdraw action, and the listings the wallet offered on.
 *
 * Stable hooks: `#market-panel[data-market=ready|none|failed]`, `ul#market-selling` >
 * `li[data-listing]` with `button[data-action=withdraw]` and per offer `li[data-buyer]` with
 * `button[data-action=sell]` (two clicks: the first sets `data-armed="1"` and asks to confirm); `ul#market-offered` > `li[data-listing][data-ended]`;
 * `p#market-panel-message` (`data-kind` ok / error).
 *
 * @module
 */

import { sellTo, walletMarket, withdraw } from "./client.js";
import { formatPrice } from "./listing.js";
import { CURRENCIES } from "../verify/commerce.js";

const TEXT = {
  en: {
    heading: "Market",
    selling: "Your listings",
    offered: "Listings you asked to buy",
    none: "Nothing here yet.",
    open: "open",
    ended: { sold: "sold", moved: "coupon moved", withdrawn: "withdrawn", redeemed: "redeemed", void: "void" },
    offers: "Requests to buy",
    noOffers: "No request yet.",
    buyer: "buyer",
    sell: "Sell to this buyer",
    withdraw: "Withdraw",
    market: "Campaign market",
    sold: "Transferred to the buyer: the listing ends as sold.",
    withdrawn: "Listing withdrawn.",
    refused: (d) => `Refused: ${d}`,
    confirm: "Confirm: transfer the coupon to this buyer (only once they have paid you)",
  },
  zh: {
    heading: "市场",
    selling: "你的挂单",
    offered: "你请求购买的挂单",
    none: "暂无。",
    open: "进行中",
    ended: { sold: "已售出", moved: "券已转移", withdrawn: "已撤下", redeemed: "已兑换", void: "已作废" },
    offers: "购买请求",
    noOffers: "还没有请求。",
    buyer: "买方",
    sell: "卖给这位买方",
    withdraw: "撤下",
    market: "众筹市场",
    sold: "已转给买方：挂单以“已售出”结束。",
    withdrawn: "挂单已撤下。",
    refused: (d) => `被拒绝：${d}`,
    confirm: "确认：把券转给这位买方（请在收到付款后再操作）",
  },
};

/** @param {string} tag @param {Record<string, string>} [attrs] @param {(Node | string)[]} [children] */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** @param {{ amount: number, currency: string }} price */
function money(price) {
  return `${formatPrice(price.amount, CURRENCIES[price.currency] ?? 2)} ${price.currency}`;
}

/**
 * Fill `section` with the current wallet's side of the market.
 * @param {HTMLElement} section
 * @param {{ lang?: string, currentWallet: () => Promise<any>, refresh?: () => unknown,
 *   note?: [string, "ok" | "error"] | null }} context (`note`: a result to show after rebuilding)
 */
export async function mount(section, { lang = "en", currentWallet, refresh, note = null }) {
  const text = lang === "zh" ? TEXT.zh : TEXT.en;
  const wallet = await currentWallet();
  if (!wallet) {
    section.dataset.market = "none";
    section.replaceChildren();
    return;
  }
  const message = el("p", { id: "market-panel-message", role: "status", "aria-live": "polite" });
  /** @param {string} line @param {"ok" | "error"} kind */
  const say = (line, kind) => {
    message.textContent = line;
    message.dataset.kind = kind;
  };
  let data;
  try {
    data = await walletMarket(wallet.address);
  } catch (error) {
    section.dataset.market = "failed";
    section.replaceChildren(el("h2", {}, [text.heading]), el("p", {}, [text.refused(String(error?.message ?? error))]));
    return;
  }
  /** Rebuild from the API's answer, keeping the result just said. @param {[string, "ok" | "error"]} said */
  const again = async (said) => {
    await mount(section, { lang, currentWallet, refresh, note: said });
    if (refresh) await refresh();
  };

  const selling = el("ul", { id: "market-selling", class: "listings" });
  for (const listing of data.selling) {
    const status = listing.ended ? text.ended[listing.ended] ?? listing.ended : text.open;
    const item = el("li", { "data-listing": listing.id, "data-ended": listing.ended ?? "" }, [
      el("a", { href: `/campaigns/${listing.campaign}/market` }, [listing.coupon]),
      ` · ${money(listing.price)} · ${status}`,
    ]);
    if (!listing.ended) {
      const pull = el("button", { type: "button", "data-action": "withdraw" }, [text.withdraw]);
      pull.addEventListener("click", async () => {
        pull.setAttribute("disabled", "");
        try {
          await withdraw(wallet, listing.id);
          await again([text.withdrawn, "ok"]);
        } catch (error) {
          say(text.refused(String(error?.message ?? error)), "error");
          pull.removeAttribute("disabled");
        }
      });
      const offers = el("ul", { class: "offers", "aria-label": text.offers });
      for (const offer of listing.offers) {
        const sell = el("button", { type: "button", "data-action": "sell" }, [text.sell]);
        sell.addEventListener("click", async () => {
          // Two clicks, no dialog: the first arms the button and says what it will do.
          if (sell.dataset.armed !== "1") {
            sell.dataset.armed = "1";
            sell.textContent = text.confirm;
            return;
          }
          sell.setAttribute("disabled", "");
          try {
            await sellTo(wallet, listing, offer.buyer);
            await again([text.sold, "ok"]);
          } catch (error) {
            say(text.refused(String(error?.message ?? error)), "error");
            sell.removeAttribute("disabled");
          }
        });
        offers.append(
          el("li", { "data-buyer": offer.buyer }, [`${text.buyer} `, el("code", {}, [offer.buyer_fingerprint]), " ", sell]),
        );
      }
      item.append(" ", pull, el("p", {}, [text.offers]), listing.offers.length ? offers : el("p", {}, [text.noOffers]));
    }
    selling.append(item);
  }
  const offered = el("ul", { id: "market-offered", class: "listings" });
  for (const listing of data.offered) {
    const status = listing.ended ? text.ended[listing.ended] ?? listing.ended : text.open;
    offered.append(
      el("li", { "data-listing": listing.id, "data-ended": listing.ended ?? "" }, [
        el("a", { href: `/campaigns/${listing.campaign}/market` }, [listing.coupon]),
        ` · ${money(listing.price)} · ${status}`,
      ]),
    );
  }
  section.replaceChildren(
    el("h2", {}, [text.heading]),
    message,
    el("h3", {}, [text.selling]),
    data.selling.length ? selling : el("p", {}, [text.none]),
    el("h3", {}, [text.offered]),
    data.offered.length ? offered : el("p", {}, [text.none]),
  );
  if (note) say(note[0], note[1]);
  section.dataset.market = "ready";
}
