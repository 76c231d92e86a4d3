/**
 * The wallet page's words that the script shows (the page's own labels are server-rendered by
 * farmtrace/api/services/wallet_page.py), in English and Chinese. `say(lang, key, values)`
 * fills `{name}` placeholders.
 *
 * @module
 */

/** @type {Record<string, { en: string, zh: string }>} */
const TEXT = {
  created: { en: "Wallet “{name}” created.", zh: "已创建钱包“{name}”。" },
  selected: { en: "Now using wallet “{name}”.", zh: "当前钱包：“{name}”。" },
  deleteConfirm: {
    en: "Delete wallet “{name}” and its key from this browser? Coupons it holds are lost unless you have its backup file.",
    zh: "从此浏览器删除钱包“{name}”及其密钥？除非您有备份文件，否则其中的提货券将丢失。",
  },
  deleted: { en: "Wallet “{name}” deleted.", zh: "已删除钱包“{name}”。" },
  backupMismatch: { en: "The two passphrases differ.", zh: "两次输入的口令不一致。" },
  backupWorking: { en: "Encrypting the backup (this takes a few seconds)…", zh: "正在加密备份（需要几秒钟）…" },
  backupReady: {
    en: "Backup file ready: save it somewhere safe, away from this device.",
    zh: "备份文件已生成：请保存在本设备之外的安全位置。",
  },
  restoreNoFile: { en: "Choose the backup file first.", zh: "请先选择备份文件。" },
  restoreWorking: { en: "Decrypting the backup…", zh: "正在解密备份…" },
  restored: { en: "Wallet “{name}” restored.", zh: "已恢复钱包“{name}”。" },
  copied: { en: "Address copied.", zh: "地址已复制。" },
  copyFailed: { en: "Could not copy: select the address and copy it by hand.", zh: "无法复制：请手动选择并复制地址。" },
  loading: { en: "Loading coupons…", zh: "正在加载提货券…" },
  couponsFailed: { en: "Could not load coupons: {detail}", zh: "无法加载提货券：{detail}" },
  open: { en: "Open", zh: "查看" },
  send: { en: "Send", zh: "转让" },
  redeem: { en: "Redeem", zh: "兑换" },
  active: { en: "active", zh: "有效" },
  redeemed: { en: "redeemed", zh: "已兑换" },
  void: { en: "void", zh: "已作废" },
  moves: { en: "{moves} moves", zh: "已流转 {moves} 次" },
  noCoupon: { en: "Choose a coupon.", zh: "请选择提货券。" },
  badAddress: {
    en: "The recipient's address must be 64 hexadecimal digits (a wallet's public key).",
    zh: "收款人地址必须是 64 位十六进制数字（钱包公钥）。",
  },
  badPrice: {
    en: "The price must be a number with at most {digits} decimal places, and a currency such as CNY.",
    zh: "价格必须是最多 {digits} 位小数的数字，并填写币种（如 CNY）。",
  },
  badCurrency: { en: "Unknown currency code “{code}” (ISO 4217, e.g. CNY).", zh: "未知币种代码“{code}”（ISO 4217，如 CNY）。" },
  signing: { en: "Signing the transfer in this browser…", zh: "正在本浏览器中签名转让…" },
  accepted: {
    en: "Accepted: coupon {coupon} now belongs to {to} (move {move}). Waiting for it to be anchored…",
    zh: "已接受：提货券 {coupon} 现归 {to} 所有（第 {move} 次流转）。等待锚定…",
  },
  anchored: {
    en: "Anchored: the transfer of coupon {coupon} is in a signed checkpoint of the farm's chain.",
    zh: "已锚定：提货券 {coupon} 的转让已写入农场链的签名检查点。",
  },
  anchorWait: {
    en: "Accepted; not anchored yet ({detail}). It will be: look at the coupon's page later.",
    zh: "已接受，尚未锚定（{detail}）。稍后可在提货券页面查看。",
  },
  failed: { en: "Refused: {detail}", zh: "被拒绝：{detail}" },
  stale: {
    en: "Refused: coupon {coupon} changed after this page read it (sent or redeemed, perhaps from another tab or device), so this transfer was not made. The list of coupons is up to date again. The server said: {detail}",
    zh: "被拒绝：本页读取提货券 {coupon} 之后它已变化（可能已从另一个标签页或设备转让或兑换），因此本次转让没有生效。提货券列表已更新。服务器说明：{detail}",
  },
  redeemShown: {
    en: "Show this code to the farm at pickup. It stays valid while the coupon stays with you, unmoved.",
    zh: "取货时向农场出示此码。只要提货券仍在您这里且未流转，它就有效。",
  },
  scanUnavailable: { en: "The camera could not be used: {detail}", zh: "无法使用摄像头：{detail}" },
  scanned: { en: "Address scanned.", zh: "已扫描地址。" },
  scanNoAddress: { en: "That code holds no wallet address.", zh: "该二维码中没有钱包地址。" },
};

/**
 * The text for `key` in `lang` ("en" or "zh"), placeholders filled from `values`.
 * @param {string} lang
 * @param {string} key
 * @param {Record<string, string | number>} [values]
 * @returns {string}
 */
export function say(lang, key, values = {}) {
  const entry = TEXT[key];
  if (!entry) return key;
  const template = lang === "zh" ? entry.zh : entry.en;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
