// Runs the market's browser client (static/market/client.js) with a fake fetch and an Ed25519
// key from a seed, and prints the requests it would send, for tests/api/test_market_js.py to
// post to the real API. Input: the JSON file named by MARKET_CLIENT_CASE:
//   { seed: hex, action: "list" | "offer" | "withdraw" | "sell", coupon, view, amount,
//     currency, listing, buyer }
import { readFileSync } from "node:fs";

const MARKET = new URL("../../farmtrace/api/web/static/market/", import.meta.url);
const client = await import(new URL("client.js", MARKET).href);

const input = JSON.parse(readFileSync(process.env.MARKET_CLIENT_CASE, "utf8"));
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const seed = Buffer.from(input.seed, "hex");
const pub = Buffer.from(input.address, "hex");
const privateKey = await crypto.subtle.importKey(
  "jwk", { kty: "OKP", crv: "Ed25519", d: b64url(seed), x: b64url(pub) }, { name: "Ed25519" }, false, ["sign"],
);
const wallet = {
  address: input.address,
  sign: async (bytes) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, bytes)),
};

const sent = [];
globalThis.fetch = async (url, init = {}) => {
  const method = init.method ?? "GET";
  if (method === "GET") return new Response(JSON.stringify(input.view), { status: 200 });
  sent.push({ method, url: String(url), body: JSON.parse(init.body) });
  return new Response(JSON.stringify({ ok: true }), { status: 200 });
};

if (input.action === "list") await client.listCoupon(wallet, input.coupon, input.amount, input.currency);
else if (input.action === "offer") await client.offerToBuy(wallet, input.listing);
else if (input.action === "withdraw") await client.withdraw(wallet, input.listing);
else if (input.action === "sell") {
  await client.sellTo(wallet, { coupon: input.coupon, price: { amount: input.amount, currency: input.currency } }, input.buyer);
} else throw new Error(`unknown action ${input.action}`);
process.stdout.write(JSON.stringify(sent));
