/**
 * The few API calls the browser wallet makes (docs/api.md, docs/wallet.md), with the same origin
 * as the page unless `configureApi` says otherwise.
 *
 * Every call resolves to the answer's JSON or throws ApiError carrying the HTTP status and the
 * server's own `detail` text (e.g. a 409 naming the coupon's current head), so the page shows
 * the server's words; a network failure is ApiError with status 0.
 *
 * @module
 */

/** A refused or failed API call: `status` (0: no answer) and the server's `detail`. */
export class ApiError extends Error {
  /** @param {number} status @param {string} detail @param {string} [code] */
  constructor(status, detail, code = "") {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
    this.code = code;
  }
}

let base = "";
/** @type {typeof fetch} */
let fetcher = (...args) => globalThis.fetch(...args);

/**
 * Use another API origin or fetch function (tests).
 * @param {{ base?: string, fetch?: typeof fetch }} options
 */
export function configureApi(options) {
  if (options.base !== undefined) base = options.base.replace(/\/+$/, "");
  if (options.fetch !== undefined) fetcher = options.fetch;
}

/**
 * @param {unknown} body
 * @param {number} status
 * @returns {string}
 */
function detailOf(body, status) {
  if (body && typeof body === "object") {
    const detail = /** @type {any} */ (body).detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      // FastAPI's validation errors: "field: message" for each.
      return detail.map((d) => `${(d.loc ?? []).filter((/** @type {unknown} */ p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
    }
  }
  return `the API answered ${status}`;
}

/**
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<any>}
 */
async function call(path, init = {}) {
  /** @type {Response} */
  let response;
  try {
    response = await fetcher(`${base}${path}`, {
      ...init,
      headers: { Accept: "application/json", ...(init.headers ?? {}) },
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `the API could not be reached (${error instanceof Error ? error.message : String(error)})`);
  }
  /** @type {unknown} */
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const code = body && typeof body === "object" && typeof (/** @type {any} */ (body).error) === "string" ? /** @type {any} */ (body).error : "";
    throw new ApiError(response.status, detailOf(body, response.status), code);
  }
  if (body === null) throw new ApiError(response.status, "the API's answer was not JSON");
  return body;
}

/** One coupon's view (holder, state, moves, status, history). @param {string} coupon */
export const getCoupon = (coupon) => call(`/v1/coupons/${encodeURIComponent(coupon)}`);

/** The coupons `address` holds now (any status). @param {string} address @param {{ limit?: number }} [options] */
export const holderCoupons = (address, { limit = 500 } = {}) =>
  call(`/v1/coupons?holder=${encodeURIComponent(address)}&limit=${limit}`);

/** One campaign's view. @param {string} gcn */
export const getCampaign = (gcn) => call(`/v1/campaigns/${encodeURIComponent(gcn)}`);

/**
 * Post a signed transfer statement (base64); the coupon's new head `{coupon, state, moves, holder}`.
 * @param {string} coupon
 * @param {string} statementB64
 */
export const postTransfer = (coupon, statementB64) =>
  call(`/v1/coupons/${encodeURIComponent(coupon)}/transfers`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ statement: statementB64 }),
  });

/**
 * Poll the coupon until the entry that made `state` is anchored (in a signed checkpoint).
 * Resolves to the coupon view; rejects with ApiError on a refused read, or when `timeoutMs`
 * passes (status 0, "not anchored yet").
 * @param {string} coupon
 * @param {string} state
 * @param {{ intervalMs?: number, timeoutMs?: number, signal?: AbortSignal }} [options]
 */
export async function waitAnchored(coupon, state, { intervalMs = 2000, timeoutMs = 10 * 60_000, signal } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const view = await getCoupon(coupon);
    const item = (view.history ?? []).find((/** @type {any} */ h) => h.state === state);
    if (item?.anchored) return view;
    if (signal?.aborted) throw new ApiError(0, "stopped waiting for the anchor");
    if (Date.now() + intervalMs > until) throw new ApiError(0, `coupon ${coupon}'s move is not anchored yet`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
