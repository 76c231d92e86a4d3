"""The consumer's page as HTML: :func:`render_page` (and :func:`choose_language` for the header).

The first phone screen answers what a shopper asks: the product, where and when it was
harvested, a one-line verdict on how it was kept (:mod:`farmtrace.api.services.page.verdict`),
the verification badge and the journey as a short timeline. Below come the stages in time order
with their charts (:mod:`farmtrace.api.services.page.stage_render`), the full list of events, the
proof's details, the farm and the scans. :func:`render_not_found` is the small page for an
unknown lot.

Mobile-first, semantic, no build step. Everything but the verification badge works without
JavaScript; the badge is filled by ``/static/page/badge.js`` (loaded as a module: no inline
script, so a ``script-src 'self'`` CSP holds) from the ``data-`` attributes of ``#proof``. All
data is escaped here; the view model carries plain text only.

Badge contract (``#proof``): ``data-bundle-url``, ``data-verifier-key``, ``data-retired-keys``
(the chain's older verifier keys, space-separated, also trusted), ``data-state`` (the
script sets ``verifying``, then ``verified``, ``pending`` or ``failed``); one
``[data-for=STATE]`` paragraph per state (the script unhides the current one); ``.counts`` with
the template in ``data-template`` (``{readings}``, ``{events}``, ``{blocks}``, ``{size}``);
``li[data-check=NAME]`` per check (``checkpoint``, ``signatures``, ``batches``, ``blocks``,
``claims``) whose ``.result`` the script fills; ``ul.failures`` for the failing items;
``p[data-explain=CHECK]``: a plain-words explanation the script unhides for the check of the
first failure; ``data-readings`` / ``data-events``: how many the page shows, which the script compares with
what the bundle proves (fewer proven: "pending", with ``data-short-template``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from html import escape

from farmtrace.api.services.page.gaps import render_gaps
from farmtrace.api.services.page.i18n import count_words, t
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.model import (
    Anchoring,
    CampaignLink,
    EventKind,
    Farm,
    Lang,
    ProductPage,
    ScanStats,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.stage_render import render_stages, stage_label
from farmtrace.api.services.page.timefmt import format_date, format_datetime, zone
from farmtrace.api.services.page.verdict import condition_verdict

__all__ = ["BADGE_SCRIPT", "STYLESHEET", "choose_language", "render_not_found", "render_page"]

STYLESHEET = "/static/page/page.css"
BADGE_SCRIPT = "/static/page/badge.js"
CHECKS = ("checkpoint", "signatures", "batches", "series", "blocks", "claims")
STATES = ("idle", "verifying", "verified", "pending", "failed", "unavailable")
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _document(lang: Lang, title: str, body: str, *, script: bool) -> str:
    module = f'<script type="module" src="{BADGE_SCRIPT}"></script>' if script else ""
    return (
        "<!doctype html>\n"
        f'<html lang="{_HTML_LANG[lang]}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{_e(title)}</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}">{module}'
        f"</head><body><main>{body}</main></body></html>\n"
    )


def _check_lang(lang: str) -> None:
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")


def render_page(
    view: ProductPage, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The whole HTML document for ``view`` in ``lang`` (``"en"`` or ``"zh"``).

    ``lang_hrefs``: the page's address in each language (``{"zh": "?lang=zh", "en":
    "?lang=en"}``) for the visible "中文 / English" switch; None shows no switch (for a caller
    that does not honour ``?lang=``).

    Raises ValueError for a view that cannot be shown truthfully (a naive datetime, an unknown
    time zone); everything else, including hostile text, renders safely.
    """
    _check_lang(lang)
    tz = zone(view.display_tz)
    title = t(lang, "title", name=view.name.get(lang), lot=view.lot)
    body = "".join(
        [
            _first_screen(view, tz, lang, lang_hrefs),
            render_stages(view, tz, lang),
            render_gaps(view.gaps, lang),
            _timeline(view.events, tz, lang),
            _proof_details(view, lang),
            _campaigns(view.campaigns, lang),
            _farm(view.farm, lang) if view.farm is not None else "",
            _scans(view.scans, tz, lang) if view.scans is not None else "",
            _footer(view, tz, lang),
        ]
    )
    return _document(lang, title, body, script=True)


def render_not_found(
    gtin: str, lot: str, lang: Lang, *, lang_hrefs: Mapping[str, str] | None = None
) -> str:
    """The small page for a Digital Link whose lot is not recorded (served with status 404)."""
    _check_lang(lang)
    body = (
        '<header class="product notfound">'
        f"{_top(lang, lang_hrefs)}"
        f"<h1>{_e(t(lang, 'not_found_heading'))}</h1>"
        f"<p>{_e(t(lang, 'not_found_text', gtin=gtin, lot=lot))}</p></header>"
    )
    return _document(lang, t(lang, "not_found_title"), body, script=False)


def _top(lang: Lang, lang_hrefs: Mapping[str, str] | None) -> str:
    """The brand and the language switch (both languages named in their own script)."""
    links: list[str] = []
    hrefs: Mapping[str, str] = lang_hrefs or {}
    for code in ("zh", "en") if hrefs else ():
        name = _e(t(code, f"lang_{code}"))
        html_lang = _HTML_LANG[code]
        if code == lang:
            links.append(
                f'<a href="{_e(hrefs[code])}" lang="{html_lang}" aria-current="page">{name}</a>'
            )
        else:
            links.append(
                f'<a href="{_e(hrefs[code])}" hreflang="{html_lang}" lang="{html_lang}">{name}</a>'
            )
    switch = (
        f'<nav class="langs" aria-label="{_e(t(lang, "lang_nav"))}">{" / ".join(links)}</nav>'
        if links
        else ""
    )
    return f'<div class="top"><span class="brand">farmtrace</span>{switch}</div>'


def _first_screen(
    view: ProductPage, tz: tzinfo, lang: Lang, lang_hrefs: Mapping[str, str] | None
) -> str:
    verdict = condition_verdict(view, lang)
    where = []
    if view.origin:
        where.append(t(lang, "from_origin", origin=view.origin))
    if view.harvest_date is not None:
        where.append(t(lang, "harvested_on", date=format_date(view.harvest_date, lang)))
    revised = (
        f'<p class="revised">{_e(t(lang, "revised", date=format_date(view.revised_at.astimezone(tz).date(), lang)))}</p>'
        if view.revised_at is not None
        else ""
    )
    return (
        '<header class="product">'
        f"{_top(lang, lang_hrefs)}"
        f"<h1>{_e(view.name.get(lang))}</h1>"
        f'<p class="origin">{_e(" · ".join(where))}</p>'
        f'<p class="verdict {verdict.status}" id="verdict">{_e(verdict.text)}</p>{revised}'
        "</header>"
        f"{_proof(view.verification, lang)}"
        f"{_journey_short(view, tz, lang)}"
    )


def _short_time(moment: datetime, tz: tzinfo, lang: Lang) -> str:
    """``6 Dec 07:00`` / ``12月6日 07:00``: the journey's dates, in the farm's zone."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    local = moment.astimezone(tz)
    return f"{format_date(local.date(), lang, short=True)} {local.hour:02d}:{local.minute:02d}"


def _journey_short(view: ProductPage, tz: tzinfo, lang: Lang) -> str:
    """The journey in a few lines: each stage (name, kind, when), then the delivery, if any."""
    steps: list[tuple[str, str, str]] = []  # (css kind, name, when)
    for stage in sorted(view.stages, key=lambda s: s.start):
        steps.append((stage.kind, stage.name, _short_time(stage.start, tz, lang)))
    events = sorted(view.events, key=lambda e: e.time)
    if not steps:
        for event in events:
            steps.append(
                (
                    event.kind.value,
                    t(lang, "kind_" + event.kind.value),
                    _short_time(event.time, tz, lang),
                )
            )
    else:
        received = [e for e in events if e.kind is EventKind.RECEIVING]
        if received:
            last = received[-1]
            steps.append(("receiving", last.place, _short_time(last.time, tz, lang)))
    if not steps:
        return ""
    items = "".join(
        f'<li class="{_e(kind)}"><span class="step">{_e(name)}</span>'
        + (
            f' <span class="kind">{_e(stage_label(lang, kind))}</span>'
            if kind in ("field", "room", "truck", "display")
            else ""
        )
        + f'<span class="at">{_e(when)}</span></li>'
        for kind, name, when in steps
    )
    return (
        '<section class="journey-short" id="journey" aria-labelledby="journey-short-h">'
        f'<h2 id="journey-short-h">{_e(t(lang, "journey_short"))}</h2>'
        f'<ol class="steps">{items}</ol></section>'
    )


def _proof(info: VerificationInfo, lang: Lang) -> str:
    """The badge (first screen); how it was checked sits in a closed details control."""
    states = "".join(
        f'<p class="state-text" data-for="{s}"{"" if s == "idle" else " hidden"}>'
        f"{_e(t(lang, 'state_' + s))}</p>"
        for s in STATES
    )
    checks = "".join(
        f'<li data-check="{c}"><span class="name">{_e(t(lang, "check_" + c))}</span>'
        '<span class="result"></span></li>'
        for c in CHECKS
    )
    pending = (
        f'<p class="note">{_e(t(lang, "pending_server", pending=info.pending))}</p>'
        if info.pending
        else ""
    )
    explain = "".join(
        f'<p class="explain" data-explain="{c}" hidden>{_e(t(lang, "explain_" + c))}</p>'
        for c in CHECKS
    )
    command = "farmtrace verify BUNDLE --key VKEY"
    return (
        f'<section id="proof" class="proof" aria-labelledby="proof-h" data-state="idle" '
        f'data-bundle-url="{_e(info.bundle_url)}" data-verifier-key="{_e(info.verifier_key)}" '
        f'data-retired-keys="{_e(" ".join(info.retired_keys))}" '
        f'data-readings="{info.readings}" data-events="{info.events}" '
        f'data-short-template="{_e(t(lang, "claims_short"))}">'
        f'<h2 id="proof-h" class="quiet">{_e(t(lang, "verify_heading"))}</h2>'
        f'<div class="badge" role="status" aria-live="polite"><span class="icon" aria-hidden="true"></span>'
        f'<div>{states}<p class="counts" hidden data-template="{_e(t(lang, "verified_counts"))}"></p>'
        "</div></div>"
        f'{explain}<ul class="failures" hidden></ul>{pending}'
        f'<details class="how"><summary>{_e(t(lang, "proof_how"))}</summary>'
        f'<ol class="checks" hidden>{checks}</ol>'
        '<div class="scope">'
        f'<div><h3>{_e(t(lang, "checked_heading"))}</h3><ul class="yes">'
        f"<li>{_e(t(lang, 'checked_signatures'))}</li><li>{_e(t(lang, 'checked_inclusion'))}</li>"
        f"<li>{_e(t(lang, 'checked_checkpoint', key=info.verifier_key.split('+')[0]))}</li>"
        f"<li>{_e(t(lang, 'checked_device'))}</li></ul></div>"
        f'<div><h3>{_e(t(lang, "not_checked_heading"))}</h3><ul class="no">'
        f"<li>{_e(t(lang, 'not_checked_sensor'))}</li><li>{_e(t(lang, 'not_checked_people'))}</li>"
        "</ul></div></div>"
        f'<p class="download"><a href="{_e(info.bundle_url)}" download>{_e(t(lang, "download"))}</a></p>'
        f'<p class="offline">{_e(t(lang, "offline"))}</p>'
        f"<pre><code>{_e(command)}</code></pre>"
        f'<p class="vkey"><span>VKEY</span> <code>{_e(info.verifier_key)}</code></p>'
        "</details></section>"
    )


def _proof_details(view: ProductPage, lang: Lang) -> str:
    """The lot's identifiers, below the stages (the badge above holds the checks)."""
    facts = [_fact(t(lang, "lot"), view.lot, "mono"), _fact(t(lang, "gtin"), view.gtin, "mono")]
    for key, day in (
        ("harvested", view.harvest_date),
        ("packed", view.pack_date),
        ("expiry", view.expiry_date),
    ):
        if day is not None:
            facts.append(_fact(t(lang, key), format_date(day, lang)))
    if view.origin:
        facts.append(_fact(t(lang, "origin"), view.origin, "wide"))
    facts += [_fact(label, value) for label, value in view.extra.items()]
    return (
        '<section class="facts-section" aria-labelledby="facts-h">'
        f'<h2 id="facts-h">{_e(t(lang, "tagline"))}</h2>'
        f'<dl class="facts">{"".join(facts)}</dl></section>'
    )


def _campaigns(campaigns: tuple[CampaignLink, ...], lang: Lang) -> str:
    """Links to the lot's harvest campaigns (nothing when it has none)."""
    if not campaigns:
        return ""
    items = "".join(
        f'<li><a href="{_e(c.href)}">{_e(t(lang, "campaign_item", gcn=c.gcn))}</a> '
        f'<span class="status">{_e(t(lang, "campaign_" + c.status))}</span></li>'
        for c in campaigns
        if c.status in ("open", "funded", "failed", "closed")
    )
    return (
        '<section class="campaigns" id="campaigns" aria-labelledby="campaigns-h">'
        f'<h2 id="campaigns-h">{_e(t(lang, "campaigns_heading"))}</h2><ul>{items}</ul></section>'
    )


def _fact(label: str, value: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<div{attr}><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>"


def _place(event: TimelineEvent, lang: Lang) -> str:
    """The place's name; its identifier one tap away (never shown as the name)."""
    if not event.place_id:
        return f'<p class="where">{_e(event.place)}</p>'
    return (
        f'<details class="where"><summary>{_e(event.place)}</summary>'
        f'<span class="pid-label">{_e(t(lang, "place_id"))}</span> <code>{_e(event.place_id)}</code></details>'
    )


def _event(event: TimelineEvent, tz: tzinfo, lang: Lang) -> str:
    anchored = event.anchoring is Anchoring.ANCHORED
    state = t(lang, "anchored" if anchored else "pending")
    detail = f'<p class="detail">{_e(event.detail)}</p>' if event.detail else ""
    when = event.time.astimezone(tz).isoformat()
    return (
        f'<li class="event {event.kind.value}{"" if anchored else " pending-anchor"}">'
        f"<h3>{_e(t(lang, 'kind_' + event.kind.value))}</h3>"
        f'<p class="when"><time datetime="{_e(when)}">{_e(format_datetime(event.time, tz, lang))}</time></p>'
        f"{_place(event, lang)}"
        f'<p class="who">{_e(t(lang, "by", actor=event.actor))}</p>{detail}'
        f'<p class="anchor {event.anchoring.value}">{_e(state)}</p></li>'
    )


def _timeline(events: tuple[TimelineEvent, ...], tz: tzinfo, lang: Lang) -> str:
    ordered = sorted(events, key=lambda e: e.time)
    inner = (
        f'<ol class="timeline">{"".join(_event(e, tz, lang) for e in ordered)}</ol>'
        if ordered
        else f"<p>{_e(t(lang, 'no_events'))}</p>"
    )
    return (
        '<section class="journey" aria-labelledby="journey-h">'
        f'<h2 id="journey-h">{_e(t(lang, "timeline_heading"))}</h2>{inner}</section>'
    )


def _farm(farm: Farm, lang: Lang) -> str:
    facts = [_fact(t(lang, "grower"), farm.grower)]
    if farm.method:
        facts.append(_fact(t(lang, "method"), farm.method))
    if farm.location:
        facts.append(_fact(t(lang, "location"), farm.location))
    certs = "".join(f"<li>{_e(c)}</li>" for c in farm.certifications)
    cert_block = (
        f'<h4>{_e(t(lang, "certifications"))}</h4><ul class="certs">{certs}</ul>' if certs else ""
    )
    return (
        '<section class="farm" aria-labelledby="farm-h">'
        f'<h2 id="farm-h">{_e(t(lang, "farm_heading"))}</h2><h3>{_e(farm.name)}</h3>'
        f'<dl class="facts">{"".join(facts)}</dl>{cert_block}</section>'
    )


def _scans(scans: ScanStats, tz: tzinfo, lang: Lang) -> str:
    if scans.first_scan is not None:
        first = format_date(scans.first_scan.astimezone(tz).date(), lang)
        total = t(lang, "scans_total", times=count_words(lang, "times", scans.total), first=first)
    else:
        total = t(lang, "scans_total_nodate", times=count_words(lang, "times", scans.total))
    places = "".join(
        f"<li>{_e(t(lang, 'scans_place', place=p.place, count=p.count))}</li>" for p in scans.places
    )
    warning = (
        f'<p class="warning" role="alert">{_e(t(lang, "scans_unusual", reason=scans.reason))}</p>'
        if scans.unusual
        else ""
    )
    return (
        '<section class="scans" aria-labelledby="scans-h">'
        f'<h2 id="scans-h">{_e(t(lang, "scans_heading"))}</h2>{warning}<p>{_e(total)}</p>'
        f'{f"<ul>{places}</ul>" if places else ""}<p class="note">{_e(t(lang, "scans_help"))}</p>'
        "</section>"
    )


def _footer(view: ProductPage, tz: tzinfo, lang: Lang) -> str:
    made = (
        f"<p>{_e(t(lang, 'footer_generated', time=format_datetime(view.generated_at, tz, lang)))}</p>"
        if view.generated_at is not None
        else ""
    )
    link = _e(view.digital_link)
    safe_href = link if view.digital_link.startswith(("https://", "http://")) else "#"
    return (
        f'<footer><p>{_e(t(lang, "footer_link", uri=""))}<a href="{safe_href}">{link}</a></p>'
        f"{made}</footer>"
    )
