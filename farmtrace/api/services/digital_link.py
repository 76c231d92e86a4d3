"""GS1 Digital Link URIs for farm products: a GTIN with its lot, in plain Python (stdlib only).

A product pack carries a URI such as::

    https://<domain>[/<path prefix>]/01/<GTIN>[/22/<CPV>]/10/<lot>[/21/<serial>][/235/<TPX>][?17=YYMMDD]

The GTIN is the primary key (AI 01); its key qualifiers follow in the fixed order 22 (consumer
product variant), 10 (batch/lot), 21 (serial), 235 (third-party controlled serial), each at most
once; data attributes travel in the query. Rules applied here (GS1 General Specifications and
the GS1 Digital Link URI Syntax standard, 1.2):

* GTIN-8, -12, -13 and -14 are accepted and normalised to 14 digits by left-padding with zeros;
  the check digit (weights 3, 1, 3, 1... from the rightmost data digit) must be right.
* CPV, lot and serial are 1 to 20 characters, TPX 1 to 28, of the GS1 AI encodable character
  set 82. In the URI they are percent-encoded: every character outside ``A-Z a-z 0-9 - . _``
  becomes ``%XX`` (the reserved ones of set 82: ``! " % & ' ( ) * + , / : ; < = > ?``). Parsing
  decodes each path segment after splitting on ``/``, so ``%2F`` is part of a value.
* The only data attribute understood is AI 17 (expiry date, ``YYMMDD``; day ``00`` means the
  end of the month). Other numeric query keys are refused, since they would be GS1 data this
  module would silently drop; non-numeric keys (``linkType``, ``lang``...) are resolver
  parameters, not part of the product's identity, and are ignored.
* Everything before the ``01`` segment is the domain's path prefix, ignored here; the last
  ``01`` segment that leaves an even number of segments is the start of the identifier (a
  prefix may itself contain ``01`` segments).
* Short alphabetic names (``/gtin/``, ``/lot/``), deprecated since version 1.2, are not accepted.

Every problem raises :class:`DigitalLinkError` (a :class:`ValueError`) whose message names what
was wrong, e.g. ``GTIN 06901234567891 has check digit 1, expected 2``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from urllib.parse import parse_qsl, quote, unquote_to_bytes, urlsplit

__all__ = [
    "CANONICAL_DOMAIN",
    "DigitalLink",
    "DigitalLinkError",
    "gtin_check_digit",
    "normalize_gtin",
    "public_base_url",
]

CANONICAL_DOMAIN = "id.gs1.org"
"""The domain of canonical GS1 Digital Link URIs."""

# GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
_CSET82 = frozenset(
    "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)
_GTIN_LENGTHS = (8, 12, 13, 14)
_DIGITS = re.compile("[0-9]+")
_PERCENT = re.compile("%([0-9A-Fa-f]{2})")
_YYMMDD = re.compile("[0-9]{6}")


class DigitalLinkError(ValueError):
    """A GTIN, lot, serial or Digital Link URI that is malformed; the message says how."""


@dataclass(frozen=True, slots=True)
class _Qualifier:
    ai: str
    field: str
    title: str
    max_length: int


# Key qualifiers of a GTIN, in the order the standard fixes for the URI path.
_QUALIFIERS = (
    _Qualifier("22", "cpv", "consumer product variant", 20),
    _Qualifier("10", "lot", "lot", 20),
    _Qualifier("21", "serial", "serial", 20),
    _Qualifier("235", "tpx", "third-party serial", 28),
)
_QUALIFIER_BY_AI = {q.ai: q for q in _QUALIFIERS}


def gtin_check_digit(data: str) -> int:
    """The GS1 check digit of ``data``, the digits of a GTIN without its check digit.

    Weights 3, 1, 3, 1... apply from the rightmost data digit; the check digit brings the
    weighted sum to a multiple of ten.
    """
    if not isinstance(data, str) or _DIGITS.fullmatch(data) is None:
        raise DigitalLinkError(f"GTIN data {data!r} must be ASCII digits")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return (10 - total % 10) % 10


def normalize_gtin(gtin: str) -> str:
    """The 14-digit form of a GTIN-8, -12, -13 or -14 whose check digit is right.

    Raises :class:`DigitalLinkError` for anything else, naming the problem.
    """
    if not isinstance(gtin, str):
        raise DigitalLinkError(f"GTIN must be a string of digits, not {type(gtin).__name__}")
    if _DIGITS.fullmatch(gtin) is None:
        raise DigitalLinkError(f"GTIN {gtin!r} must contain only the digits 0-9")
    if len(gtin) not in _GTIN_LENGTHS:
        raise DigitalLinkError(f"GTIN {gtin} has {len(gtin)} digits, expected 8, 12, 13 or 14")
    padded = gtin.zfill(14)
    expected = gtin_check_digit(padded[:-1])
    if int(padded[-1]) != expected:
        raise DigitalLinkError(f"GTIN {gtin} has check digit {padded[-1]}, expected {expected}")
    return padded


def _check_value(title: str, value: str, max_length: int) -> None:
    if not isinstance(value, str):
        raise DigitalLinkError(f"{title} must be a string, not {type(value).__name__}")
    if not value:
        raise DigitalLinkError(f"{title} is empty")
    if len(value) > max_length:
        raise DigitalLinkError(
            f"{title} longer than {max_length} characters ({len(value)}): {value[:40]!r}"
        )
    bad = next((ch for ch in value if ch not in _CSET82), None)
    if bad is not None:
        raise DigitalLinkError(
            f"{title} {value!r} contains {bad!r}, which is not in the GS1 AI character set 82"
        )


def _check_yymmdd(title: str, value: str) -> None:
    if not isinstance(value, str) or _YYMMDD.fullmatch(value) is None:
        raise DigitalLinkError(f"{title} {value!r} must be a date as 6 digits YYMMDD")
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    if not 1 <= mm <= 12:
        raise DigitalLinkError(f"{title} {value} has month {mm:02d}, expected 01 to 12")
    # The century is not known here. Taking 2000 + YY judges 29 February right for every year
    # from 1901 to 2099, which holds all the GS1 sliding window can give until 2050.
    last = calendar.monthrange(2000 + yy, mm)[1]
    if dd > last:
        raise DigitalLinkError(f"{title} {value} has day {dd:02d}, month {mm:02d} has {last}")


def _resolve_yymmdd(value: str, today: date) -> date:
    # GS1 General Specifications 7.12: the century that puts the year within -49..+50 of today.
    yy, mm, dd = int(value[:2]), int(value[2:4]), int(value[4:])
    century = today.year - today.year % 100
    year = century + yy
    if yy - today.year % 100 >= 51:
        year -= 100
    elif yy - today.year % 100 <= -50:
        year += 100
    last = calendar.monthrange(year, mm)[1]
    if dd > last:
        raise DigitalLinkError(f"expiry date (AI 17) {value} does not exist in {year}")
    return date(year, mm, last if dd == 0 else dd)


@dataclass(frozen=True, slots=True)
class DigitalLink:
    """A GTIN with its key qualifiers and expiry date; ``gtin`` is always 14 digits.

    The constructor validates every field (raising :class:`DigitalLinkError`) and normalises a
    GTIN-8, -12 or -13 to 14 digits, so a ``DigitalLink`` always describes a valid URI.
    """

    gtin: str
    lot: str | None = None
    serial: str | None = None
    cpv: str | None = None
    tpx: str | None = None
    expiry: str | None = None
    """AI 17 as ``YYMMDD``; see :meth:`expiry_date` for the calendar date."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", normalize_gtin(self.gtin))
        for q in _QUALIFIERS:
            value = getattr(self, q.field)
            if value is not None:
                _check_value(q.title, value, q.max_length)
        if self.expiry is not None:
            _check_yymmdd("expiry date (AI 17)", self.expiry)

    def path(self) -> str:
        """The identifier's path: ``/01/<GTIN>`` and each present qualifier, percent-encoded."""
        parts = [f"/01/{self.gtin}"]
        for q in _QUALIFIERS:
            value = getattr(self, q.field)
            if value is not None:
                parts.append(f"/{q.ai}/{quote(value, safe='')}")
        return "".join(parts)

    def uri(self, domain: str = CANONICAL_DOMAIN, prefix: str = "") -> str:
        """The Digital Link URI on ``https://<domain>[/<prefix>]``, with ``?17=`` if known.

        ``prefix`` is a path without leading or trailing ``/`` (empty for none).
        """
        if not domain or any(ch in domain for ch in "/?#@ ") or domain != domain.strip():
            raise DigitalLinkError(f"domain {domain!r} must be a host name, optionally :port")
        if prefix.startswith("/") or prefix.endswith("/"):
            raise DigitalLinkError(f"path prefix {prefix!r} must not start or end with '/'")
        base = f"https://{domain}" + (f"/{prefix}" if prefix else "")
        query = f"?17={self.expiry}" if self.expiry is not None else ""
        return base + self.path() + query

    def uri_at(self, base_url: str) -> str:
        """The Digital Link URI on ``base_url``, an ``http(s)://host[:port]`` that
        :func:`public_base_url` accepts (``http`` for a resolver reached without TLS, such as
        the demo's API opened from a phone on the same network)."""
        base = public_base_url(base_url)
        query = f"?17={self.expiry}" if self.expiry is not None else ""
        return base + self.path() + query

    @property
    def canonical_uri(self) -> str:
        """The canonical form: ``https://id.gs1.org`` with no prefix."""
        return self.uri()

    def expiry_date(self, today: date) -> date | None:
        """The expiry date, with the century chosen as GS1 specifies relative to ``today``."""
        return None if self.expiry is None else _resolve_yymmdd(self.expiry, today)

    @classmethod
    def parse(cls, uri: str) -> DigitalLink:
        """Parse a Digital Link URI for a GTIN; raise :class:`DigitalLinkError` naming the flaw."""
        if not isinstance(uri, str):
            raise DigitalLinkError(f"a Digital Link must be a string, not {type(uri).__name__}")
        # urlsplit() silently drops tabs, newlines and leading spaces: refuse them instead.
        if any(ch.isspace() or ch < " " or ch == "\x7f" for ch in uri):
            raise DigitalLinkError(
                f"Digital Link {uri[:80]!r} contains a space or control character"
            )
        try:
            parts = urlsplit(uri)
            hostname = parts.hostname
            _ = parts.port
        except ValueError as error:
            raise DigitalLinkError(f"{uri[:80]!r} is not a URI: {error}") from None
        if parts.scheme not in ("https", "http"):
            raise DigitalLinkError(f"Digital Link must be an https (or http) URI, got {uri[:80]!r}")
        if not hostname:
            raise DigitalLinkError(f"Digital Link {uri[:80]!r} has no domain")
        fields = _parse_path(parts.path)
        fields.update(_parse_query(parts.query))
        return cls(**fields)


def public_base_url(url: str) -> str:
    """``url`` as the base of Digital Link URIs: ``http(s)://host[:port]``, no trailing ``/``.

    The scheme is lower-cased; a single trailing ``/`` is dropped. Anything else a base cannot
    carry raises :class:`DigitalLinkError` naming it: another scheme, no host, a bad port, a
    login, a path (the resolver serves ``/01/...`` at its root), a query or a fragment.
    """
    if not isinstance(url, str) or not url:
        raise DigitalLinkError("public URL is empty; expected http(s)://HOST[:PORT]")
    if any(ch.isspace() or ch < " " or ch == "\x7f" for ch in url):
        raise DigitalLinkError(f"public URL {url[:80]!r} contains a space or control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise DigitalLinkError(f"public URL {url[:80]!r}: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DigitalLinkError(
            f"public URL {url[:80]!r} must start with http:// or https://, "
            "e.g. http://192.168.1.20:8000"
        )
    if not parts.hostname:
        raise DigitalLinkError(f"public URL {url[:80]!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise DigitalLinkError(f"public URL {url[:80]!r} must not carry a login")
    if parts.path not in ("", "/"):
        raise DigitalLinkError(
            f"public URL {url[:80]!r} has a path ({parts.path[:40]!r}); "
            "give only http(s)://HOST[:PORT]"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise DigitalLinkError(
            f"public URL {url[:80]!r} has a query or fragment; give only http(s)://HOST[:PORT]"
        )
    if port == 0:
        raise DigitalLinkError(f"public URL {url[:80]!r} has port 0")
    return f"{scheme}://{parts.netloc}"


def _parse_path(path: str) -> dict[str, str]:
    segments = path.split("/")[1:] if path.startswith("/") else []
    starts = [i for i, s in enumerate(segments) if s == "01" and (len(segments) - i) % 2 == 0]
    if not starts:
        raise DigitalLinkError(f"path {path[:80]!r} has no /01/<GTIN> followed by qualifier pairs")
    # Values sit an odd number of segments before the end and qualifier keys are never "01",
    # so the last candidate is the identifier; earlier ones are part of the path prefix.
    pairs = segments[starts[-1] :]
    fields = {"gtin": _percent_decode("GTIN", pairs[1])}
    remaining = list(_QUALIFIERS)
    for i in range(2, len(pairs), 2):
        key, raw = pairs[i], pairs[i + 1]
        qualifier = _QUALIFIER_BY_AI.get(key)
        if qualifier is None:
            raise DigitalLinkError(f"/{key}/ is not a key qualifier of a GTIN (22, 10, 21, 235)")
        if qualifier not in remaining:
            raise DigitalLinkError(
                f"qualifier /{key}/ is repeated or out of order: the order is 22, 10, 21, 235"
            )
        del remaining[: remaining.index(qualifier) + 1]
        fields[qualifier.field] = _percent_decode(qualifier.title, raw)
    return fields


def _parse_query(query: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if not key.isascii() or not key.isdigit():
            continue  # a resolver parameter (linkType, lang, ...), not product data
        if key != "17":
            raise DigitalLinkError(f"unsupported GS1 data attribute ?{key}= (only 17 is known)")
        if "expiry" in fields:
            raise DigitalLinkError("expiry date ?17= is given more than once")
        fields["expiry"] = value
    return fields


def _percent_decode(title: str, raw: str) -> str:
    # unquote() would keep a stray "%" and replace bad UTF-8 silently: check both first.
    if "%" in _PERCENT.sub("", raw):
        raise DigitalLinkError(f"{title} {raw[:60]!r} has a '%' not followed by two hex digits")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise DigitalLinkError(f"{title} {raw[:60]!r} does not decode to UTF-8 text") from None
