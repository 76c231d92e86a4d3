"""Dates and times as the page shows them, in the lot's display time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from farmtrace.api.services.page.model import Lang

__all__ = ["format_date", "format_datetime", "format_offset", "from_ms", "zone"]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def zone(name: str) -> tzinfo:
    """The time zone called ``name`` (IANA, e.g. ``Asia/Shanghai``); UTC for ``UTC`` or ``""``.

    Raises ValueError naming the zone if it is unknown.
    """
    if name in ("", "UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def from_ms(ms: int, tz: tzinfo) -> datetime:
    """Milliseconds since the epoch as an aware datetime in ``tz``."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(tz)


def format_date(day: date, lang: Lang, *, short: bool = False) -> str:
    """``21 Nov 2026`` / ``2026年11月21日``; ``short`` drops the year: ``21 Nov`` / ``11月21日``."""
    if lang == "zh":
        return f"{day.month}月{day.day}日" if short else f"{day.year}年{day.month}月{day.day}日"
    text = f"{day.day} {_MONTHS[day.month - 1]}"
    return text if short else f"{text} {day.year}"


def format_offset(moment: datetime) -> str:
    """``UTC``, ``UTC+8``, ``UTC-3:30``."""
    offset = moment.utcoffset()
    if not offset:
        return "UTC"
    minutes = round(offset.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def format_datetime(moment: datetime, tz: tzinfo, lang: Lang) -> str:
    """``21 Nov 2026, 14:05 UTC+8`` / ``2026年11月21日 14:05 (UTC+8)``; naive times are refused."""
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment.isoformat()} has no time zone")
    local = moment.astimezone(tz)
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if lang == "zh":
        return f"{format_date(local.date(), lang)} {clock} ({format_offset(local)})"
    return f"{format_date(local.date(), lang)}, {clock} {format_offset(local)}"
