# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The coupon market page of a campaign, ``/campaigns/{gcn}/market``, as HTML (zh/en).

Mobile first, server-rendered, no inline script or style (the CSP's ``script-src 'self'``):
the page reads fully without JavaScript; ``/static/market/market.js`` (a module) adds the
wallet actions. The price history is an SVG drawn here with the provenance charts' scale and
time axis (:mod:`farmtrace.api.services.page.chart`).

Stable hooks for scripts and end-to-end tests (keep them when changing the markup):

* ``#market`` (``<section>``): ``data-campaign`` (GCN), ``data-currency`` (ISO 4217),
  ``data-digits`` (the currency's minor-unit digits), ``data-api`` (``/v1``).
* ``#market-wallet``: ``data-state`` ``idle`` as served (the script has not run), then set by
  the script to ``none`` (no wallet in this browser) or ``ready``; ``#market-wallet-name`` shows
  the current wallet's name and address.
* ``#market-message`` (``role="status"``): the script's last result; ``data-kind`` is ``ok``
  or ``error``.
* ``#market-open`` > ``ul.listings`` > ``li.listing`` per open listing with
  ``data-listing`` (ID), ``data-coupon``, ``data-state``, ``data-seller``, ``data-amount``
  (minor units), ``data-currency``, ``data-time`` and ``data-signature`` (the signed listing's
  fields: the script checks the seller's signature and sets ``data-verified`` ``yes`` or ``no``,
  with the reason in ``p.check``); inside, ``button[data-action=offer]`` and
  ``button[data-action=withdraw]`` (hidden until the script knows the wallet is the seller's;
  the offer button is hidden for the seller). ``#market-open-empty`` when there are none.
* ``#list-form``: ``select#list-coupon`` (filled by the script with the wallet's active coupons
  of this campaign), ``input#list-price`` (a decimal amount in the currency, e.g. ``48.00``),
  ``button#list-submit``.
* ``#market-prices``: ``svg#price-chart`` (``.point`` per transfer with ``data-amount``) or
  ``#market-prices-empty``.
* ``#market-ended`` > ``ul.listings`` > ``li.listing.ended`` with the same attributes and
  ``data-ended`` (sold, moved, withdrawn, redeemed, void).
"""

from __future__ import annotations

from datetime import UTC
from html import escape

from farmtrace.api.services.market import CampaignMarket, PricePoint
from farmtrace.api.services.page.chart import (
    HEIGHT,
    LEFT,
    PLOT_W,
    TOP,
    WIDTH,
    _nice_step,
    _Scale,
    _x_axis,
)
from farmtrace.api.services.page.chart import _f as fmt  # shared number formatting
from farmtrace.api.services.page.i18n import t as page_t
from farmtrace.api.services.page.model import Lang
from farmtrace.api.services.page.timefmt import format_datetime, from_ms
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.gcn import coupon_id
from farmtrace.commerce.units import CURRENCIES
from farmtrace.store.listings import ListingRecord

__all__ = [
    "MARKET_SCRIPT",
    "MARKET_STYLESHEET",
    "money",
    "render_market_page",
    "render_price_chart",
]

STYLESHEETS = ("/static/page/page.css", "/static/market/market.css")
MARKET_STYLESHEET = "/static/market/market.css"
MARKET_SCRIPT = "/static/market/market.js"
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}
_DAY = 86_400_000

_TEXT: dict[str, tuple[str, str]] = {
    "title": ("Coupon market · {gcn}", "产品券市场 · {gcn}"),
    "heading": ("Coupon market", "产品券市场"),
    "intro": (
        "Holders offer their coupons here. Payment is arranged between buyer and seller, "
        "outside farmtrace; the seller completes the sale by signing the coupon over to the "
        "buyer's wallet. Every listing is signed by the coupon's holder.",
        "券的持有人在这里挂出产品券。买卖双方自行约定付款（不经过 farmtrace）；"
        "卖方在钱包中签名把券转给买方，交易即完成。每个挂单都由券的持有人签名。",
    ),
    "campaign_link": ("The campaign", "众筹页面"),
    "wallet": ("Your wallet", "你的钱包"),
    "wallet_none": (
        "No wallet in this browser yet: make one on the wallet page to list or buy.",
        "此浏览器中还没有钱包：请先在钱包页面创建，才能挂单或购买。",
    ),
    "wallet_page": ("Open the wallet", "打开钱包"),
    "open": ("Current listings", "当前挂单"),
    "open_empty": ("No coupon is listed right now.", "目前没有挂单。"),
    "coupon": ("Coupon", "产品券"),
    "price": ("Price", "价格"),
    "seller": ("Seller", "卖方"),
    "since": ("Listed since", "挂单时间"),
    "offers": ("Requests to buy", "购买请求"),
    "offer": ("Offer to buy", "请求购买"),
    "withdraw": ("Withdraw", "撤下"),
    "sell": ("List a coupon", "挂出产品券"),
    "sell_help": (
        "Choose one of your coupons and a price. Your wallet signs the listing; it ends by "
        "itself when the coupon moves.",
        "选择一张你的产品券并定价。钱包会为挂单签名；券一旦转移，挂单自动结束。",
    ),
    "list_coupon": ("Your coupon", "你的产品券"),
    "list_price": ("Price in {currency}", "价格（{currency}）"),
    "list_submit": ("Sign and list", "签名并挂单"),
    "prices": ("Price history", "成交价格走势"),
    "prices_desc": (
        "Declared prices of {count} past transfers of this campaign's coupons, in {currency}.",
        "本众筹产品券过去 {count} 次转让所申报的价格（{currency}）。",
    ),
    "prices_empty": (
        "No transfer with a declared price yet.",
        "还没有申报价格的转让。",
    ),
    "ended": ("Ended listings", "已结束的挂单"),
    "ended_empty": ("No listing has ended yet.", "还没有结束的挂单。"),
    "ended_sold": ("sold", "已售出"),
    "ended_moved": ("coupon moved", "券已转移"),
    "ended_withdrawn": ("withdrawn", "已撤下"),
    "ended_redeemed": ("redeemed", "已兑换"),
    "ended_void": ("void", "已作废"),
    "not_found": ("No such campaign", "没有这个众筹"),
    "malformed": ("Not a campaign number", "不是有效的众筹编号"),
    "script_needed": (
        "Listing and buying need JavaScript and a wallet in this browser.",
        "挂单和购买需要启用 JavaScript 并在此浏览器中有钱包。",
    ),
}


def t(lang: Lang, key: str, **values: object) -> str:
    en, zh = _TEXT[key]
    text = zh if lang == "zh" else en
    return text.format(**values) if values else text


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def money(amount: int, currency: str) -> str:
    """``48.00 CNY`` from 4800 minor units (the currency's ISO 4217 minor digits)."""
    digits = CURRENCIES.get(currency, 2)
    if digits == 0:
        return f"{amount:,}\u00a0{currency}"
    whole, minor = divmod(amount, 10**digits)
    return f"{whole:,}.{minor:0{digits}d}\u00a0{currency}"


def _when(ms: int, lang: Lang) -> str:
    return format_datetime(from_ms(ms, UTC), UTC, lang)


def _top(lang: Lang, gcn: str) -> str:
    links = []
    for code in ("zh", "en"):
        name = _e(page_t(code, f"lang_{code}"))
        html_lang = _HTML_LANG[code]
        current = ' aria-current="page"' if code == lang else f' hreflang="{html_lang}"'
        links.append(f'<a href="?lang={code}" lang="{html_lang}"{current}>{name}</a>')
    return (
        '<div class="top"><a class="brand" href="/">farmtrace</a>'
        f'<nav class="langs" aria-label="{_e(page_t(lang, "lang_nav"))}">'
        f"{' / '.join(links)}</nav></div>"
    )


def _listing(record: ListingRecord, lang: Lang, ended: bool) -> str:
    coupon = coupon_id(record.gcn, record.serial)
    seller = fingerprint(bytes.fromhex(record.seller))
    attrs = (
        f' data-listing="{_e(record.id)}" data-coupon="{_e(coupon)}"'
        f' data-state="{_e(record.state)}" data-seller="{_e(record.seller)}"'
        f' data-amount="{record.amount}" data-currency="{_e(record.currency)}"'
        f' data-time="{record.time_ms}" data-signature="{_e(record.signature)}"'
    )
    facts = (
        f"<dl>"
        f'<div><dt>{_e(t(lang, "coupon"))}</dt><dd><a href="/255/{_e(coupon)}">{_e(coupon)}</a>'
        "</dd></div>"
        f'<div class="price"><dt>{_e(t(lang, "price"))}</dt>'
        f"<dd>{_e(money(record.amount, record.currency))}</dd></div>"
        f"<div><dt>{_e(t(lang, 'seller'))}</dt><dd><code>{_e(seller)}</code></dd></div>"
        f"<div><dt>{_e(t(lang, 'since'))}</dt><dd>{_e(_when(record.time_ms, lang))}</dd></div>"
    )
    if ended:
        reason = record.ended or "moved"
        facts += (
            f'<div class="reason"><dt>·</dt><dd class="ended-{_e(reason)}">'
            f"{_e(t(lang, 'ended_' + reason))}</dd></div></dl>"
        )
        return (
            f'<li class="listing ended" data-ended="{_e(reason)}"{attrs}>{facts}'
            '<p class="check"></p></li>'
        )
    actions = (
        '<div class="actions">'
        f'<button type="button" data-action="offer" disabled>{_e(t(lang, "offer"))}</button>'
        f'<button type="button" data-action="withdraw" hidden>{_e(t(lang, "withdraw"))}</button>'
        "</div>"
    )
    return f'<li class="listing"{attrs}>{facts}</dl><p class="check"></p>{actions}</li>'


def _open(market: CampaignMarket, lang: Lang) -> str:
    items = "".join(_listing(r, lang, False) for r in market.open)
    body = (
        f'<ul class="listings">{items}</ul>'
        if items
        else f'<p id="market-open-empty">{_e(t(lang, "open_empty"))}</p>'
    )
    return (
        f'<section id="market-open" aria-labelledby="market-open-h">'
        f'<h2 id="market-open-h">{_e(t(lang, "open"))}</h2>{body}</section>'
    )


def _sell(market: CampaignMarket, lang: Lang) -> str:
    return (
        '<section id="market-sell" aria-labelledby="market-sell-h">'
        f'<h2 id="market-sell-h">{_e(t(lang, "sell"))}</h2>'
        f"<p>{_e(t(lang, 'sell_help'))}</p>"
        '<form id="list-form" novalidate>'
        f'<label for="list-coupon">{_e(t(lang, "list_coupon"))}</label>'
        '<select id="list-coupon" name="coupon" required disabled></select>'
        f'<label for="list-price">{_e(t(lang, "list_price", currency=market.currency))}</label>'
        '<input id="list-price" name="price" inputmode="decimal" autocomplete="off" required '
        'pattern="[0-9]+([.,][0-9]+)?">'
        f'<button id="list-submit" type="submit" disabled>{_e(t(lang, "list_submit"))}</button>'
        "</form></section>"
    )


def render_price_chart(
    prices: list[PricePoint], currency: str, lang: Lang, chart_id: str = "price-chart"
) -> str:
    """An SVG of the declared prices (in ``currency``; others are left out) over time: one dot
    per transfer joined by a line, on the provenance charts' time axis (UTC). Needs one point."""
    points = [p for p in prices if p.currency == currency]
    if not points:
        raise ValueError("a price chart needs at least one price in its currency")
    digits = CURRENCIES.get(currency, 2)
    scale = 10**digits
    values = [p.amount / scale for p in points]
    t0, t1 = points[0].time_ms, points[-1].time_ms
    if t1 - t0 < _DAY:
        t0, t1 = t0 - _DAY // 2, t1 + _DAY // 2
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo * 0.9, hi * 1.1 if hi > 0 else 1.0
    step = _nice_step(hi - lo)
    v0 = max(0.0, (lo // step) * step)
    v1 = -(-hi // step) * step
    if v1 <= v0:
        v1 = v0 + step
    sc = _Scale(t0, t1, v0, v1)
    title = t(lang, "prices")
    desc = t(lang, "prices_desc", count=len(points), currency=currency)
    parts = [
        f'<svg id="{chart_id}" class="chart price-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-t">{_e(title)}</title>',
        f'<desc id="{chart_id}-d">{_e(desc)}</desc>',
    ]
    grid_step = _nice_step(v1 - v0)
    tick = v0
    while tick <= v1 + grid_step / 1000:
        gy = fmt(sc.y(tick))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{gy}" y2="{gy}"/>')
        parts.append(f'<text class="ylabel" x="{LEFT - 5}" y="{gy}" dy="0.35em">{tick:g}</text>')
        tick += grid_step
    parts.append(f'<text class="unit" x="{LEFT - 5}" y="{TOP - 9}">{_e(currency)}</text>')
    coords = [(sc.x(p.time_ms), sc.y(v)) for p, v in zip(points, values, strict=True)]
    if len(coords) > 1:
        line = " ".join(f"{fmt(x)},{fmt(y)}" for x, y in coords)
        parts.append(f'<polyline class="series s0" points="{line}"/>')
    for p, (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle class="point" cx="{fmt(x)}" cy="{fmt(y)}" r="3" data-amount="{p.amount}">'
            f"<title>{_e(p.coupon)}: {_e(money(p.amount, p.currency))}, "
            f"{_e(_when(p.time_ms, lang))}</title></circle>"
        )
    parts.extend(_x_axis(sc, UTC, lang))
    parts.append("</svg>")
    return "".join(parts)


def _prices(market: CampaignMarket, lang: Lang) -> str:
    shown = [p for p in market.prices if p.currency == market.currency]
    body = (
        render_price_chart(shown, market.currency, lang)
        if shown
        else f'<p id="market-prices-empty">{_e(t(lang, "prices_empty"))}</p>'
    )
    return (
        '<section id="market-prices" aria-labelledby="market-prices-h">'
        f'<h2 id="market-prices-h">{_e(t(lang, "prices"))}</h2>{body}</section>'
    )


def _ended(market: CampaignMarket, lang: Lang) -> str:
    items = "".join(_listing(r, lang, True) for r in market.ended)
    body = (
        f'<ul class="listings">{items}</ul>'
        if items
        else f'<p id="market-ended-empty">{_e(t(lang, "ended_empty"))}</p>'
    )
    return (
        '<section id="market-ended" aria-labelledby="market-ended-h">'
        f'<h2 id="market-ended-h">{_e(t(lang, "ended"))}</h2>{body}</section>'
    )


def _document(lang: Lang, title: str, body: str, script: bool) -> str:
    sheets = "".join(f'<link rel="stylesheet" href="{s}">' for s in STYLESHEETS)
    module = f'<script type="module" src="{MARKET_SCRIPT}"></script>' if script else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{_HTML_LANG[lang]}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<link rel="icon" href="data:,">'  # no favicon request (and no 404 in the console)
        f"<title>{_e(title)}</title>{sheets}{module}"
        f'</head><body class="commerce market-page"><main>{body}</main></body></html>\n'
    )


def render_market_missing(gcn: str, lang: Lang, detail: str, found: bool) -> str:
    """The small page for an unknown (``found`` false: 404) or malformed (422) campaign number;
    ``detail`` is the API's message naming what was wrong."""
    heading = t(lang, "not_found" if not found else "malformed")
    body = (
        f'<header class="product notfound">{_top(lang, gcn)}'
        f"<h1>{_e(heading)}</h1><p>{_e(detail)}</p></header>"
    )
    return _document(lang, heading, body, script=False)


def render_market_page(market: CampaignMarket, lang: Lang) -> str:
    """The whole HTML document of a campaign's market in ``lang`` (``"en"`` or ``"zh"``)."""
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")
    gcn = market.head.gcn
    digits = CURRENCIES.get(market.currency, 2)
    header = (
        '<header class="product market">'
        f"{_top(lang, gcn)}"
        f"<h1>{_e(t(lang, 'heading'))} <small>{_e(gcn)}</small></h1>"
        f"<p>{_e(t(lang, 'intro'))}</p>"
        f'<p><a href="/campaigns/{_e(gcn)}">{_e(t(lang, "campaign_link"))}</a></p></header>'
    )
    wallet = (
        '<section id="market-wallet" data-state="idle" aria-labelledby="market-wallet-h">'
        f'<h2 id="market-wallet-h">{_e(t(lang, "wallet"))}</h2>'
        '<p id="market-wallet-name"></p>'
        f'<p class="wallet-none">{_e(t(lang, "wallet_none"))} '
        f'<a href="/wallet">{_e(t(lang, "wallet_page"))}</a></p>'
        f'<p class="noscript-note">{_e(t(lang, "script_needed"))}</p>'
        '<p id="market-message" role="status" aria-live="polite"></p></section>'
    )
    body = (
        header
        + f'<section id="market" data-campaign="{_e(gcn)}" data-currency="{_e(market.currency)}"'
        f' data-digits="{digits}" data-api="/v1" data-lang="{lang}">'
        + wallet
        + _open(market, lang)
        + _sell(market, lang)
        + _prices(market, lang)
        + _ended(market, lang)
        + "</section>"
    )
    return _document(lang, t(lang, "title", gcn=gcn), body, script=True)
