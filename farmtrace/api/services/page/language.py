"""Choosing the page's language from an HTTP ``Accept-Language`` header (RFC 9110 §12.5.4)."""

from __future__ import annotations

import re

from farmtrace.api.services.page.model import Lang

__all__ = ["DEFAULT_LANGUAGE", "choose_language"]

DEFAULT_LANGUAGE: Lang = "en"

_RANGE = re.compile(r"^([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)$")
_QVALUE = re.compile(r"^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$")


def _parse(header: str) -> list[tuple[str, float, int]]:
    ranges: list[tuple[str, float, int]] = []
    for position, item in enumerate(header.split(",")):
        parts = [p.strip() for p in item.split(";")]
        tag = parts[0]
        if not _RANGE.fullmatch(tag):
            continue  # a malformed range is ignored, as browsers and servers do
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip()
                q = float(value) if _QVALUE.fullmatch(value) else 0.0
        ranges.append((tag.lower(), q, position))
    return ranges


def choose_language(accept_language: str | None, requested: str | None = None) -> Lang:
    """``"zh"`` or ``"en"``: the supported language the header prefers most.

    ``requested`` (a ``?lang=`` query value: ``zh``, ``zh-*``, ``en``, ``en-*``) wins over the
    header when it names a supported language; anything else in it is ignored.

    Ranges are ranked by q-value, then by their order in the header. ``zh`` and any ``zh-*``
    (``zh-CN``, ``zh-Hant-TW``...) select Chinese; ``en`` and ``en-*`` English; ``*`` the
    default (English). ``q=0`` means "not this". A missing, empty or unusable header gives
    English. Malformed items are skipped rather than rejected: a page must always render.
    """
    if requested:
        primary = requested.strip().lower().split("-")[0]
        if primary in ("zh", "en"):
            return "zh" if primary == "zh" else "en"
    if not accept_language:
        return DEFAULT_LANGUAGE
    ranked = sorted(_parse(accept_language), key=lambda r: (-r[1], r[2]))
    refused = {tag.split("-")[0] for tag, q, _ in ranked if q == 0}
    for tag, q, _ in ranked:
        if q == 0:
            continue
        primary = tag.split("-")[0]
        if primary in ("zh", "en") and primary not in refused:
            return "zh" if primary == "zh" else "en"
        if primary == "*":
            return DEFAULT_LANGUAGE if DEFAULT_LANGUAGE not in refused else "zh"
    return DEFAULT_LANGUAGE
