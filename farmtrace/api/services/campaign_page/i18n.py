# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The campaign and coupon pages' words in English and Chinese (the provenance page keeps its
own in :mod:`farmtrace.api.services.page.i18n`; the language switch's names come from there).

Values are :meth:`str.format` templates over plain-text arguments; the renderer escapes the
result, so templates hold no markup.
"""

from __future__ import annotations

from farmtrace.api.services.page.model import Lang

__all__ = ["TEXT", "money", "quantity", "t"]

TEXT: dict[str, tuple[str, str]] = {
    # key: (English, Chinese)
    "campaign_title": ("{product}: harvest campaign {gcn}", "{product}：预售活动 {gcn}"),
    "campaign_kicker": ("Harvest campaign", "预售活动"),
    "coupon_title": ("{product}: coupon {coupon}", "{product}：提货券 {coupon}"),
    "coupon_kicker": ("Product coupon", "提货券"),
    "by_farm": ("Grown by {farm}, lot {lot}", "{farm} 种植，批次 {lot}"),
    "terms_heading": ("Terms", "条款"),
    "terms_signed": (
        "The farm signed these terms in the campaign's first entry (SHA-256 {sha}).",
        "农场已在活动的第一条记录中签署这些条款（SHA-256 {sha}）。",
    ),
    "per_coupon": ("Each coupon", "每张券"),
    "price": ("Price per coupon", "每张券价格"),
    "deadline": ("Pledges close", "认购截止"),
    "delivery": ("Delivery", "交付期"),
    "delivery_window": ("{start} – {end}", "{start} 至 {end}"),
    "status": ("Status", "状态"),
    "status_open": ("Open for pledges", "认购中"),
    "status_funded": ("Funded", "已达成目标"),
    "status_failed": ("Failed: target not reached", "未达成目标"),
    "status_closed": ("Closed", "已结束"),
    "funding_heading": ("Funding", "认购进度"),
    "funding_line": (
        "{issued} coupons issued: target {target}, cap {cap}",
        "已发行 {issued} 张：目标 {target} 张，上限 {cap} 张",
    ),
    "funding_bar": ("{issued} of {cap} coupons issued", "上限 {cap} 张中已发行 {issued} 张"),
    "coupons_heading": ("Coupons", "提货券"),
    "issued": ("Issued", "已发行"),
    "outstanding": ("Outstanding", "未兑换"),
    "redeemed": ("Redeemed", "已兑换"),
    "voided": ("Void", "已作废"),
    "no_names": (
        "Only numbers are shown: nobody's name or contact is published.",
        "此处只显示数量，不公开任何人的姓名或联系方式。",
    ),
    "harvest_heading": ("Harvest", "采收"),
    "harvested": (
        "Harvested {quantity}: covers {covered} coupons.",
        "已采收 {quantity}，可兑付 {covered} 张券。",
    ),
    "not_harvested": ("Not harvested yet.", "尚未采收。"),
    "shortfall_heading": ("Shortfall decision", "短缺处理决定"),
    "shortfall_pro-rata": (
        "Not enough produce for every coupon: each outstanding coupon gets an equal share "
        "({quantity} for {coupons} coupons). {covered} covered, {uncovered} not covered.",
        "产量不足以兑付全部提货券：每张未兑换的券按比例平分（{coupons} 张券共 {quantity}）。"
        "可兑付 {covered} 张，不足 {uncovered} 张。",
    ),
    "shortfall_refund": (
        "Not enough produce for every coupon: {uncovered} coupons are voided and refunded, "
        "{covered} are covered in full.",
        "产量不足以兑付全部提货券：{uncovered} 张券作废并退款，{covered} 张全额兑付。",
    ),
    "fields_heading": ("Where it grows", "生长环境"),
    "lot_link": ("The lot's provenance page", "该批次的溯源页面"),
    "no_lot": (
        "The lot's records are not available yet.",
        "该批次的记录暂不可用。",
    ),
    "pledge_heading": ("Pledge", "认购"),
    "pledge_closed": (
        "This campaign takes no pledges now: {reason}.",
        "本活动目前不接受认购：{reason}。",
    ),
    "closed_status": ("it is {status}", "活动状态为“{status}”"),
    "closed_harvested": ("it is harvested already", "已经采收"),
    "closed_not-yet": ("pledges open {when}", "认购将于 {when} 开始"),
    "closed_deadline": ("pledges closed {when}", "认购已于 {when} 截止"),
    "closed_cap": ("every coupon up to the cap is issued", "已发行至上限"),
    "pledge_explain": (
        "Pledge with your browser wallet: coupons are issued to your wallet's key once the "
        "farm confirms your payment. Payment is arranged with the farm directly, outside "
        "farmtrace.",
        "使用浏览器钱包认购：农场确认收款后，提货券将发放到您钱包的密钥。付款由您与农场直接"
        "约定，不经过 farmtrace。",
    ),
    "pledge_count": ("Number of coupons", "认购张数"),
    "pledge_contact": (
        "Contact for the farm (optional, not published)",
        "给农场的联系方式（选填，不公开）",
    ),
    "pledge_delivery": ("Delivery address (optional, not published)", "收货地址（选填，不公开）"),
    "pledge_submit": ("Pledge", "认购"),
    "pledge_wallet": ("Wallet", "钱包"),
    "pledge_no_wallet": (
        "No wallet on this device yet. Create one first:",
        "此设备上还没有钱包，请先创建：",
    ),
    "wallet_link": ("Open the wallet", "打开钱包"),
    "pledge_needs_js": ("Pledging needs JavaScript.", "认购需要启用 JavaScript。"),
    "pledge_sending": ("Sending your pledge…", "正在提交认购…"),
    "pledge_done": (
        "Pledge {pledge} recorded for {count} coupons ({amount}). Arrange the payment with the "
        "farm, outside farmtrace; once the farm confirms it, the coupons are issued to your "
        "wallet.",
        "认购 {pledge} 已记录，共 {count} 张（{amount}）。请与农场在 farmtrace 之外约定付款；"
        "农场确认收款后，提货券将发放到您的钱包。",
    ),
    "pledge_refused": ("The pledge was refused: {reason}", "认购被拒绝：{reason}"),
    "market_link": ("Coupons offered by their holders", "持券人转让的提货券"),
    "campaign_proof": (
        "Check the whole campaign offline: download its bundle",
        "离线核验整个活动：下载证明包",
    ),
    "entitles_heading": ("What it entitles to", "可兑换"),
    "entitles": ("{quantity} of {product}", "{product} {quantity}"),
    "entitles_pro_rata": (
        "Under the shortfall decision: an equal share of {quantity} among {coupons} coupons.",
        "按短缺处理决定：{coupons} 张券平分 {quantity}。",
    ),
    "coupon_state": ("State", "状态"),
    "coupon_active": ("Active", "有效"),
    "coupon_redeemed": ("Redeemed", "已兑换"),
    "coupon_void": ("Void", "已作废"),
    "holder": ("Holder", "持有人"),
    "holder_help": (
        "A holder is named by the fingerprint of their wallet key, never by name.",
        "持有人以钱包密钥的指纹表示，不显示姓名。",
    ),
    "history_heading": ("History", "流转记录"),
    "h_issue": ("Issued", "发行"),
    "h_transfer": ("Transferred", "转让"),
    "h_redeem": ("Redeemed", "兑换"),
    "h_void": ("Voided", "作废"),
    "h_to": ("to {fingerprint}", "给 {fingerprint}"),
    "h_price": ("declared price {price}", "申报价格 {price}"),
    "h_no_price": ("no price declared", "未申报价格"),
    "h_anchored": ("anchored", "已上链"),
    "h_pending": ("pending anchoring", "等待上链"),
    "h_state": ("state", "状态哈希"),
    "campaign_link": ("The campaign", "所属活动"),
    # coupon badge
    "verify_heading": ("Proof", "验证"),
    "state_idle": (
        "The proof is checked in your browser. It needs JavaScript.",
        "验证在您的浏览器中进行，需要启用 JavaScript。",
    ),
    "state_verifying": ("Checking the proof on this device…", "正在本机验证…"),
    "state_verified": ("Verified on this device", "已在本机验证通过"),
    "state_pending": (
        "Verified so far; some records are still waiting to be anchored",
        "已验证的部分无误；部分记录尚在等待上链",
    ),
    "state_failed": ("Verification failed", "验证失败"),
    "state_unavailable": (
        "Could not check the proof here (download failed or this browser lacks WebCrypto)",
        "无法在本机验证（证明下载失败，或浏览器不支持 WebCrypto）",
    ),
    "check_checkpoint": ("Checkpoint signed by the published key", "检查点由公布的密钥签名"),
    "check_blocks": ("Block headers proven under the checkpoint", "区块头包含在检查点中"),
    "check_signatures": ("Every entry's signature", "每条记录的签名"),
    "check_batches": ("Every inclusion proof", "每条记录的包含证明"),
    "check_rules": ("The coupon's history follows the rules", "提货券流转符合规则"),
    "check_caps": (
        "The campaign's caps recounted from the campaign bundle",
        "根据活动证明包重新核算发行上限",
    ),
    "check_page": ("This page shows what was verified", "本页显示的内容与验证结果一致"),
    "proof_how": ("What was checked", "验证了哪些内容"),
    "verifier_lines": ("The verifier's report, line by line", "验证程序的逐行报告"),
    "download_coupon": ("Download the coupon's bundle", "下载提货券证明包"),
    "download_campaign": ("Download the campaign's bundle", "下载活动证明包"),
    "offline": (
        "Anyone can check both offline with the gateway's verifier key:",
        "任何人都可以用网关的验证密钥离线核验：",
    ),
    # not found / malformed
    "not_found_title": ("Not found", "未找到"),
    "not_found_campaign": (
        "No campaign {code} is recorded here.",
        "此处没有编号为 {code} 的活动。",
    ),
    "not_found_coupon": ("No coupon {code} is recorded here.", "此处没有编号为 {code} 的提货券。"),
    "malformed_title": ("Not a coupon code", "编号无效"),
    "malformed_text": ("{code} is not a valid code: {reason}", "{code} 不是有效编号：{reason}"),
}


def t(lang: Lang, key: str, **args: object) -> str:
    """The text ``key`` in ``lang`` with ``args`` filled in (KeyError for an unknown key)."""
    en, zh = TEXT[key]
    return (zh if lang == "zh" else en).format(**args)


_UNIT_WORDS: dict[str, tuple[str, str]] = {
    "KGM": ("kg", "公斤"),
    "GRM": ("g", "克"),
    "TNE": ("t", "吨"),
    "LBR": ("lb", "磅"),
    "ONZ": ("oz", "盎司"),
    "LTR": ("L", "升"),
    "MLT": ("mL", "毫升"),
    "H87": ("pieces", "件"),
    "EA": ("each", "个"),
    "DZN": ("dozen", "打"),
}


def quantity(lang: Lang, amount: int, unit: str) -> str:
    """``5 kg`` / ``5 公斤``; an unknown code is shown as itself."""
    en, zh = _UNIT_WORDS.get(unit, (unit, unit))
    return f"{amount} {zh}" if lang == "zh" else f"{amount}\u00a0{en}"


def money(amount: int, currency: str, digits: int) -> str:
    """``45.00 CNY`` from 4500 minor units of a currency with ``digits`` minor-unit digits."""
    if digits == 0:
        return f"{amount} {currency}"
    whole, minor = divmod(amount, 10**digits)
    return f"{whole}.{minor:0{digits}d}\u00a0{currency}"
