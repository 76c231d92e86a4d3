"""Block headers: their one canonical encoding, and the block hash that links the chain.

A block seals one batch of entries. Its header is a short UTF-8 (in fact ASCII) text, eight lines
each ending in ``\\n``, in this order and nothing else::

    farmtrace/block/v1
    origin farmtrace.example/gateway-1
    height 3
    previous 0Hh6W9WpQb8iP0dHVHDTpUzY5ZfWbm4o3AR/NjbWRIw=
    time 1718000000123
    first 15000
    size 5000
    root Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=

* ``origin``: the gateway's log origin (the checkpoint origin), printable ASCII without spaces
  or ``+``, 1 to 255 characters.
* ``height``: 0 for the first block, then +1 per block.
* ``previous``: base64 of the previous block's hash; 32 zero bytes for block 0, never otherwise.
* ``time``: when the gateway sealed the block, milliseconds since the Unix epoch (UTC).
* ``first``: the chain-wide index of the block's first entry (entries are numbered from 0 across
  the whole chain, without gaps).
* ``size``: the number of entries in the batch, at least 1.
* ``root``: base64 of the RFC 9162 Merkle tree hash of the batch's entries, in batch order.

Integers are ASCII decimal without sign or leading zeros (``0`` itself is fine), below 2**63.
Hashes are standard base64 with padding, exactly 44 characters, canonical (zero trailing bits).
:func:`BlockHeader.parse` accepts exactly the bytes :meth:`BlockHeader.encode` produces and
rejects anything else, so a header has one encoding and one hash.

The **block hash** is the header's RFC 9162 leaf hash, ``SHA-256(0x00 || header bytes)``: the
same value that the header contributes to the chain log (the second RFC 9162 tree, whose entries
are the headers), so a verifier needs one hash function for the chain link and the log proof.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from farmtrace.chain.errors import BlockHeaderError

__all__ = [
    "BLOCK_MAGIC",
    "GENESIS_PREVIOUS",
    "MAX_INT",
    "BlockHeader",
    "block_hash",
    "validate_origin",
]

BLOCK_MAGIC = "farmtrace/block/v1"
"""First line of every block header: names the format and its version."""

GENESIS_PREVIOUS = bytes(32)
"""The ``previous`` hash of block 0."""

MAX_INT = 2**63 - 1
"""Largest integer a header field may hold (a signed 64-bit database column)."""

_HASH_SIZE = 32
_FIELDS = ("origin", "height", "previous", "time", "first", "size", "root")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_ORIGIN = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,255}")


def validate_origin(origin: str) -> str:
    """Return ``origin`` if it is a valid log origin, else raise :class:`BlockHeaderError`.

    A valid origin is 1 to 255 printable ASCII characters with no space and no ``+`` (so it is
    also a valid C2SP signed-note key name), such as ``farmtrace.example/gateway-1``.
    """
    if not isinstance(origin, str) or _ORIGIN.fullmatch(origin) is None:
        raise BlockHeaderError(
            f"invalid origin {origin!r}: want 1-255 printable ASCII characters, "
            "no spaces and no '+', such as farmtrace.example/gateway-1"
        )
    return origin


def block_hash(header_bytes: bytes) -> bytes:
    """The block hash of an encoded header: ``SHA-256(0x00 || header_bytes)``."""
    return hashlib.sha256(b"\x00" + header_bytes).digest()


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The header of one block; construct it with valid fields or :meth:`parse` its bytes.

    The constructor validates every field (raising :class:`BlockHeaderError`), so a
    ``BlockHeader`` object always encodes to a header that :meth:`parse` accepts.
    """

    origin: str
    height: int
    previous: bytes
    time_ms: int
    first_index: int
    size: int
    root: bytes

    def __post_init__(self) -> None:
        validate_origin(self.origin)
        _check_int("height", self.height, 0)
        _check_int("time", self.time_ms, 0)
        _check_int("first", self.first_index, 0)
        _check_int("size", self.size, 1)
        if self.first_index + self.size > MAX_INT:
            raise BlockHeaderError("first + size exceeds 2**63 - 1")
        _check_hash("previous", self.previous)
        _check_hash("root", self.root)
        if (self.height == 0) != (self.previous == GENESIS_PREVIOUS):
            raise BlockHeaderError(
                "previous must be 32 zero bytes for block 0 and only for block 0 "
                f"(height {self.height})"
            )

    @property
    def next_index(self) -> int:
        """The chain-wide index the next block's first entry will have."""
        return self.first_index + self.size

    def encode(self) -> bytes:
        """The header's canonical bytes (see the module docstring)."""
        lines = (
            BLOCK_MAGIC,
            f"origin {self.origin}",
            f"height {self.height}",
            f"previous {_b64(self.previous)}",
            f"time {self.time_ms}",
            f"first {self.first_index}",
            f"size {self.size}",
            f"root {_b64(self.root)}",
        )
        return ("\n".join(lines) + "\n").encode("ascii")

    def hash(self) -> bytes:
        """This block's hash, :func:`block_hash` of :meth:`encode`."""
        return block_hash(self.encode())

    @classmethod
    def parse(cls, data: bytes) -> BlockHeader:
        """Parse canonical header bytes; raise :class:`BlockHeaderError` naming what is wrong."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BlockHeaderError(f"block header must be bytes, not {type(data).__name__}")
        try:
            text = bytes(data).decode("ascii")
        except UnicodeDecodeError as exc:
            raise BlockHeaderError(f"block header is not ASCII (byte {exc.start})") from None
        if not text.endswith("\n"):
            raise BlockHeaderError("block header must end with a newline")
        lines = text[:-1].split("\n")
        if lines[0] != BLOCK_MAGIC:
            raise BlockHeaderError(f"block header must start with {BLOCK_MAGIC!r}")
        if len(lines) != 1 + len(_FIELDS):
            raise BlockHeaderError(
                f"block header must have {1 + len(_FIELDS)} lines, not {len(lines)}"
            )
        values: dict[str, str] = {}
        for number, (line, field) in enumerate(zip(lines[1:], _FIELDS, strict=True), start=2):
            key, sep, value = line.partition(" ")
            if key != field or sep != " ":
                raise BlockHeaderError(f"line {number} of block header must be '{field} <value>'")
            values[field] = value
        header = cls(
            origin=values["origin"],
            height=_parse_int("height", values["height"]),
            previous=_parse_hash("previous", values["previous"]),
            time_ms=_parse_int("time", values["time"]),
            first_index=_parse_int("first", values["first"]),
            size=_parse_int("size", values["size"]),
            root=_parse_hash("root", values["root"]),
        )
        # Belt and braces: one header, one encoding.
        if header.encode() != bytes(data):
            raise BlockHeaderError("block header is not in canonical form")
        return header


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _check_int(field: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BlockHeaderError(f"{field} must be an int, not {type(value).__name__}")
    if not minimum <= value <= MAX_INT:
        raise BlockHeaderError(f"{field} {value} out of range [{minimum}, 2**63 - 1]")


def _check_hash(field: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != _HASH_SIZE:
        raise BlockHeaderError(f"{field} must be {_HASH_SIZE} bytes")


def _parse_int(field: str, text: str) -> int:
    if _DECIMAL.fullmatch(text) is None:
        raise BlockHeaderError(
            f"{field} {text!r} is not a decimal integer without sign or leading zeros"
        )
    return int(text)


def _parse_hash(field: str, text: str) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BlockHeaderError(f"{field} {text!r} is not valid base64") from None
    if len(value) != _HASH_SIZE or _b64(value) != text:
        raise BlockHeaderError(f"{field} {text!r} is not the canonical base64 of 32 bytes")
    return value
