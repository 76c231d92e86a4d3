"""Acknowledging an excursion: a signed record, the same in every implementation.

Contract for the API (which owns the endpoint and the operator keys):

* An operator acknowledges one excursion of one lot with a comment. The API builds an
  :class:`ExcursionAck` from the stored excursion (its rule, measurement, device, start, end,
  direction and peak: the excursion carries its rule, so the rule is stored with each breach),
  the operator's key name and the current time, and signs :meth:`ExcursionAck.to_bytes` with the
  operator's Ed25519 key: ``entry = to_bytes() || signature`` (64 bytes), which
  :func:`sign_ack` returns. That entry goes on the chain like a reading; its first line
  ``farmtrace/excursion-ack/v1`` cannot be mistaken for a reading (``FT\\x01``) or a block.
* Anyone checks an entry with :func:`open_ack` and the operator's public key: it splits off the
  signature, verifies it, and parses the text strictly (exactly one encoding per record).

The canonical bytes are UTF-8 text, one ``key value`` line each, every line ending in ``\\n``,
in exactly this order::

    farmtrace/excursion-ack/v1
    gtin <14 digits>
    lot <1-20 characters, no space or control character>
    rule <Rule.canonical(): the rule id and every parameter>
    device <device ID, or - when the series has none>
    start <ms since the epoch, decimal>
    end <ms>
    direction <high|low>
    peak <Python repr of the float>
    by <operator key name, no space>
    time <ms of the acknowledgement>
    comment <1-500 characters of text, no control characters, no line break>
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from farmtrace.api.services.coldchain.errors import ColdChainError
from farmtrace.api.services.coldchain.excursions import Excursion

__all__ = ["ACK_HEADER", "SIGNATURE_SIZE", "ExcursionAck", "open_ack", "sign_ack"]

ACK_HEADER = "farmtrace/excursion-ack/v1"
SIGNATURE_SIZE = 64
MAX_COMMENT = 500

_FIELDS = ("gtin", "lot", "rule", "device", "start", "end", "direction", "peak", "by", "time")
_DECIMAL = re.compile(r"0|-?[1-9][0-9]{0,18}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,255}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class ExcursionAck:
    """An operator's acknowledgement of one excursion (see the module docstring)."""

    gtin: str
    lot: str
    rule: str
    device: str
    start_ms: int
    end_ms: int
    direction: str
    peak: float
    by: str
    time_ms: int
    comment: str

    def __post_init__(self) -> None:
        if re.fullmatch(r"[0-9]{14}", self.gtin) is None:
            raise ColdChainError(f"ack gtin {self.gtin!r} must be 14 digits")
        for name in ("lot", "device", "by"):
            value = getattr(self, name)
            if not isinstance(value, str) or _TOKEN.fullmatch(value) is None:
                raise ColdChainError(f"ack {name} {value!r} must be printable ASCII, no spaces")
        if not self.rule or _CONTROL.search(self.rule) or self.rule != self.rule.strip():
            raise ColdChainError(f"ack rule {self.rule[:60]!r} must be one line of text")
        if self.direction not in ("high", "low"):
            raise ColdChainError(f"ack direction {self.direction!r} must be high or low")
        if self.end_ms < self.start_ms:
            raise ColdChainError(f"ack end {self.end_ms} is before start {self.start_ms}")
        if not 1 <= len(self.comment) <= MAX_COMMENT or _CONTROL.search(self.comment):
            raise ColdChainError(
                f"ack comment must be 1-{MAX_COMMENT} characters without line breaks "
                "or control characters"
            )
        if self.comment != self.comment.strip():
            raise ColdChainError("ack comment must not start or end with spaces")
        if repr(float(self.peak)) in ("nan", "inf", "-inf"):
            raise ColdChainError(f"ack peak {self.peak} must be finite")

    @classmethod
    def for_excursion(
        cls,
        excursion: Excursion,
        *,
        gtin: str,
        lot: str,
        device: str,
        by: str,
        time_ms: int,
        comment: str,
    ) -> ExcursionAck:
        """The record acknowledging ``excursion`` (its rule is copied in canonical form)."""
        return cls(
            gtin=gtin,
            lot=lot,
            rule=excursion.rule.canonical(),
            device=device or "-",
            start_ms=excursion.start_ms,
            end_ms=excursion.end_ms,
            direction=excursion.direction,
            peak=float(excursion.peak),
            by=by,
            time_ms=time_ms,
            comment=comment,
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes that are signed (see the module docstring)."""
        values = (
            self.gtin,
            self.lot,
            self.rule,
            self.device,
            str(self.start_ms),
            str(self.end_ms),
            self.direction,
            repr(float(self.peak)),
            self.by,
            str(self.time_ms),
        )
        lines = [ACK_HEADER, *(f"{k} {v}" for k, v in zip(_FIELDS, values, strict=True))]
        lines.append(f"comment {self.comment}")
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> ExcursionAck:
        """Parse canonical bytes; :class:`ColdChainError` names the first thing that is wrong."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ColdChainError("ack is not valid UTF-8") from None
        if not text.endswith("\n"):
            raise ColdChainError("ack must end with a newline")
        lines = text[:-1].split("\n")
        names = (*_FIELDS, "comment")
        if lines[0] != ACK_HEADER or len(lines) != len(names) + 1:
            raise ColdChainError(f"ack must be {ACK_HEADER!r} then {len(names)} lines")
        values: dict[str, str] = {}
        for name, line in zip(names, lines[1:], strict=True):
            key, sep, value = line.partition(" ")
            if key != name or not sep:
                raise ColdChainError(f"ack line {line[:40]!r}: expected '{name} <value>'")
            values[name] = value
        for name in ("start", "end", "time"):
            if _DECIMAL.fullmatch(values[name]) is None:
                raise ColdChainError(f"ack {name} {values[name]!r} is not a canonical decimal")
        try:
            peak = float(values["peak"])
        except ValueError:
            raise ColdChainError(f"ack peak {values['peak']!r} is not a number") from None
        ack = cls(
            gtin=values["gtin"],
            lot=values["lot"],
            rule=values["rule"],
            device=values["device"],
            start_ms=int(values["start"]),
            end_ms=int(values["end"]),
            direction=values["direction"],
            peak=peak,
            by=values["by"],
            time_ms=int(values["time"]),
            comment=values["comment"],
        )
        if ack.to_bytes() != data:
            raise ColdChainError("ack is not in canonical form (e.g. the peak's notation)")
        return ack


def sign_ack(ack: ExcursionAck, key: Ed25519PrivateKey) -> bytes:
    """The chain entry: canonical bytes followed by their 64-byte Ed25519 signature."""
    data = ack.to_bytes()
    return data + key.sign(data)


def open_ack(entry: bytes, public_key: Ed25519PublicKey) -> ExcursionAck:
    """Verify and parse an entry made by :func:`sign_ack`; :class:`ColdChainError` if not valid."""
    if len(entry) <= SIGNATURE_SIZE:
        raise ColdChainError(f"ack entry of {len(entry)} bytes is too short to hold a signature")
    data, signature = entry[:-SIGNATURE_SIZE], entry[-SIGNATURE_SIZE:]
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        raise ColdChainError("ack signature does not verify with the operator's key") from None
    return ExcursionAck.parse(data)
