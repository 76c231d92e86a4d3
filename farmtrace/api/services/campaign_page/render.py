"""The campaign page and the coupon page as HTML: :func:`render_campaign_page`,
:func:`render_coupon_page`, and :func:`render_not_found` / :func:`render_malformed` for an
unknown or malformed code.

Mobile first, no build step, under the page CSP (no inline script or style): the stylesheets are
``/static/page/page.css`` (the provenance page's) and ``/static/campaign/campaign.css``; the
scripts are modules loaded by ``src``. Everything but the pledge and the badge works without
JavaScript. All data is escaped here. Holders appear as key fingerprints only; no backer's
name, contact or delivery detail is ever in a view model.

The lot's charts are the provenance page's own (:func:`~farmtrace.api.services.page.stage_render.render_stages`
over the lot's :class:`~farmtrace.api.services.page.model.ProductPage`).

Pledge contract (campaign page, ``/static/campaign/pledge.js``): ``form#pledge-form`` with
``data-pledge-url`` (POST ``{holder, count, contact?, delivery?}`` as JSON), ``data-price``
(minor units), ``data-currency``, ``data-digits``; inputs ``#pledge-count``,
``#pledge-contact``, ``#pledge-delivery``; ``#pledge-submit``; ``#pledge-wallet`` (the wallet's
name and fingerprint go in ``.who``; ``[data-wallet=none]`` is shown when there is no wallet,
``[data-wallet=ready]`` when there is one); ``#pledge-result`` (``role=status``): the script sets
``data-state`` (``sending``, ``done``, ``refused``), ``data-pledge`` (the pledge's ID) and its text
from the templates in ``data-sending``, ``data-done`` (``{pledge}``, ``{count}``, ``{amount}``) and
``data-refused`` (``{reason}``). A campaign that takes no pledge now has no form but
``#pledge-closed`` with ``data-reason`` (``status``, ``harvested``, ``not-yet``, ``deadline``,
``cap``).

Badge contract (coupon page, ``/static/campaign/coupon_badge.js``): ``section#coupon-proof``
with ``data-bundle-url`` (the coupon bundle), ``data-campaign-bundle-url`` (the campaign bundle,
whose caps are recounted), ``data-verifier-key``, ``data-retired-keys`` (space-separated),
``data-coupon``, and what the page shows, which the script compares with what it verified:
``data-status``, ``data-holder-fingerprint``, ``data-issued``, ``data-redeemed``,
``data-voided``, ``data-outstanding``, ``data-cap``; the history rows ``#history
li[data-step]`` with ``data-kind``, ``data-state``, ``data-holder-fingerprint`` and
``data-price`` (``amount currency``, empty for none). The script sets ``data-state``
(``verifying``, then ``verified``, ``pending``, ``failed`` or ``unavailable``) and on failure
``data-first-failure`` (the first failing item, named); one ``[data-for=STATE]`` paragraph per
state; ``li[data-check=NAME]`` per check (``checkpoint``, ``blocks``, ``signatures``,
``batches``, ``rules``, ``caps``, ``page``) whose ``.result`` it fills and whose
``data-result`` it sets (``ok``, ``failed``, ``skipped``); ``ul.failures`` for the failure;
``ol.lines`` for the verifier's lines (what was checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from html import escape

from farmtrace.api.services.campaign_page.i18n import money, quantity, t
from farmtrace.api.services.campaign_page.model import CampaignPageView, CouponPageView, HistoryRow
from farmtrace.api.services.page import i18n as page_i18n
from farmtrace.api.services.page.model import Lang
from farmtrace.api.services.page.stage_render import render_stages
from farmtrace.api.services.page.timefmt import format_date, format_datetime, from_ms, zone
from farmtrace.commerce.units import CURRENCIES

__all__ = [
    "BADGE_SCRIPT",
    "PLEDGE_SCRIPT",
    "STYLESHEETS",
    "render_campaign_page",
    "render_coupon_page",
    "render_malformed",
    "render_not_found",
]

STYLESHEETS = ("/static/page/page.css", "/static/campaign/campaign.css")
PLEDGE_SCRIPT = "/static/campaign/pledge.js"
BADGE_SCRIPT = "/static/campaign/coupon_badge.js"
CHECKS = ("checkpoint", "blocks", "signatures", "batches", "rules", "caps", "page")
STATES = ("idle", "verifying", "verified", "pending", "failed", "unavailable")
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _check_lang(lang: str) -> None:
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")


def _document(lang: Lang, title: str, body: str, script: str | None) -> str:
    module = f'<script type="module" src="{script}"></script>' if script else ""
    sheets = "".join(f'<link rel="stylesheet" href="{s}">' for s in STYLESHEETS)
    return (
        "<!doctype html>\n"
        f'<html lang="{_HTML_LANG[lang]}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<link rel="icon" href="data:,">'  # no favicon request (and no 404 in the console)
        f"<title>{_e(title)}</title>{sheets}{module}"
        f'</head><body class="commerce"><main>{body}</main></body></html>\n'
    )


def _top(lang: Lang, lang_hrefs: Mapping[str, str] | None) -> str:
    """The brand and the language switch (each language named in its own script)."""
    links: list[str] = []
    hrefs: Mapping[str, str] = lang_hrefs or {}
    for code in ("zh", "en") if hrefs else ():
        name = _e(page_i18n.t(code, f"lang_{code}"))
        html_lang = _HTML_LANG[code]
        current = ' aria-current="page"' if code == lang else f' hreflang="{html_lang}"'
        links.append(f'<a href="{_e(hrefs[code])}" lang="{html_lang}"{current}>{name}</a>')
    switch = (
        f'<nav class="langs" aria-label="{_e(page_i18n.t(lang, "lang_nav"))}">'
        f"{' / '.join(links)}</nav>"
        if links
        else ""
    )
    return f'<div class="top"><a class="brand" href="/">farmtrace</a>{switch}</div>'


def _fact(label: str, value: str, cls: str = "", attrs: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f"<div{klass}{attrs}><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>"


def _day(ms: int, tz: tzinfo, lang: Lang) -> str:
    return format_date(from_ms(ms, tz).date(), lang)


# -- campaign page -----------------------------------------------------------------------------


def render_campaign_page(
    view: CampaignPageView, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The whole HTML document of a campaign in ``lang`` (``"en"`` or ``"zh"``)."""
    _check_lang(lang)
    tz = zone(view.display_tz)
    c = view.campaign
    title = t(lang, "campaign_title", product=view.product.get(lang), gcn=c.campaign)
    body = "".join(
        [
            '<header class="product campaign-head">',
            _top(lang, lang_hrefs),
            f'<p class="kicker">{_e(t(lang, "campaign_kicker"))} <span class="mono">{_e(c.campaign)}</span></p>',
            f"<h1>{_e(view.product.get(lang))}</h1>",
            f'<p class="origin">{_e(t(lang, "by_farm", farm=c.farm, lot=c.lot))} · '
            f'<a href="{_e(view.lot_path)}">{_e(t(lang, "lot_link"))}</a></p>',
            f'<p class="status-line" id="status" data-status="{_e(c.status)}">'
            f"{_e(t(lang, 'status_' + c.status) if c.status in _STATUSES else c.status)}</p>",
            "</header>",
            _funding(view, tz, lang),
            _terms(view, tz, lang),
            _counts(view, lang),
            _harvest(view, lang),
            _pledge(view, tz, lang),
            _fields(view, tz, lang),
            _links(view, lang),
        ]
    )
    return _document(lang, title, body, PLEDGE_SCRIPT)


_STATUSES = ("open", "funded", "failed", "closed")


def _funding(view: CampaignPageView, tz: tzinfo, lang: Lang) -> str:
    c, terms = view.campaign, view.campaign.terms
    issued = c.totals.issued
    line = t(lang, "funding_line", issued=issued, target=terms.target, cap=terms.cap)
    return (
        '<section class="funding" id="funding" aria-labelledby="funding-h" '
        f'data-issued="{issued}" data-target="{terms.target}" data-cap="{terms.cap}">'
        f'<h2 id="funding-h">{_e(t(lang, "funding_heading"))}</h2>'
        f'<progress id="funding-bar" max="{terms.cap}" value="{issued}" '
        f'aria-label="{_e(t(lang, "funding_bar", issued=issued, cap=terms.cap))}">'
        f"{issued}/{terms.cap}</progress>"
        f'<p class="funding-line">{_e(line)}</p>'
        f'<dl class="facts">{_fact(t(lang, "deadline"), _day(terms.deadline_ms, tz, lang))}'
        f"{_fact(t(lang, 'status'), t(lang, 'status_' + c.status) if c.status in _STATUSES else c.status)}"
        "</dl></section>"
    )


def _terms(view: CampaignPageView, tz: tzinfo, lang: Lang) -> str:
    terms = view.campaign.terms
    text = terms.text.zh if lang == "zh" else terms.text.en
    window = t(
        lang,
        "delivery_window",
        start=_day(terms.delivery.from_ms, tz, lang),
        end=_day(terms.delivery.until_ms, tz, lang),
    )
    facts = [
        _fact(
            t(lang, "per_coupon"), quantity(lang, terms.per_coupon.quantity, terms.per_coupon.unit)
        ),
        _fact(
            t(lang, "price"), money(terms.price.amount, terms.price.currency, view.currency_digits)
        ),
        _fact(t(lang, "deadline"), format_datetime(from_ms(terms.deadline_ms, tz), tz, lang)),
        _fact(t(lang, "delivery"), window),
    ]
    return (
        '<section class="terms" id="terms" aria-labelledby="terms-h">'
        f'<h2 id="terms-h">{_e(t(lang, "terms_heading"))}</h2>'
        f'<blockquote class="terms-text" lang="{_HTML_LANG[lang]}">{_e(text)}</blockquote>'
        f'<dl class="facts">{"".join(facts)}</dl>'
        f'<p class="note">{_e(t(lang, "terms_signed", sha=view.campaign.terms_sha256))}</p>'
        "</section>"
    )


def _counts(view: CampaignPageView, lang: Lang) -> str:
    totals = view.campaign.totals
    facts = "".join(
        _fact(t(lang, key), str(getattr(totals, key)), "count", f' data-count="{key}"')
        for key in ("issued", "outstanding", "redeemed", "voided")
    )
    return (
        '<section class="coupon-counts" id="coupons" aria-labelledby="coupons-h">'
        f'<h2 id="coupons-h">{_e(t(lang, "coupons_heading"))}</h2>'
        f'<dl class="facts counts-grid">{facts}</dl>'
        f'<p class="note">{_e(t(lang, "no_names"))}</p></section>'
    )


def _harvest(view: CampaignPageView, lang: Lang) -> str:
    c = view.campaign
    unit = c.terms.per_coupon.unit
    if c.harvested is None:
        inner = f"<p>{_e(t(lang, 'not_harvested'))}</p>"
    else:
        covered = c.harvested // c.terms.per_coupon.quantity
        inner = f"<p>{_e(t(lang, 'harvested', quantity=quantity(lang, c.harvested, unit), covered=covered))}</p>"
    shortfall = ""
    if c.shortfall is not None:
        s = c.shortfall
        share_q = quantity(lang, s.share.quantity, unit) if s.share else "?"
        share_c = s.share.coupons if s.share else "?"
        key = "shortfall_" + s.policy if s.policy in ("pro-rata", "refund") else None
        text = (
            t(
                lang,
                key,
                quantity=share_q,
                coupons=share_c,
                covered=s.covered,
                uncovered=s.uncovered,
            )
            if key
            else s.policy
        )
        shortfall = (
            f'<div class="shortfall" id="shortfall" data-policy="{_e(s.policy)}">'
            f"<h3>{_e(t(lang, 'shortfall_heading'))}</h3><p>{_e(text)}</p></div>"
        )
    return (
        '<section class="harvest" id="harvest" aria-labelledby="harvest-h">'
        f'<h2 id="harvest-h">{_e(t(lang, "harvest_heading"))}</h2>{inner}{shortfall}</section>'
    )


def _pledge(view: CampaignPageView, tz: tzinfo, lang: Lang) -> str:
    c = view.campaign
    head = (
        '<section class="pledge" id="pledge" aria-labelledby="pledge-h">'
        f'<h2 id="pledge-h">{_e(t(lang, "pledge_heading"))}</h2>'
    )
    closed = view.pledge_closed
    if closed is not None:
        status = t(lang, "status_" + c.status) if c.status in _STATUSES else c.status
        when = format_datetime(
            from_ms(c.terms.opens_ms if closed == "not-yet" else c.terms.deadline_ms, tz), tz, lang
        )
        reason = t(lang, "closed_" + closed, status=status, when=when)
        return (
            f'{head}<p id="pledge-closed" data-reason="{_e(closed)}">'
            f"{_e(t(lang, 'pledge_closed', reason=reason))}</p></section>"
        )
    left = c.terms.cap - c.totals.issued
    terms = c.terms
    return (
        f"{head}<p>{_e(t(lang, 'pledge_explain'))}</p>"
        f'<div id="pledge-wallet" class="wallet-line">'
        f'<p data-wallet="ready" hidden>{_e(t(lang, "pledge_wallet"))}: <span class="who mono"></span></p>'
        f'<p data-wallet="none" hidden>{_e(t(lang, "pledge_no_wallet"))} '
        f'<a href="/wallet">{_e(t(lang, "wallet_link"))}</a></p></div>'
        f'<form id="pledge-form" class="pledge-form" data-pledge-url="{_e(view.pledge_url)}" '
        f'data-price="{terms.price.amount}" data-currency="{_e(terms.price.currency)}" '
        f'data-digits="{view.currency_digits}" novalidate>'
        f'<label for="pledge-count">{_e(t(lang, "pledge_count"))}</label>'
        f'<input id="pledge-count" name="count" type="number" inputmode="numeric" min="1" '
        f'max="{left}" value="1" required>'
        f'<label for="pledge-contact">{_e(t(lang, "pledge_contact"))}</label>'
        '<input id="pledge-contact" name="contact" type="text" maxlength="500" autocomplete="email">'
        f'<label for="pledge-delivery">{_e(t(lang, "pledge_delivery"))}</label>'
        '<textarea id="pledge-delivery" name="delivery" maxlength="500" rows="2" '
        'autocomplete="street-address"></textarea>'
        f'<button id="pledge-submit" type="submit" disabled>{_e(t(lang, "pledge_submit"))}</button>'
        "</form>"
        f'<p id="pledge-result" class="pledge-result" role="status" aria-live="polite" '
        f'data-sending="{_e(t(lang, "pledge_sending"))}" data-done="{_e(t(lang, "pledge_done", pledge="{pledge}", count="{count}", amount="{amount}"))}" '
        f'data-refused="{_e(t(lang, "pledge_refused", reason="{reason}"))}">'
        f"{_e(t(lang, 'pledge_needs_js'))}</p></section>"
    )


def _fields(view: CampaignPageView, tz: tzinfo, lang: Lang) -> str:
    """The lot's stages and charts, exactly as its provenance page draws them."""
    if view.lot is None:
        inner = f"<p>{_e(t(lang, 'no_lot'))}</p>"
    else:
        inner = render_stages(view.lot, zone(view.lot.display_tz), lang)
    return (
        '<section class="fields" id="fields" aria-labelledby="fields-h">'
        f'<h2 id="fields-h">{_e(t(lang, "fields_heading"))}</h2>{inner}'
        f'<p><a href="{_e(view.lot_path)}">{_e(t(lang, "lot_link"))}</a></p></section>'
    )


def _links(view: CampaignPageView, lang: Lang) -> str:
    return (
        '<footer class="campaign-links"><ul>'
        f'<li><a id="market-link" href="{_e(view.market_path)}">{_e(t(lang, "market_link"))}</a></li>'
        f'<li><a href="{_e(view.bundle_url)}" download>{_e(t(lang, "campaign_proof"))}</a></li>'
        "</ul></footer>"
    )


# -- coupon page -------------------------------------------------------------------------------


def render_coupon_page(
    view: CouponPageView, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The whole HTML document of a coupon in ``lang`` (``"en"`` or ``"zh"``)."""
    _check_lang(lang)
    tz = zone(view.display_tz)
    c = view.coupon
    product = view.product.get(lang)
    status = (
        t(lang, "coupon_" + c.status) if c.status in ("active", "redeemed", "void") else c.status
    )
    amount = quantity(lang, c.entitlement.quantity, c.entitlement.unit)
    pro_rata = ""
    if c.entitlement.pro_rata is not None:
        share = c.entitlement.pro_rata
        pro_rata = f'<p class="note">{_e(t(lang, "entitles_pro_rata", quantity=quantity(lang, share.quantity, c.entitlement.unit), coupons=share.coupons))}</p>'
    body = "".join(
        [
            '<header class="product coupon-head">',
            _top(lang, lang_hrefs),
            f'<p class="kicker">{_e(t(lang, "coupon_kicker"))} <span class="mono">{_e(c.coupon)}</span></p>',
            f"<h1>{_e(product)}</h1>",
            f'<p class="coupon-status {_e(c.status)}" id="coupon-status" data-status="{_e(c.status)}">'
            f"{_e(status)}</p></header>",
            '<section class="entitles" id="entitles" aria-labelledby="entitles-h">'
            f'<h2 id="entitles-h">{_e(t(lang, "entitles_heading"))}</h2>'
            f'<p class="big">{_e(t(lang, "entitles", quantity=amount, product=product))}</p>{pro_rata}'
            f'<dl class="facts">{_fact(t(lang, "coupon_state"), status)}'
            f"{_fact(t(lang, 'holder'), c.fingerprint, 'mono')}</dl>"
            f'<p class="note">{_e(t(lang, "holder_help"))}</p></section>',
            _badge(view, lang),
            _history(view.history, view, tz, lang),
            '<section class="lot-links" id="lot" aria-labelledby="lot-h">'
            f'<h2 id="lot-h">{_e(t(lang, "by_farm", farm=view.campaign.farm, lot=view.campaign.lot))}</h2><ul>'
            f'<li><a id="lot-link" href="{_e(view.lot_path)}">{_e(t(lang, "lot_link"))}</a></li>'
            f'<li><a id="campaign-link" href="{_e(view.campaign_path)}">{_e(t(lang, "campaign_link"))} '
            f"{_e(view.campaign.campaign)}</a></li></ul></section>",
        ]
    )
    title = t(lang, "coupon_title", product=product, coupon=c.coupon)
    return _document(lang, title, body, BADGE_SCRIPT)


def _badge(view: CouponPageView, lang: Lang) -> str:
    c, totals = view.coupon, view.campaign.totals
    states = "".join(
        f'<p class="state-text" data-for="{s}"{"" if s == "idle" else " hidden"}>'
        f"{_e(t(lang, 'state_' + s))}</p>"
        for s in STATES
    )
    checks = "".join(
        f'<li data-check="{name}"><span class="name">{_e(t(lang, "check_" + name))}</span>'
        '<span class="result"></span></li>'
        for name in CHECKS
    )
    attrs = {
        "data-state": "idle",
        "data-bundle-url": view.bundle_url,
        "data-campaign-bundle-url": view.campaign_bundle_url,
        "data-verifier-key": view.verifier_key,
        "data-retired-keys": " ".join(view.retired_keys),
        "data-coupon": c.coupon,
        "data-status": c.status,
        "data-holder-fingerprint": c.fingerprint,
        "data-issued": totals.issued,
        "data-redeemed": totals.redeemed,
        "data-voided": totals.voided,
        "data-outstanding": totals.outstanding,
        "data-cap": view.campaign.terms.cap,
    }
    opening = " ".join(f'{k}="{_e(v)}"' for k, v in attrs.items())
    return (
        f'<section id="coupon-proof" class="proof" aria-labelledby="proof-h" {opening}>'
        f'<h2 id="proof-h" class="quiet">{_e(t(lang, "verify_heading"))}</h2>'
        '<div class="badge" role="status" aria-live="polite"><span class="icon" aria-hidden="true"></span>'
        f"<div>{states}</div></div>"
        '<ul class="failures" hidden></ul>'
        f'<details class="how" open><summary>{_e(t(lang, "proof_how"))}</summary>'
        f'<ol class="checks">{checks}</ol>'
        f'<details class="verifier-output"><summary>{_e(t(lang, "verifier_lines"))}</summary>'
        '<ol class="lines" hidden></ol></details>'
        f'<p class="download"><a href="{_e(view.bundle_url)}" download>{_e(t(lang, "download_coupon"))}</a> · '
        f'<a href="{_e(view.campaign_bundle_url)}" download>{_e(t(lang, "download_campaign"))}</a></p>'
        f'<p class="offline">{_e(t(lang, "offline"))}</p>'
        "<pre><code>farmtrace verify BUNDLE --key VKEY</code></pre>"
        f'<p class="vkey"><span>VKEY</span> <code>{_e(view.verifier_key)}</code></p>'
        "</details></section>"
    )


def _history(rows: tuple[HistoryRow, ...], view: CouponPageView, tz: tzinfo, lang: Lang) -> str:
    items = "".join(_step(i, row, view, tz, lang) for i, row in enumerate(rows))
    return (
        '<section class="history" id="history" aria-labelledby="history-h">'
        f'<h2 id="history-h">{_e(t(lang, "history_heading"))}</h2>'
        f'<ol class="timeline">{items}</ol></section>'
    )


def _step(index: int, row: HistoryRow, view: CouponPageView, tz: tzinfo, lang: Lang) -> str:
    kind = row.kind if row.kind in ("issue", "transfer", "redeem", "void") else "issue"
    lines = []
    if row.holder_fingerprint is not None:
        lines.append(t(lang, "h_to", fingerprint=row.holder_fingerprint))
    if row.kind == "transfer":
        lines.append(
            t(lang, "h_no_price") if row.price is None else t(lang, "h_price", price=_price(row))
        )
    price = "" if row.price is None else f"{row.price.amount} {row.price.currency}"
    anchored = t(lang, "h_anchored" if row.anchored else "h_pending")
    when = from_ms(row.time_ms, tz)
    return (
        f'<li class="event {kind}{"" if row.anchored else " pending-anchor"}" '
        f'data-step="{index}" data-kind="{_e(row.kind)}" '
        f'data-state="{_e(row.state)}" data-holder-fingerprint="{_e(row.holder_fingerprint or "")}" '
        f'data-price="{_e(price)}">'
        f"<h3>{_e(t(lang, 'h_' + kind))}</h3>"
        f'<p class="when"><time datetime="{_e(when.isoformat())}">{_e(format_datetime(when, tz, lang))}</time></p>'
        + "".join(f'<p class="detail mono">{_e(line)}</p>' for line in lines)
        + f'<p class="state-hash"><span>{_e(t(lang, "h_state"))}</span> <code>{_e(row.state)}</code></p>'
        f'<p class="anchor {"anchored" if row.anchored else "pending"}">{_e(anchored)}</p></li>'
    )


def _price(row: HistoryRow) -> str:
    assert row.price is not None
    return money(row.price.amount, row.price.currency, CURRENCIES.get(row.price.currency, 2))


# -- errors -----------------------------------------------------------------------------------


def render_not_found(code: str, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None) -> str:
    """The small page for an unknown campaign (13 digits) or coupon (served with 404)."""
    _check_lang(lang)
    key = "not_found_campaign" if len(code) == 13 else "not_found_coupon"
    body = (
        f'<header class="product notfound">{_top(lang, lang_hrefs)}'
        f"<h1>{_e(t(lang, 'not_found_title'))}</h1>"
        f"<p>{_e(t(lang, key, code=code))}</p></header>"
    )
    return _document(lang, t(lang, "not_found_title"), body, None)


def render_malformed(
    code: str, reason: str, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The small page for a code that is no GCN or coupon ID (served with 422), saying why."""
    _check_lang(lang)
    body = (
        f'<header class="product notfound">{_top(lang, lang_hrefs)}'
        f"<h1>{_e(t(lang, 'malformed_title'))}</h1>"
        f"<p>{_e(t(lang, 'malformed_text', code=code, reason=reason))}</p></header>"
    )
    return _document(lang, t(lang, "malformed_title"), body, None)
