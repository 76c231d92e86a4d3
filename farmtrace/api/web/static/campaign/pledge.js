/**
 * The campaign page's pledge form, with the browser wallet: the wallet's address becomes the
 * pledge's holder, and the pledge is POSTed as JSON with fetch (the page's CSP has
 * `form-action 'none'`: forms never submit by themselves).
 *
 * Reads `#pledge-form`, `#pledge-wallet` and `#pledge-result` as rendered by
 * farmtrace/api/services/campaign_page/render.py (its docstring holds the contract). The wallet
 * is `/static/wallet/keys.js`'s `currentWallet()` (`{name, address, sign}` or null), loaded on
 * demand so that the page still says what to do when there is no wallet module or no wallet.
 * Text comes from the page's templates, filled with textContent.
 *
 * @module
 */

const WALLET_MODULE = "/static/wallet/keys.js";

/**
 * The pledge's JSON body: the holder's address and the count, and contact and delivery only
 * when given (trimmed; empty means left out).
 * @param {string} holder the wallet's address (64 lowercase hex digits)
 * @param {string | number} count
 * @param {string} [contact]
 * @param {string} [delivery]
 * @returns {{ holder: string, count: number, contact?: string, delivery?: string }}
 */
export function pledgeBody(holder, count, contact = "", delivery = "") {
  /** @type {{ holder: string, count: number, contact?: string, delivery?: string }} */
  const body = { holder, count: Number(count) };
  if (contact.trim() !== "") body.contact = contact.trim();
  if (delivery.trim() !== "") body.delivery = delivery.trim();
  return body;
}

/**
 * An amount of minor units as people read it: `formatMoney(9000, "CNY", 2)` is `90.00 CNY`.
 * @param {number} amount @param {string} currency @param {number} digits
 */
export function formatMoney(amount, currency, digits) {
  if (digits === 0) return `${amount} ${currency}`;
  const scale = 10 ** digits;
  const whole = Math.floor(amount / scale);
  const minor = String(amount % scale).padStart(digits, "0");
  return `${whole}.${minor}\u00a0${currency}`;
}

/**
 * The reason an API error answer gives (`{"error", "detail"}`; a schema failure's detail is a
 * list of fields).
 * @param {unknown} answer @param {number} status
 */
export function refusalReason(answer, status) {
  const detail = answer !== null && typeof answer === "object" ? /** @type {any} */ (answer).detail : undefined;
  if (typeof detail === "string" && detail !== "") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => (d && typeof d === "object" ? `${(d.loc ?? []).join(".")}: ${d.msg ?? ""}` : String(d)))
      .join("; ");
  }
  return `HTTP ${status}`;
}

/**
 * @param {string} template @param {Record<string, string | number>} values
 */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** The wallet on this device, or null (no wallet module, or no wallet made yet). */
async function wallet() {
  try {
    const keys = await import(WALLET_MODULE);
    return (await keys.currentWallet()) ?? null;
  } catch {
    return null;
  }
}

/** @param {HTMLFormElement} form */
async function run(form) {
  const box = /** @type {HTMLElement} */ (document.getElementById("pledge-wallet"));
  const result = /** @type {HTMLElement} */ (document.getElementById("pledge-result"));
  const submit = /** @type {HTMLButtonElement} */ (document.getElementById("pledge-submit"));
  result.textContent = "";
  const current = await wallet();
  for (const p of box.querySelectorAll("[data-wallet]")) {
    /** @type {HTMLElement} */ (p).hidden = /** @type {HTMLElement} */ (p).dataset.wallet !== (current ? "ready" : "none");
  }
  if (!current) {
    form.dataset.wallet = "none";
    return;
  }
  form.dataset.wallet = "ready";
  const who = /** @type {HTMLElement} */ (box.querySelector(".who"));
  who.textContent = `${current.name ?? ""} ${String(current.address).slice(0, 16)}…`.trim();
  submit.disabled = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const count = /** @type {HTMLInputElement} */ (document.getElementById("pledge-count")).value;
    const contact = /** @type {HTMLInputElement} */ (document.getElementById("pledge-contact")).value;
    const delivery = /** @type {HTMLTextAreaElement} */ (document.getElementById("pledge-delivery")).value;
    submit.disabled = true;
    result.dataset.state = "sending";
    result.textContent = result.dataset.sending ?? "";
    try {
      const response = await fetch(form.dataset.pledgeUrl ?? "", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(pledgeBody(current.address, count, contact, delivery)),
      });
      const answer = await response.json().catch(() => null);
      if (response.status !== 201) {
        result.dataset.state = "refused";
        result.textContent = fill(result.dataset.refused ?? "", { reason: refusalReason(answer, response.status) });
        return;
      }
      result.dataset.state = "done";
      result.dataset.pledge = answer.pledge;
      result.textContent = fill(result.dataset.done ?? "", {
        pledge: answer.pledge,
        count: answer.count,
        amount: formatMoney(answer.amount, answer.currency, Number(form.dataset.digits ?? "2")),
      });
    } catch (error) {
      result.dataset.state = "refused";
      result.textContent = fill(result.dataset.refused ?? "", { reason: /** @type {Error} */ (error).message });
    } finally {
      submit.disabled = false;
    }
  });
}

if (typeof document !== "undefined") {
  const form = document.getElementById("pledge-form");
  if (form) void run(/** @type {HTMLFormElement} */ (form));
}
