"""Lot declarations: everything stated about a lot, as signed, versioned chain entries.

Layout (all integers big-endian; see ``docs/bundle.md``), like an event's (``event_entry``)::

    46 4C 01              "FL", version 1 (the entry kind's prefix; no other kind starts so)
    seq        uint64     the signer's sequence number (shared with its events), from 1
    time_ms    int64      when this version was declared (ms since the epoch, UTC)
    signer     1 + n      ASCII ID of the signing key (``farmtrace-api.`` + 16 hex digits)
    body       4 + n      the declaration as canonical JSON (below), at most 65,536 bytes
    signature  64         Ed25519 over everything before it

The body is ``{"lot": {...}, "previous": null | {"entry_sha256": B64, "version": N},
"version": N}`` with exactly the keys of :data:`LOT_FIELDS`, :data:`DETAILS_FIELDS` and
:data:`STAGE_FIELDS` in the lot, its details and each stage; values are strings, ``null``,
lists or objects of them, and the version integers. Its canonical JSON (keys sorted, no
whitespace, UTF-8, ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``)
is unique, and :func:`decode` re-encodes and refuses any entry whose bytes differ.

Versions: version 1 names no previous version; version ``n > 1`` names version ``n - 1`` and
the SHA-256 of that version's whole entry (``signed_bytes || signature``), base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)

from farmtrace.api.services.lots.event_entry import frame, signature_ok, signer_id, unframe
from farmtrace.chain.entry import DECLARATION_PREFIX
from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = [
    "DECLARATION_PREFIX",
    "DETAILS_FIELDS",
    "LOT_FIELDS",
    "MAX_BODY",
    "STAGE_FIELDS",
    "DeclarationEntry",
    "DeclarationError",
    "canonical_json",
    "chain_problem",
    "decode",
    "entry_sha256",
    "first_difference",
    "iso_ms",
    "sign_declaration",
    "verify",
]

MAX_BODY = 65536

_STR, _OPT, _LIST, _TIME, _OPT_TIME, _DATE = "str", "opt", "list", "time", "opt-time", "date"
LOT_FIELDS: dict[str, str] = {
    "gtin": _STR,
    "lot": _STR,
    "product_name": _STR,
    "product_class": _STR,
    "farm": _STR,
    "origin_region": _STR,
    "harvest_date": _DATE,
    "pack_date": _DATE,
    "details": "details",
    "stages": "stages",
}
"""The declared lot's keys and their kinds of value."""
DETAILS_FIELDS: dict[str, str] = {
    "grower": _OPT,
    "method": _OPT,
    "certifications": _LIST,
    "farm_location": _OPT,
    "time_zone": _STR,
}
STAGE_FIELDS: dict[str, str] = {
    "kind": _STR,
    "name": _STR,
    "place_id": _OPT,
    "start": _TIME,
    "end": _OPT_TIME,
    "device_ids": _LIST,
}
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LENIENT_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


class DeclarationError(ValueError):
    """A declaration entry or body that is malformed; the message says what was wrong."""


@dataclass(frozen=True, slots=True)
class DeclarationEntry:
    """A decoded declaration: header fields, body, the bytes signed and the signature."""

    seq: int
    time_ms: int
    signer: str
    body: dict[str, Any]
    signed_bytes: bytes
    signature: bytes

    @property
    def payload(self) -> bytes:
        return self.signed_bytes + self.signature

    @property
    def version(self) -> int:
        return int(self.body["version"])

    @property
    def previous(self) -> dict[str, Any] | None:
        prev: dict[str, Any] | None = self.body["previous"]
        return prev

    @property
    def lot(self) -> dict[str, Any]:
        """The declared facts (the ``lot`` object of the body)."""
        facts: dict[str, Any] = self.body["lot"]
        return facts


def iso_ms(ms: int) -> str:
    """A declared time: UTC, ISO 8601 with milliseconds and ``Z``."""
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def entry_sha256(payload: bytes) -> str:
    """How a later version names this one: SHA-256 of the whole entry, standard base64."""
    return base64.b64encode(hashlib.sha256(payload).digest()).decode("ascii")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON of a declaration body (strings, ``null``, ints, lists, objects)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_value(value: Any, kind: str, where: str) -> None:
    good = {
        _STR: isinstance(value, str),
        _OPT: value is None or isinstance(value, str),
        _LIST: isinstance(value, list) and all(isinstance(v, str) for v in value),
        _TIME: isinstance(value, str) and _TIME_RE.fullmatch(value) is not None,
        _OPT_TIME: value is None or (isinstance(value, str) and _TIME_RE.fullmatch(value)),
        _DATE: value is None or (isinstance(value, str) and _DATE_RE.fullmatch(value)),
    }[kind]
    if not good:
        raise DeclarationError(f"declaration field {where} is malformed (want {kind})")


def _check_object(obj: Any, fields: dict[str, str], where: str) -> None:
    if not isinstance(obj, dict) or set(obj) != set(fields):
        want = ", ".join(sorted(fields))
        raise DeclarationError(f"declaration {where} must have exactly the keys {want}")
    for key, kind in fields.items():
        if kind == "details":
            _check_object(obj[key], DETAILS_FIELDS, f"{where}.{key}")
        elif kind == "stages":
            if not isinstance(obj[key], list):
                raise DeclarationError(f"declaration field {where}.{key} is not a list")
            for i, stage in enumerate(obj[key]):
                _check_object(stage, STAGE_FIELDS, f"{where}.{key}[{i}]")
        else:
            _check_value(obj[key], kind, f"{where}.{key}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**53


def check_body(body: Any) -> None:
    """Raise :class:`DeclarationError` unless ``body`` has the declaration's exact shape."""
    if not isinstance(body, dict) or set(body) != {"lot", "previous", "version"}:
        raise DeclarationError("declaration body must have exactly the keys lot, previous, version")
    if not _is_int(body["version"]):
        raise DeclarationError("declaration version must be an integer from 1")
    previous = body["previous"]
    if body["version"] == 1:
        if previous is not None:
            raise DeclarationError("declaration version 1 names a previous version")
    elif (
        not isinstance(previous, dict)
        or set(previous) != {"entry_sha256", "version"}
        or not _is_int(previous["version"])
        or not isinstance(previous["entry_sha256"], str)
    ):
        raise DeclarationError("declaration previous must be {entry_sha256, version}")
    _check_object(body["lot"], LOT_FIELDS, "lot")


def _encode(seq: int, time_ms: int, signer: str, body: dict[str, Any]) -> bytes:
    if not 1 <= seq < 2**64:
        raise DeclarationError(f"declaration seq {seq} out of range")
    if not -(2**63) <= time_ms < 2**63:
        raise DeclarationError(f"declaration time {time_ms} out of range")
    try:
        check_device_id(signer)
    except ProtocolError as exc:
        raise DeclarationError(f"signer: {exc}") from None
    check_body(body)
    try:
        data = canonical_json(body)
    except UnicodeEncodeError:  # a lone surrogate (``"\ud800"`` in JSON) has no UTF-8 form
        raise DeclarationError("declaration body holds text with no UTF-8 form") from None
    if len(data) > MAX_BODY:
        raise DeclarationError(f"declaration body is {len(data)} bytes, more than {MAX_BODY}")
    return frame(DECLARATION_PREFIX, seq, time_ms, signer, data)


def sign_declaration(
    seq: int, time_ms: int, body: dict[str, Any], key: Ed25519PrivateKey
) -> DeclarationEntry:
    """Encode and sign one declaration version with ``key`` (signer ID derived from the key)."""
    signer = signer_id(key.public_key().public_bytes_raw())
    signed = _encode(seq, time_ms, signer, body)
    return DeclarationEntry(seq, time_ms, signer, body, signed, key.sign(signed))


def decode(payload: bytes) -> DeclarationEntry:
    """Parse a declaration entry strictly; raise :class:`DeclarationError` naming the flaw."""
    seq, time_ms, signer, body, signed, signature = unframe(
        payload,
        DECLARATION_PREFIX,
        "declaration",
        "not a lot declaration (it does not start with FL 01)",
        DeclarationError,
    )
    if _encode(seq, time_ms, signer, body) != signed:
        raise DeclarationError("declaration entry is not in canonical form")
    return DeclarationEntry(seq, time_ms, signer, body, signed, signature)


def verify(entry: DeclarationEntry, public_key: bytes) -> bool:
    """Whether the signature verifies with the 32-byte Ed25519 ``public_key``, whose signer ID
    must also be the entry's."""
    return signature_ok(entry.signer, entry.signed_bytes, entry.signature, public_key)


def chain_problem(versions: Sequence[DeclarationEntry]) -> str | None:
    """What breaks the version chain (``None`` if nothing): versions must be 1..n in order,
    each after the first naming its predecessor's version and entry hash."""
    for i, entry in enumerate(versions):
        if entry.version != i + 1:
            return f"declaration {i} is version {entry.version}, expected version {i + 1}"
        if i == 0:
            continue
        prev = versions[i - 1]
        named = entry.previous
        assert named is not None  # check_body: version > 1 names one
        if named["version"] != prev.version or named["entry_sha256"] != entry_sha256(prev.payload):
            return f"declaration v{entry.version} does not name v{prev.version} as its previous"
    return None


def _instant(value: Any) -> int | None:
    """A time string's instant in ms (RFC 3339), ``None`` if it is not one."""
    if not isinstance(value, str) or _LENIENT_TIME.fullmatch(value) is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.microsecond % 1000 != 0:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _same(shown: Any, declared: Any, kind: str) -> bool:
    if kind in (_TIME, _OPT_TIME) and declared is not None:
        instant = _instant(shown)
        return instant is not None and instant == _instant(declared)
    return bool(shown == declared) and type(shown) is type(declared)


def _differ(
    shown: Any, declared: dict[str, Any], fields: dict[str, str], where: str, v: int
) -> str | None:
    if not isinstance(shown, dict):
        return f"{where} is not an object as in declaration v{v}"
    for key in shown:
        if key not in fields and not (where == "lot" and key == "digital_link"):
            return f"{where}.{key} is not in declaration v{v}"
    for key, kind in fields.items():
        path = f"{where}.{key}"
        if key not in shown:
            return f"{path} is missing (declaration v{v} states it)"
        if kind == "details":
            found = _differ(shown[key], declared[key], DETAILS_FIELDS, path, v)
        elif kind == "stages":
            found = _differ_stages(shown[key], declared[key], path, v)
        elif not _same(shown[key], declared[key], kind):
            found = f"{path} differs from declaration v{v}"
        else:
            found = None
        if found is not None:
            return found
    return None


def _differ_stages(shown: Any, declared: list[dict[str, Any]], where: str, v: int) -> str | None:
    if not isinstance(shown, list):
        return f"{where} is not a list as in declaration v{v}"
    for i, stage in enumerate(shown[: len(declared)]):
        found = _differ(stage, declared[i], STAGE_FIELDS, f"{where}[{i}]", v)
        if found is not None:
            return found
    if len(shown) != len(declared):
        return f"{where} has {len(shown)} stages, declaration v{v} has {len(declared)}"
    return None


def first_difference(lot: Any, declaration: DeclarationEntry) -> str | None:
    """The first field of a bundle's ``lot`` object that differs from ``declaration``, worded
    ``lot.stages[1].end differs from declaration v2``; ``None`` if every fact is the same.

    Times (stage ``start``/``end``) are equal when they are the same instant; everything else
    must be the same JSON value. ``digital_link`` is not declared: its path must end with the
    lot's Digital Link path (``/01/{gtin}/10/{lot}``, percent-encoded), whatever the resolver.
    """
    v = declaration.version
    found = _differ(lot, declaration.lot, LOT_FIELDS, "lot", v)
    if found is None and "digital_link" in lot:
        declared = declaration.lot
        tail = f"/01/{quote(declared['gtin'], safe='')}/10/{quote(declared['lot'], safe='')}"
        link = lot["digital_link"]
        if not isinstance(link, str) or not urlsplit(link).path.endswith(tail):
            found = f"lot.digital_link does not name the lot of declaration v{v}"
    return found
