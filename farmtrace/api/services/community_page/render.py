"""A value community's page as HTML: :func:`render_community_page`, and
:func:`render_not_found` / :func:`render_malformed` for an unknown or malformed ID.

The first phone screen says what the community is and its figures (supply, member keys holding
tokens, the rules version in force, entries and how many are anchored); below come the supply
over time (a server-rendered SVG, :mod:`.chart`) and where it came from, the distributions, the
rules in force in words and numbers (each mint rule with a worked example the rules engine
computed, the surplus rule, the version and the entry it applies from, earlier versions), the
member's own view, and how to check offline. No member is named: holders are counted, and the
member view shows only the browser wallet's own fingerprint.

Mobile first, no build step, under the page CSP (no inline script or style): the stylesheets are
``/static/page/page.css`` (the provenance page's) and ``/static/community/community.css``; the
member view's script is the module ``/static/community/member.js``. Everything but the member
view works without JavaScript. All data is escaped here.

Member view contract (``section#member``, read by ``/static/community/member.js``):
``data-statement-url`` (the statement's address with ``{address}`` for the wallet's address),
``data-verifier-key``, ``data-retired-keys`` (space-separated), ``data-community``,
``data-currency``, ``data-digits``, ``data-symbol``, ``data-lang``; ``data-state``, which the
script sets to ``nowallet``, ``loading``, ``notmember``, ``verified``, ``pending``, ``failed`` or
``unavailable`` (``idle`` until it runs), unhiding the one ``[data-for=STATE]`` paragraph;
on failure ``data-first-failure``. It fills ``.wallet``, ``.balance``, ``.share`` of
``dl.figures``, ``ol.earned`` (one item per change of the balance: ``data-n``, ``data-op``,
``data-delta``), ``ul.parts`` (one item per distribution part: ``data-n``, ``data-part``),
``li[data-check]`` (``.result``, ``data-result`` ok, failed or skipped), ``ul.failures``,
``ol.lines`` (the verifier's own lines), ``a.download``. What the page shows
(``data-page-entries``, ``data-page-supply``, ``data-page-holders``) is compared with what was
verified when the statement holds the same entries (check ``page``; a mismatch fails the view,
naming the figure). The words it writes come from
``.words [data-word]`` (:data:`~farmtrace.api.services.community_page.i18n.MEMBER_WORDS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from html import escape

from farmtrace.api.services.community_page.chart import render_supply_chart
from farmtrace.api.services.community_page.i18n import (
    MEMBER_WORDS,
    money,
    per_token,
    share,
    t,
    tokens,
)
from farmtrace.api.services.community_page.model import (
    CommunityPageView,
    DistributionView,
    MintRuleView,
    RulesView,
)
from farmtrace.api.services.page.model import Lang
from farmtrace.api.services.page.render import _top
from farmtrace.api.services.page.timefmt import format_date, format_datetime, from_ms

__all__ = [
    "MEMBER_SCRIPT",
    "MEMBER_STATES",
    "STATEMENT_CHECKS",
    "STYLESHEETS",
    "render_community_page",
    "render_malformed",
    "render_not_found",
]

STYLESHEETS = ("/static/page/page.css", "/static/community/community.css")
MEMBER_SCRIPT = "/static/community/member.js"
MEMBER_STATES = (
    "idle",
    "nowallet",
    "loading",
    "notmember",
    "verified",
    "pending",
    "failed",
    "unavailable",
)
STATEMENT_CHECKS = (
    "checkpoint", "blocks", "entries", "batches", "claims", "rules", "member", "page",
)  # fmt: skip
WALLET_PAGE = "/wallet"
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _document(lang: Lang, title: str, body: str, *, script: bool) -> str:
    links = "".join(f'<link rel="stylesheet" href="{href}">' for href in STYLESHEETS)
    module = f'<script type="module" src="{MEMBER_SCRIPT}"></script>' if script else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{_HTML_LANG[lang]}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{_e(title)}</title>{links}{module}"
        f'</head><body><main class="community">{body}</main></body></html>\n'
    )


def _check_lang(lang: str) -> None:
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")


def _date(ms: int, lang: Lang) -> str:
    return format_date(from_ms(ms, UTC).date(), lang)


def _when(ms: int, lang: Lang) -> str:
    return format_datetime(from_ms(ms, UTC), UTC, lang)


def render_community_page(
    view: CommunityPageView, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The whole HTML document for ``view`` in ``lang`` (``"en"`` or ``"zh"``); ``lang_hrefs``
    the page's address in each language for the "中文 / English" switch (None: no switch)."""
    _check_lang(lang)
    rules = view.in_force
    body = "".join(
        [
            _header(view, lang, lang_hrefs),
            _supply(view, lang),
            _distributions(view, lang),
            _rules(view, lang),
            _member(view, lang),
            _offline(view, lang),
            _footer(view, lang),
        ]
    )
    return _document(lang, t(lang, "title", name=rules.token_name), body, script=True)


def render_not_found(
    community: str, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The small page for an unknown community (served with status 404)."""
    _check_lang(lang)
    body = (
        f'<header class="product notfound">{_top(lang, lang_hrefs)}'
        f"<h1>{_e(t(lang, 'not_found_heading'))}</h1>"
        f"<p>{_e(t(lang, 'not_found_text', community=community))}</p></header>"
    )
    return _document(lang, t(lang, "not_found_title"), body, script=False)


def render_malformed(
    shown: str, reason: str, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The small page for a malformed community ID (served with status 422), saying why."""
    _check_lang(lang)
    body = (
        f'<header class="product notfound">{_top(lang, lang_hrefs)}'
        f"<h1>{_e(t(lang, 'malformed_heading'))}</h1>"
        f"<p><code>{_e(shown)}</code></p><p>{_e(t(lang, 'malformed_text', reason=reason))}</p>"
        "</header>"
    )
    return _document(lang, t(lang, "malformed_title"), body, script=False)


def _fact(label: str, value: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<div{attr}><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>"


def _header(view: CommunityPageView, lang: Lang, lang_hrefs: Mapping[str, str] | None) -> str:
    rules = view.in_force
    facts = [
        _fact(t(lang, "fig_supply"), f"{tokens(view.supply)} {rules.symbol}", "big"),
        _fact(t(lang, "fig_members"), t(lang, "fig_members_value", count=view.holders)),
        _fact(
            t(lang, "fig_rules"),
            t(lang, "fig_rules_value", version=rules.version, date=_date(rules.since_ms, lang)),
        ),
        _fact(
            t(lang, "fig_entries"),
            t(lang, "fig_entries_value", count=view.entries, anchored=view.anchored),
        ),
    ]
    return (
        f'<header class="product">{_top(lang, lang_hrefs)}'
        f'<p class="kicker">{_e(t(lang, "kicker", community=view.community))}</p>'
        f'<h1>{_e(rules.token_name)} <span class="symbol">{_e(rules.symbol)}</span></h1>'
        f'<p class="lede">{_e(t(lang, "lede"))}</p>'
        f'<dl class="facts figures" id="figures">{"".join(facts)}</dl></header>'
    )


def _supply(view: CommunityPageView, lang: Lang) -> str:
    rules = view.in_force
    points = view.supply_points
    if len(points) >= 2:
        desc = t(
            lang,
            "supply_chart_desc",
            first=tokens(points[0].supply),
            last=tokens(points[-1].supply),
            symbol=rules.symbol,
            start=_date(points[0].time_ms, lang),
            end=_date(points[-1].time_ms, lang),
            distributions=len(view.distributions),
        )
        chart = render_supply_chart(
            points,
            UTC,
            lang,
            chart_id="supply",
            title=t(lang, "supply_chart_title"),
            desc=desc,
            unit=rules.symbol,
        )
        shown = f'<figure class="chart-box">{chart}<figcaption>{_e(desc)}</figcaption></figure>'
    else:
        shown = f"<p>{_e(t(lang, 'supply_one_point', supply=tokens(view.supply), symbol=rules.symbol))}</p>"
    rows = "".join(
        f'<li data-op="{_e(op)}"><span class="what">{_e(t(lang, "made_" + op))}</span>'
        f'<span class="how">{_e(t(lang, "made_row_one" if count == 1 else "made_row", tokens=tokens(amount), symbol=rules.symbol, count=count))}</span></li>'
        for op, amount, count in view.made
    )
    return (
        '<section class="supply" aria-labelledby="supply-h">'
        f'<h2 id="supply-h">{_e(t(lang, "supply_heading"))}</h2>{shown}'
        f'<h3>{_e(t(lang, "made_heading"))}</h3><ul class="made">{rows}</ul>'
        f'<p class="sum-check">{_e(t(lang, "sum_check", supply=tokens(view.balance_total), symbol=rules.symbol))}</p>'
        f'<p class="note">{_e(t(lang, "utc_note"))}</p></section>'
    )


def _distribution(d: DistributionView, rules: RulesView, lang: Lang) -> str:
    surplus = money(d.surplus, rules.currency, rules.digits)
    if d.kind == "dividend":
        what = t(lang, "dist_dividend", surplus=surplus, holders=d.holders)
    else:
        what = t(
            lang,
            "dist_reinvest",
            surplus=surplus,
            tokens=tokens(d.total),
            symbol=rules.symbol,
            holders=d.holders,
        )
    period = t(
        lang,
        "dist_period",
        start=_date(d.from_ms, lang),
        end=_date(d.until_ms, lang),
        n=d.n,
        version=d.version,
    )
    return (
        f'<li class="dist {_e(d.kind)}" data-n="{d.n}" data-total="{d.total}">'
        f'<p class="when"><time datetime="{_e(from_ms(d.time_ms, UTC).isoformat())}">'
        f"{_e(_date(d.time_ms, lang))}</time></p>"
        f'<p class="what">{_e(what)}</p><p class="period">{_e(period)}</p></li>'
    )


def _distributions(view: CommunityPageView, lang: Lang) -> str:
    if view.distributions:
        # The words of the version each distribution ran under (its currency and symbol).
        by_version = {r.version: r for r in view.rules}
        items = "".join(
            _distribution(d, by_version.get(d.version, view.in_force), lang)
            for d in reversed(view.distributions)
        )
        inner = f'<ol class="distributions" reversed>{items}</ol>'
    else:
        inner = f"<p>{_e(t(lang, 'dist_none'))}</p>"
    return (
        '<section class="dists" aria-labelledby="dists-h">'
        f'<h2 id="dists-h">{_e(t(lang, "dist_heading"))}</h2>{inner}'
        f'<p class="note">{_e(t(lang, "dist_rounding"))}</p></section>'
    )


def _mint_rule(m: MintRuleView, r: RulesView, lang: Lang) -> str:
    cur, digits, symbol = r.currency, r.digits, r.symbol
    portion = "" if m.share is None else share(m.share[0], m.share[1], lang)
    if m.kind == "deposit":
        text = t(
            lang,
            "mint_deposit",
            share=portion,
            example=money(m.example, cur, digits),
            minted=tokens(m.minted),
            symbol=symbol,
        )
    elif m.kind == "service":
        text = t(
            lang,
            "mint_service",
            share=portion,
            example=money(m.example, cur, digits),
            cost=money(m.example_cost or 0, cur, digits),
            minted=tokens(m.minted),
            symbol=symbol,
        )
    elif m.kind == "work" and m.tokens_per_hour is not None:
        text = t(
            lang,
            "mint_work_tokens",
            rate=tokens(m.tokens_per_hour),
            minted=tokens(m.minted),
            symbol=symbol,
        )
    elif m.kind == "work":
        text = t(
            lang,
            "mint_work_money",
            rate=money(m.money_per_hour or 0, cur, digits),
            minted=tokens(m.minted),
            symbol=symbol,
        )
    else:
        text = t(
            lang,
            "mint_pledge",
            share=portion,
            example=money(m.example, cur, digits),
            minted=tokens(m.minted),
            symbol=symbol,
        )
    return f'<li data-kind="{_e(m.kind)}" data-minted="{m.minted}">{_e(text)}</li>'


def _rules_facts(r: RulesView, lang: Lang) -> list[str]:
    facts = [
        _fact(
            t(lang, "rules_token"), t(lang, "rules_token_value", name=r.token_name, symbol=r.symbol)
        ),
        _fact(
            t(lang, "rules_price"),
            t(
                lang,
                "rules_price_value",
                amount=money(r.price_amount, r.currency, r.digits),
                tokens=tokens(r.price_tokens),
                symbol=r.symbol,
                per=per_token(r.price_amount, r.price_tokens, r.currency, r.digits),
            ),
        ),
        _fact(
            t(lang, "rules_margin"),
            t(lang, "rules_margin_value", share=share(r.margin_cost, r.margin_revenue, lang)),
        ),
    ]
    if r.initial_supply is not None:
        facts.append(
            _fact(
                t(lang, "rules_initial"),
                t(
                    lang,
                    "rules_initial_value",
                    supply=tokens(r.initial_supply),
                    symbol=r.symbol,
                    count=r.initial_keys,
                ),
            )
        )
    facts.append(_fact(t(lang, "rules_surplus"), t(lang, "surplus_" + r.surplus)))
    facts.append(_fact(t(lang, "rules_operator"), r.operator_fingerprint, "mono"))
    facts.append(_fact(t(lang, "rules_hash"), r.sha256, "mono wide"))
    return facts


def _rules(view: CommunityPageView, lang: Lang) -> str:
    r = view.in_force
    founding = view.rules[0]
    mints = (
        "".join(_mint_rule(m, r, lang) for m in r.mint) or f"<li>{_e(t(lang, 'mint_none'))}</li>"
    )
    facts = _rules_facts(r, lang)
    if r.initial_supply is None and founding.initial_supply is not None:
        facts.insert(
            3,
            _fact(
                t(lang, "rules_initial"),
                t(
                    lang,
                    "rules_initial_value",
                    supply=tokens(founding.initial_supply),
                    symbol=founding.symbol,
                    count=founding.initial_keys,
                ),
            ),
        )
    words = r.text_zh if lang == "zh" else r.text_en
    earlier = ""
    if len(view.rules) > 1:
        items = "".join(
            "<li>"
            + _e(
                t(
                    lang,
                    "rules_earlier_item",
                    version=old.version,
                    n=old.since_n,
                    date=_date(old.since_ms, lang),
                    surplus=t(lang, "word_" + old.surplus),
                    kinds=", ".join(t(lang, "kind_" + m.kind) for m in old.mint)
                    or t(lang, "kinds_none"),
                )
            )
            + "</li>"
            for old in reversed(view.rules[:-1])
        )
        earlier = (
            f'<details class="earlier"><summary>{_e(t(lang, "rules_earlier"))}</summary>'
            f"<ul>{items}</ul></details>"
        )
    return (
        f'<section class="rules" id="rules" aria-labelledby="rules-h" data-version="{r.version}">'
        f'<h2 id="rules-h">{_e(t(lang, "rules_heading"))}</h2>'
        f'<p class="since">{_e(t(lang, "rules_version", version=r.version, n=r.since_n, date=_date(r.since_ms, lang)))}</p>'
        f'<dl class="facts">{"".join(facts)}</dl>'
        f'<h3>{_e(t(lang, "rules_mint"))}</h3><ul class="mint-rules">{mints}</ul>'
        f'<p class="note">{_e(t(lang, "mint_rounding"))}</p>'
        f'<details class="words-of-rules"><summary>{_e(t(lang, "rules_words"))}</summary>'
        f'<p lang="{_HTML_LANG[lang]}">{_e(words)}</p></details>{earlier}</section>'
    )


def _member(view: CommunityPageView, lang: Lang) -> str:
    r = view.in_force
    states = "".join(
        f'<p class="state-text" data-for="{s}"{"" if s == "idle" else " hidden"}>'
        f"{_e(t(lang, 'mstate_' + s))}</p>"
        for s in MEMBER_STATES
    )
    checks = "".join(
        f'<li data-check="{c}"><span class="name">{_e(t(lang, "check_" + c))}</span>'
        '<span class="result"></span></li>'
        for c in STATEMENT_CHECKS
    )
    words = "".join(f'<span data-word="{key}">{_e(t(lang, key))}</span>' for key in MEMBER_WORDS)
    url = f"/v1/communities/{view.community}/members/{{address}}/statement"
    attrs = {
        "data-state": "idle",
        "data-community": view.community,
        "data-statement-url": url,
        "data-verifier-key": view.verifier_key,
        "data-retired-keys": " ".join(view.retired_keys),
        "data-currency": r.currency,
        "data-digits": str(r.digits),
        "data-symbol": r.symbol,
        "data-lang": lang,
        "data-page-entries": str(view.entries),
        "data-page-supply": str(view.supply),
        "data-page-holders": str(view.holders),
    }
    attr_text = " ".join(f'{k}="{_e(v)}"' for k, v in attrs.items())
    return (
        f'<section id="member" class="member proof" aria-labelledby="member-h" {attr_text}>'
        f'<h2 id="member-h">{_e(t(lang, "member_heading"))}</h2>'
        f'<p class="note">{_e(t(lang, "member_intro"))}</p>'
        f'<div class="badge" role="status" aria-live="polite"><span class="icon" aria-hidden="true"></span>'
        f"<div>{states}</div></div>"
        f'<p class="wallet-link" data-for-state="nowallet" hidden><a href="{WALLET_PAGE}">'
        f"{_e(t(lang, 'wallet_link'))}</a></p>"
        '<ul class="failures" hidden></ul>'
        '<dl class="facts figures" hidden>'
        f'<div><dt>{_e(t(lang, "member_wallet"))}</dt><dd class="wallet mono"></dd></div>'
        f'<div><dt>{_e(t(lang, "member_balance"))}</dt><dd class="balance"></dd></div>'
        f'<div><dt>{_e(t(lang, "member_share"))}</dt><dd class="share"></dd></div>'
        '<div class="wide"><dt></dt><dd class="counts"></dd></div></dl>'
        f'<div class="earned-box" hidden><h3>{_e(t(lang, "member_earned"))}</h3><ol class="earned"></ol></div>'
        f'<div class="parts-box" hidden><h3>{_e(t(lang, "member_parts"))}</h3><ul class="parts"></ul>'
        f'<p class="none" hidden>{_e(t(lang, "member_parts_none"))}</p></div>'
        f'<details class="how"><summary>{_e(t(lang, "member_checked"))}</summary>'
        f'<ol class="checks">{checks}</ol><ol class="lines"></ol></details>'
        f'<p class="download" hidden><a class="download" href="#" download>{_e(t(lang, "member_download"))}</a></p>'
        f'<div class="words" hidden>{words}</div></section>'
    )


def _offline(view: CommunityPageView, lang: Lang) -> str:
    commands = (
        f"farmtrace community statement --community {view.community} --key ADDRESS "
        "--out statement.json\nfarmtrace verify statement.json --key VKEY"
    )
    vkey = (
        f'<p class="vkey"><span>VKEY</span> <code>{_e(view.verifier_key)}</code></p>'
        if view.verifier_key
        else ""
    )
    return (
        '<section class="offline" aria-labelledby="offline-h">'
        f'<h2 id="offline-h">{_e(t(lang, "offline_heading"))}</h2>'
        f"<p>{_e(t(lang, 'offline_text'))}</p><pre><code>{_e(commands)}</code></pre>{vkey}</section>"
    )


def _footer(view: CommunityPageView, lang: Lang) -> str:
    path = f"/v1/communities/{view.community}"
    return (
        f"<footer><p>{_e(t(lang, 'footer_generated', time=_when(view.generated_ms, lang)))}</p>"
        f'<p>{_e(t(lang, "footer_api", path=""))}<a href="{_e(path)}">{_e(path)}</a></p></footer>'
    )
