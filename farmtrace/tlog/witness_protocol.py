"""The C2SP tlog-witness ``add-checkpoint`` request body and ``409`` answer, in plain Python.

Request (c2sp.org/tlog-witness), every line ending in a line feed::

    old <size the client believes the witness has; 0 if none>
    <0..63 lines: base64 RFC 9162 consistency-proof hashes from old to the new size>
    <empty line>
    <the new checkpoint note, with its log signature(s)>

The size is ASCII decimal without sign or leading zeros (``0`` itself allowed), below 2**64;
each hash canonical base64 of 32 bytes. A ``409 Conflict`` answer's body
(``Content-Type: text/x.tlog.size``) is the witness's latest size and a line feed.
:class:`MalformedRequest` names what is wrong; the checkpoint note itself is checked by whoever
opens it (:mod:`farmtrace.tlog.checkpoint`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from farmtrace.tlog.errors import TlogError

__all__ = [
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "MalformedRequest",
    "encode_size",
    "parse_size",
]

MAX_PROOF_LINES = 63
"""Most consistency-proof lines a request may carry."""

SIZE_CONTENT_TYPE = "text/x.tlog.size"
"""Media type of a 409 answer's body."""

_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,19}")
_MAX_SIZE = 2**64 - 1
_BASE64_HASH = re.compile(rb"[A-Za-z0-9+/]{43}=")


class MalformedRequest(TlogError):
    """An add-checkpoint body (or 409 size body) that breaks the format."""


def _size(raw: bytes, what: str) -> int:
    if _DECIMAL.fullmatch(raw) is None or int(raw) > _MAX_SIZE:
        raise MalformedRequest(
            f"{what} {raw[:24]!r} is not a decimal below 2**64 without sign or leading zeros"
        )
    return int(raw)


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, the consistency proof and the checkpoint note
    (bytes as sent, unverified)."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def encode(self) -> bytes:
        """The request body."""
        lines = [b"old %d" % self.old_size, *(base64.b64encode(h) for h in self.proof)]
        return b"\n".join(lines) + b"\n\n" + self.checkpoint

    @classmethod
    def build(cls, old_size: int, proof: Sequence[bytes], checkpoint: str) -> AddCheckpoint:
        if len(proof) > MAX_PROOF_LINES or any(len(h) != 32 for h in proof):
            raise MalformedRequest("a proof is at most 63 hashes of 32 bytes")
        return cls(old_size, tuple(proof), checkpoint.encode("utf-8"))

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        """Parse a request body; :class:`MalformedRequest` says which line is wrong."""
        head, sep, checkpoint = bytes(body).partition(b"\n\n")
        if not sep:
            raise MalformedRequest("no empty line between the proof and the checkpoint")
        lines = head.split(b"\n")
        first = lines[0]
        if not first.startswith(b"old "):
            raise MalformedRequest("the first line must be 'old <size>'")
        old = _size(first[4:], "old size")
        hashes = lines[1:]
        if len(hashes) > MAX_PROOF_LINES:
            raise MalformedRequest(
                f"{len(hashes)} consistency-proof lines: at most {MAX_PROOF_LINES} are allowed"
            )
        proof = []
        for number, line in enumerate(hashes, start=2):
            if _BASE64_HASH.fullmatch(line) is None:
                raise MalformedRequest(f"line {number} is not the base64 of a 32-byte hash")
            value = base64.b64decode(line, validate=True)
            if base64.b64encode(value) != line:
                raise MalformedRequest(f"line {number} is not canonical base64")
            proof.append(value)
        if not checkpoint:
            raise MalformedRequest("the request has no checkpoint after the empty line")
        return cls(old, tuple(proof), checkpoint)


def encode_size(size: int) -> bytes:
    """The body of a 409 answer."""
    return b"%d\n" % size


def parse_size(body: bytes) -> int:
    """The witness's size from a 409 answer's body."""
    if not body.endswith(b"\n"):
        raise MalformedRequest("a size body must end with a line feed")
    return _size(body[:-1], "witness size")
