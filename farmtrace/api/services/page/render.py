"""The consumer's page as HTML: :func:`render_page` (and :func:`choose_language` for the header).

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

from datetime import tzinfo
from html import escape

from farmtrace.api.services.coldchain import Assessment, Severity
from farmtrace.api.services.coldchain.summary import (
    format_band,
    format_duration,
    format_value,
    summarize,
)
from farmtrace.api.services.page.chart import render_chart
from farmtrace.api.services.page.i18n import measurement_name, t
from farmtrace.api.services.page.language import choose_language
from farmtrace.api.services.page.model import (
    Anchoring,
    ConditionView,
    Farm,
    Lang,
    ProductPage,
    ScanStats,
    TimelineEvent,
    VerificationInfo,
)
from farmtrace.api.services.page.timefmt import format_date, format_datetime, from_ms, zone

__all__ = ["BADGE_SCRIPT", "STYLESHEET", "choose_language", "render_page"]

STYLESHEET = "/static/page/page.css"
BADGE_SCRIPT = "/static/page/badge.js"
CHECKS = ("checkpoint", "signatures", "batches", "blocks", "claims")
STATES = ("idle", "verifying", "verified", "pending", "failed", "unavailable")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _keep_units(text: str) -> str:
    """No line break between a number and its unit."""
    return text.replace(" °C", "\u00a0°C").replace(" %", "\u00a0%")


def render_page(view: ProductPage, lang: Lang, *, switch_href: str | None = None) -> str:
    """The whole HTML document for ``view`` in ``lang`` (``"en"`` or ``"zh"``).

    ``switch_href``: where the "中文 / English" link goes (e.g. ``?lang=zh``, for a resolver
    that passes ``lang`` to :func:`choose_language`); None shows no link.

    Raises ValueError for a view that cannot be shown truthfully (a naive datetime, an unknown
    time zone); everything else, including hostile text, renders safely.
    """
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")
    tz = zone(view.display_tz)
    name = view.name.get(lang)
    title = t(lang, "title", name=name, lot=view.lot)
    body = "".join(
        [
            _header(view, lang, switch_href),
            _proof(view.verification, lang),
            _conditions(view.conditions, tz, lang),
            _timeline(view.events, tz, lang),
            _farm(view.farm, lang) if view.farm is not None else "",
            _scans(view.scans, tz, lang) if view.scans is not None else "",
            _footer(view, tz, lang),
        ]
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{"zh-Hans" if lang == "zh" else "en"}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f"<title>{_e(title)}</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}">'
        f'<script type="module" src="{BADGE_SCRIPT}"></script>'
        f"</head><body><main>{body}</main></body></html>\n"
    )


def _fact(label: str, value: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<div{attr}><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>"


def _header(view: ProductPage, lang: Lang, switch_href: str | None) -> str:
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
    other = "en" if lang == "zh" else "zh-Hans"
    switch = (
        f'<a class="lang" href="{_e(switch_href)}" hreflang="{other}" lang="{other}">'
        f"{_e(t(lang, 'other_language'))}</a>"
        if switch_href is not None
        else ""
    )
    return (
        '<header class="product">'
        f'<p class="top"><span class="brand">farmtrace</span>{switch}</p>'
        f"<h1>{_e(view.name.get(lang))}</h1>"
        f'<p class="tagline">{_e(t(lang, "tagline"))}</p>'
        f'<dl class="facts">{"".join(facts)}</dl></header>'
    )


def _proof(info: VerificationInfo, lang: Lang) -> str:
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
        f'<h2 id="proof-h">{_e(t(lang, "verify_heading"))}</h2>'
        f'<div class="badge" role="status" aria-live="polite"><span class="icon" aria-hidden="true"></span>'
        f'<div>{states}<p class="counts" hidden data-template="{_e(t(lang, "verified_counts"))}"></p>'
        "</div></div>"
        f'{explain}<ol class="checks" hidden>{checks}</ol><ul class="failures" hidden></ul>{pending}'
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
        "</section>"
    )


def _conditions(conditions: tuple[ConditionView, ...], tz: tzinfo, lang: Lang) -> str:
    parts = [
        f'<section class="conditions" aria-labelledby="cond-h"><h2 id="cond-h">'
        f"{_e(t(lang, 'conditions_heading'))}</h2>"
    ]
    if not conditions:
        parts.append(f"<p>{_e(t(lang, 'no_conditions'))}</p>")
    for i, cond in enumerate(conditions):
        parts.append(_condition(cond, i, tz, lang))
    parts.append("</section>")
    return "".join(parts)


def _condition(cond: ConditionView, index: int, tz: tzinfo, lang: Lang) -> str:
    heading = measurement_name(lang, cond.measurement)
    a, rule = cond.assessment, cond.rule
    summary = summarize(a, lang) if a is not None else ""
    status = "breach" if a is not None and a.breached else "ok"
    if a is not None and any(e.severity is Severity.EXCURSION for e in a.excursions):
        status = "warn" if status == "ok" else status
    out = [f'<article class="condition {status}"><h3>{_e(heading)}</h3>']
    if cond.place:
        out.append(f'<p class="where">{_e(t(lang, "measured_at", place=cond.place))}</p>')
    if cond.device:
        out.append(f'<p class="device">{_e(t(lang, "sensor", device=cond.device))}</p>')
    if summary:
        out.append(f'<p class="summary">{_e(_keep_units(summary))}</p>')
    if cond.samples:
        start = format_datetime(from_ms(cond.samples[0].time_ms, tz), tz, lang)
        end = format_datetime(from_ms(cond.samples[-1].time_ms, tz), tz, lang)
        desc = t(
            lang, "chart_desc", measurement=heading, start=start, end=end,
            count=len(cond.samples), summary=summary,
        )  # fmt: skip
        chart = render_chart(cond, tz, lang, chart_id=f"chart{index}", title=heading, desc=desc)
        out.append(f"<figure>{chart}<figcaption>{_legend(cond, lang)}</figcaption></figure>")
    if cond.clock_backwards:
        out.append(f'<p class="note clock">{_e(_clock_note(cond.clock_backwards, lang))}</p>')
    if rule is None:
        out.append(f'<p class="rule">{_e(t(lang, "no_rule"))}</p>')
    if a is not None:
        out.append(_excursion_list(a, cond.unit, tz, lang))
    if rule is not None and rule.source:
        out.append(
            f'<p class="rule">{_e(t(lang, "rule_note", rule=rule.rule_id, source=rule.source))}</p>'
        )
    out.append("</article>")
    return "".join(out)


def _clock_note(count: int, lang: Lang) -> str:
    """Readings whose device clock went backwards are shown as signed; the page says so."""
    return t(lang, "clock_backwards_one" if count == 1 else "clock_backwards_many", count=count)


def _excursion_list(a: Assessment, unit: str, tz: tzinfo, lang: Lang) -> str:
    """The excursions beyond the grace, folded under a summary line; empty if none."""
    shown = [e for e in a.excursions if e.severity is not Severity.SPIKE]
    if not shown:
        return ""
    rows = []
    for e in shown:
        row = t(
            lang, "excursion_row",
            start=format_datetime(from_ms(e.start_ms, tz), tz, lang),
            duration=format_duration(e.duration_ms, lang),
            peak=format_value(e.peak, unit),
        )  # fmt: skip
        severity = t(lang, "severity_" + e.severity.value)
        rows.append(
            f'<li class="{e.severity.value}">{_e(row)} <span class="sev">{_e(severity)}</span></li>'
        )
    return (
        f"<details><summary>{_e(t(lang, 'excursions_heading'))} ({len(shown)})</summary>"
        f'<ul class="excursions">{"".join(rows)}</ul></details>'
    )


def _legend(cond: ConditionView, lang: Lang) -> str:
    items = ['<span class="key line"></span>' + _e(measurement_name(lang, cond.measurement))]
    if cond.rule is not None:
        band = format_band(cond.rule, lang)
        items.append('<span class="key band"></span>' + _e(t(lang, "allowed_band", band=band)))
    a = cond.assessment
    if a is not None and any(e.severity is not Severity.SPIKE for e in a.excursions):
        items.append('<span class="key excursion"></span>' + _e(t(lang, "excursion_mark")))
    if a is not None and a.gaps:
        items.append('<span class="key gap"></span>' + _e(t(lang, "gap_mark")))
    return "".join(f'<span class="legend-item">{item}</span>' for item in items)


def _event(event: TimelineEvent, tz: tzinfo, lang: Lang) -> str:
    anchored = event.anchoring is Anchoring.ANCHORED
    state = t(lang, "anchored" if anchored else "pending")
    detail = f'<p class="detail">{_e(event.detail)}</p>' if event.detail else ""
    when = event.time.astimezone(tz).isoformat()
    return (
        f'<li class="event {event.kind.value}{"" if anchored else " pending-anchor"}">'
        f"<h3>{_e(t(lang, 'kind_' + event.kind.value))}</h3>"
        f'<p class="when"><time datetime="{_e(when)}">{_e(format_datetime(event.time, tz, lang))}</time></p>'
        f'<p class="where">{_e(event.place)}</p>'
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
        total = t(lang, "scans_total", total=scans.total, first=first)
    else:
        total = t(lang, "scans_total_nodate", total=scans.total)
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
