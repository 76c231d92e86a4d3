# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The community page's words in English and Chinese; every visible string of the page, and of
its member view (handed to ``/static/community/member.js`` in the page), comes from here.

Values are :meth:`str.format` templates over plain-text arguments; the renderer escapes the
result, so templates hold no markup. Numbers are formatted here too: whole tokens with thousands
separators, money from integer minor units (never a float).
"""

from __future__ import annotations

from fractions import Fraction

from farmtrace.api.services.page.model import Lang

__all__ = ["MEMBER_WORDS", "TEXT", "money", "per_token", "share", "t", "tokens"]

TEXT: dict[str, tuple[str, str]] = {
    # key: (English, Chinese)
    "title": ("{name}: a value community", "{name}：价值社区"),
    "kicker": ("Value community {community}", "价值社区 {community}"),
    "lede": (
        "A co-operative ledger: members earn tokens by rule and share the surplus. Every mint, "
        "transfer and distribution is a signed entry on a public chain, so anyone can recompute "
        "them from the rules.",
        "合作式账本：成员按规则获得通证，并分享盈余。每一次铸造、转让和分配都是公开链上的签名记录，"
        "任何人都可以依据规则重新计算。",
    ),
    "fig_supply": ("Supply", "总量"),
    "fig_members": ("Members holding tokens", "持有通证的成员"),
    "fig_members_value": ("{count} keys (no names are recorded)", "{count} 个密钥（不记录姓名）"),
    "fig_rules": ("Rules in force", "现行规则"),
    "fig_rules_value": ("version {version}, since {date}", "第 {version} 版，自 {date} 起"),
    "fig_entries": ("Signed entries", "签名记录"),
    "fig_entries_value": (
        "{count}, of which {anchored} anchored on the chain",
        "{count} 条，其中 {anchored} 条已上链",
    ),
    # supply
    "supply_heading": ("Supply over time", "通证总量变化"),
    "supply_chart_title": ("Token supply over time", "通证总量随时间变化"),
    "supply_chart_desc": (
        "The supply rose from {first} to {last} {symbol} between {start} and {end}; "
        "{distributions} distributions are marked.",
        "{start} 至 {end} 期间，总量由 {first} 增至 {last} {symbol}；图中标出 {distributions} 次分配。",
    ),
    "supply_one_point": (
        "One entry so far: the supply is {supply} {symbol}.",
        "目前只有一条记录：总量为 {supply} {symbol}。",
    ),
    "made_heading": ("Where the supply came from", "总量的来源"),
    "made_rules": ("Initial allocation at founding", "创立时的初始分配"),
    "made_deposit": ("Deposits (consumption mining)", "充值（消费挖矿）"),
    "made_service": ("Services (service mining)", "服务（服务挖矿）"),
    "made_work": ("Work hours", "工时"),
    "made_pledge": ("Campaign pledges", "众筹认购"),
    "made_distribution": ("Reinvested surplus", "盈余再投资"),
    "made_row": ("{tokens} {symbol} from {count} entries", "{tokens} {symbol}，共 {count} 条记录"),
    "made_row_one": ("{tokens} {symbol} from one entry", "{tokens} {symbol}，共 1 条记录"),
    "sum_check": (
        "The supply equals the sum of all balances: {supply} {symbol}.",
        "总量等于全部余额之和：{supply} {symbol}。",
    ),
    "utc_note": ("Times are in UTC.", "时间均为协调世界时 (UTC)。"),
    # distributions
    "dist_heading": ("Distributions of the surplus", "盈余分配"),
    "dist_none": ("No distribution yet.", "尚无分配。"),
    "dist_dividend": (
        "Dividend: {surplus} paid out pro rata to {holders} holders",
        "现金分红：{surplus} 按持有比例分给 {holders} 位持有人",
    ),
    "dist_reinvest": (
        "Reinvested: a surplus of {surplus} bought {tokens} {symbol}, minted pro rata to "
        "{holders} holders",
        "再投资：盈余 {surplus} 按参考价折合 {tokens} {symbol}，按持有比例铸造给 {holders} 位持有人",
    ),
    "dist_period": (
        "Period {start} – {end}, entry {n}, rules version {version}",
        "期间 {start} – {end}，第 {n} 条记录，规则第 {version} 版",
    ),
    "dist_rounding": (
        "Each holder's part is rounded down; the units left over go one each to the largest "
        "remainders, ties to the lowest address, so the parts always sum to the total exactly.",
        "每位持有人的份额向下取整；剩余的单位按余数从大到小逐一分配（余数相同时给地址较小者），"
        "因此各份额之和恰好等于总额。",
    ),
    # rules
    "rules_heading": ("The rules in force", "现行规则"),
    "rules_version": (
        "Version {version}, in force from entry {n} ({date}) on; never applied backwards.",
        "第 {version} 版，自第 {n} 条记录（{date}）起生效，不追溯既往。",
    ),
    "rules_token": ("Token", "通证"),
    "rules_token_value": ("{name} ({symbol})", "{name}（{symbol}）"),
    "rules_price": ("Reference price", "参考价"),
    "rules_price_value": (
        "{amount} buys {tokens} {symbol}: {per} per token",
        "{amount} 可购 {tokens} {symbol}：每枚 {per}",
    ),
    "rules_margin": ("Margin assumption", "毛利假设"),
    "rules_margin_value": (
        "cost is {share} of revenue (used for a service recorded without its cost)",
        "成本为收入的 {share}（用于未记录成本的服务）",
    ),
    "rules_initial": ("Initial issue", "首次发行"),
    "rules_initial_value": (
        "{supply} {symbol} allocated to {count} keys at founding",
        "创立时向 {count} 个密钥分配 {supply} {symbol}",
    ),
    "rules_mint": ("Mint rules", "铸造规则"),
    "mint_deposit": (
        "Deposit (consumption mining): tokens worth {share} of the deposit at the reference "
        "price. A deposit of {example} mints {minted} {symbol}.",
        "充值（消费挖矿）：获得价值为充值额 {share} 的通证（按参考价）。充值 {example} 铸造 {minted} {symbol}。",
    ),
    "mint_service": (
        "Service (service mining): tokens worth {share} of the service's profit (revenue minus "
        "cost) to the professional. A {example} service with cost {cost} mints {minted} {symbol}.",
        "服务（服务挖矿）：提供服务者获得价值为该服务利润（收入减成本）{share} 的通证。"
        "收入 {example}、成本 {cost} 的服务铸造 {minted} {symbol}。",
    ),
    "mint_work_tokens": (
        "Work hours: {rate} {symbol} per hour, counted in minutes. An hour mints {minted} {symbol}.",
        "工时：每小时 {rate} {symbol}，按分钟计。一小时铸造 {minted} {symbol}。",
    ),
    "mint_work_money": (
        "Work hours: tokens worth {rate} per hour at the reference price, counted in minutes. "
        "An hour mints {minted} {symbol}.",
        "工时：每小时获得价值 {rate} 的通证（按参考价），按分钟计。一小时铸造 {minted} {symbol}。",
    ),
    "mint_pledge": (
        "Campaign pledge: a backer's confirmed pledge mints tokens worth {share} of it. A pledge "
        "of {example} mints {minted} {symbol}.",
        "众筹认购：支持者的认购一经确认，获得价值为认购额 {share} 的通证。认购 {example} 铸造 {minted} {symbol}。",
    ),
    "mint_none": (
        "No mint rules: the supply grows only by reinvestment.",
        "无铸造规则：总量只通过再投资增加。",
    ),
    "mint_rounding": (
        "Every mint is computed exactly and rounded down once to whole tokens; the fraction "
        "below is not minted.",
        "每次铸造均精确计算，最后一次性向下取整为整枚，不足一枚的部分不铸造。",
    ),
    "rules_surplus": ("Surplus", "盈余"),
    "surplus_dividend": (
        "paid out in money, pro rata to the balances held",
        "以现金按持有比例分红",
    ),
    "surplus_reinvest": (
        "reinvested: it buys tokens at the reference price, minted pro rata to the balances held",
        "再投资：按参考价折合为通证，按持有比例铸造",
    ),
    "rules_operator": ("Operator key", "运营方密钥"),
    "rules_hash": ("Rules document SHA-256", "规则文件 SHA-256"),
    "rules_words": ("The rules in words", "规则原文"),
    "rules_earlier": ("Earlier versions", "以往版本"),
    "rules_earlier_item": (
        "Version {version}: from entry {n} ({date}); surplus {surplus}; mint rules: {kinds}",
        "第 {version} 版：自第 {n} 条记录（{date}）起；盈余{surplus}；铸造规则：{kinds}",
    ),
    "kind_deposit": ("deposit", "充值"),
    "kind_service": ("service", "服务"),
    "kind_work": ("work", "工时"),
    "kind_pledge": ("pledge", "认购"),
    "kinds_none": ("none", "无"),
    "word_dividend": ("paid out", "现金分红"),
    "word_reinvest": ("reinvested", "再投资"),
    # member view
    "member_heading": ("My statement", "我的账单"),
    "member_intro": (
        "Your wallet's statement is downloaded and checked here, in your browser: every entry of "
        "the community is replayed with the rules, so your balance and shares are recomputed, "
        "not taken from the server.",
        "您的钱包账单在本机浏览器中下载并验证：社区的每条记录都依规则重放，您的余额和份额是重新计算的，"
        "而非采信服务器。",
    ),
    "mstate_idle": (
        "The check runs in your browser. It needs JavaScript.",
        "验证在您的浏览器中进行，需要启用 JavaScript。",
    ),
    "mstate_nowallet": (
        "There is no wallet in this browser. Create or restore one on the wallet page.",
        "此浏览器中没有钱包。请在钱包页面创建或恢复。",
    ),
    "mstate_loading": ("Downloading and checking your statement…", "正在下载并验证您的账单…"),
    "mstate_notmember": (
        "This wallet's address holds no tokens of this community and never did.",
        "此钱包地址在本社区中没有、也从未有过通证。",
    ),
    "mstate_verified": ("Verified on this device", "已在本机验证通过"),
    "mstate_pending": (
        "Verified; some entries are still waiting to be anchored on the chain",
        "已验证；部分记录尚在等待上链",
    ),
    "mstate_failed": ("Verification failed", "验证失败"),
    "mstate_unavailable": (
        "Could not check the statement here (download failed or this browser lacks WebCrypto)",
        "无法在本机验证（账单下载失败，或浏览器不支持 WebCrypto）",
    ),
    "wallet_link": ("Open the wallet", "打开钱包"),
    "member_wallet": ("Wallet", "钱包"),
    "member_balance": ("Balance", "余额"),
    "member_share": ("Share of the supply", "占总量比例"),
    "member_earned": ("How each token was earned", "每枚通证的来历"),
    "member_parts": ("My part of each distribution", "我在每次分配中的份额"),
    "member_parts_none": ("No distribution has included you yet.", "尚无分配包含您。"),
    "member_checked": ("What was checked", "验证了什么"),
    "member_download": ("Download the statement (JSON)", "下载账单 (JSON)"),
    "check_checkpoint": ("Checkpoint signed by the published key", "检查点由公开密钥签名"),
    "check_blocks": ("Block headers in the chain", "链中的区块头"),
    "check_entries": ("Every entry decodes strictly", "每条记录严格解码"),
    "check_batches": (
        "Every anchored entry is in its block (Merkle proofs)",
        "每条已上链记录都在其区块中（Merkle 证明）",
    ),
    "check_claims": ("The statement's own fields", "账单自身的字段"),
    "check_rules": (
        "Every mint, transfer and distribution recomputed from the rules; supply = sum of balances",
        "依规则重算每次铸造、转让与分配；总量 = 余额之和",
    ),
    "check_member": ("Your address appears in the entries", "您的地址出现在记录中"),
    "check_page": (
        "The figures on this page are the ones verified (same entries)",
        "本页所示数字与验证结果一致（同样的记录）",
    ),
    "offline_heading": ("Check it yourself, offline", "自行离线验证"),
    "offline_text": (
        "Download a member's statement and verify it with the farmtrace command line; it "
        "replays the same rules and prints each step.",
        "下载成员账单，用 farmtrace 命令行验证；它依同样的规则重放并打印每一步。",
    ),
    # errors and footer
    "not_found_title": ("Community not found", "未找到社区"),
    "not_found_heading": ("No such community", "没有这个社区"),
    "not_found_text": (
        "No community {community} is recorded here.",
        "这里没有社区 {community} 的记录。",
    ),
    "malformed_title": ("Not a community ID", "不是社区编号"),
    "malformed_heading": ("This is not a community ID", "这不是社区编号"),
    "malformed_text": ("{reason}", "{reason}"),
    "footer_generated": ("Page made {time}.", "页面生成于 {time}。"),
    "footer_api": ("The same data as JSON: {path}", "同样的数据（JSON）：{path}"),
}

MEMBER_WORDS: dict[str, tuple[str, str]] = {
    # The member view's words, read by /static/community/member.js from the page; templates
    # over {placeholders} it fills with textContent.
    "line_rules": (
        "Initial allocation (rules version {version})",
        "初始分配（规则第 {version} 版）",
    ),
    "line_deposit": ("Deposit of {amount}", "充值 {amount}"),
    "line_service": ("Service: revenue {revenue}", "服务：收入 {revenue}"),
    "line_service_cost": (
        "Service: revenue {revenue}, cost {cost}",
        "服务：收入 {revenue}，成本 {cost}",
    ),
    "line_work": ("Work: {minutes} minutes", "工时：{minutes} 分钟"),
    "line_pledge": ("Pledge of {amount} to campaign {campaign}", "向众筹 {campaign} 认购 {amount}"),
    "line_sent": ("Sent to {who}", "转给 {who}"),
    "line_received": ("Received from {who}", "收到来自 {who}"),
    "line_reinvest": (
        "Reinvested surplus of {surplus} (distribution at entry {n})",
        "盈余 {surplus} 再投资（第 {n} 条记录的分配）",
    ),
    "line_entry": ("entry {n}, {date}", "第 {n} 条记录，{date}"),
    "part_dividend": (
        "Dividend at entry {n}: {part} of {total}",
        "第 {n} 条记录的分红：{total} 中的 {part}",
    ),
    "part_reinvest": (
        "Reinvested at entry {n}: {part} of {total} {symbol}",
        "第 {n} 条记录的再投资：{total} {symbol} 中的 {part} {symbol}",
    ),
    "balance_value": ("{balance} {symbol}", "{balance} {symbol}"),
    "share_value": ("{percent} % of {supply} {symbol}", "占 {supply} {symbol} 的 {percent}%"),
    "wallet_value": ("{name} · address {fingerprint}", "{name} · 地址 {fingerprint}"),
    "page_newer": (
        "The page shows entries 1..{page}; the statement verified holds 1..{entries}, so the "
        "page's figures were not compared",
        "本页显示第 1..{page} 条记录，已验证的账单含第 1..{entries} 条，故未比对本页数字",
    ),
    "counts_value": (
        "Entries 1..{entries} replayed ({anchored} anchored, {pending} pending), rules version {version}",
        "已重放第 1..{entries} 条记录（{anchored} 条已上链，{pending} 条待上链），规则第 {version} 版",
    ),
}


def t(lang: Lang, key: str, /, **values: object) -> str:
    """The text ``key`` in ``lang``, formatted with ``values`` (plain text, not yet escaped)."""
    en, zh = TEXT[key] if key in TEXT else MEMBER_WORDS[key]
    template = zh if lang == "zh" else en
    return template.format(**values) if values else template


def tokens(value: int) -> str:
    """Whole tokens with thousands separators: ``10,025,250``."""
    return f"{value:,}"


def money(amount: int, currency: str, digits: int) -> str:
    """``1,000.00 CNY`` from 100000 minor units of a currency with ``digits`` minor-unit
    digits (integer arithmetic only)."""
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" if digits == 0 else f"{whole:,}.{minor:0{digits}d}"
    return f"{sign}{text}\u00a0{currency}"


def per_token(amount: int, tokens_: int, currency: str, digits: int) -> str:
    """The money one token is worth, ``amount / tokens`` minor units, in major units: exact
    when it has at most ``digits + 6`` decimals, else rounded to that many and marked ``≈``."""
    value = Fraction(amount, tokens_ * 10**digits)
    places = digits + 6
    scaled = value * 10**places
    exact = scaled.denominator == 1
    units = round(scaled)
    whole, frac = divmod(units, 10**places)
    text = f"{whole:,}.{frac:0{places}d}".rstrip("0")
    if text.endswith("."):
        text += "0" * max(digits, 1)
    elif len(text.split(".")[1]) < digits:
        text += "0" * (digits - len(text.split(".")[1]))
    return f"{'' if exact else '≈'}{text}\u00a0{currency}"


def share(num: int, den: int, lang: Lang) -> str:
    """A fraction as people read it: ``1/2 (50 %)``; the percentage to two decimals, marked
    ``≈`` when rounded (exact arithmetic, no float)."""
    percent = Fraction(num * 100, den)
    hundredths = round(percent * 100)
    shown = f"{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
    if percent * 100 != hundredths:
        shown = "≈" + shown
    return f"{num}/{den} ({shown} %)" if lang == "en" else f"{num}/{den}（{shown}%）"
