"""Operator entries' common framing: prefix, seq, time, signer, a length-prefixed body.

Lot events (``FE``), lot declarations (``FL``) and the commerce entries (campaign entries ``FC``,
holder statements ``FH``) share one layout, so one encoder and one strict decoder serve them all
(all integers big-endian)::

    prefix     3          two ASCII letters naming the kind, then its version byte
    seq        uint64     the signer's (or stream's) sequence number
    time_ms    int64      ms since the epoch, UTC
    signer     1 + n      ASCII ID (device-ID character set)
    body       4 + n      canonical JSON, UTF-8
    signature  64         Ed25519 over everything before it
"""

from __future__ import annotations

import json
import struct
from typing import Any

__all__ = ["HEAD", "SIGNATURE_SIZE", "frame", "unframe"]

HEAD = struct.Struct(">Qq")
SIGNATURE_SIZE = 64


def frame(prefix: bytes, seq: int, time_ms: int, signer: str, data: bytes) -> bytes:
    """The signed bytes of an operator entry (events ``FE``, lot declarations ``FL``): prefix,
    seq and time, the length-prefixed ASCII signer, the length-prefixed body ``data``."""
    raw_signer = signer.encode("ascii")
    return (
        prefix
        + HEAD.pack(seq, time_ms)
        + bytes([len(raw_signer)])
        + raw_signer
        + struct.pack(">I", len(data))
        + data
    )


def unframe(
    payload: bytes, prefix: bytes, noun: str, not_this: str, error: type[Exception]
) -> tuple[int, int, str, Any, bytes, bytes]:
    """Split an operator entry into ``(seq, time_ms, signer, parsed JSON body, signed bytes,
    signature)``; raise ``error`` naming the flaw, worded with ``noun`` ("event",
    "declaration"); ``not_this`` is the message for a payload without ``prefix``. The caller
    checks the body and that re-encoding gives the same bytes."""
    if not payload.startswith(prefix):
        raise error(not_this)
    if len(payload) < len(prefix) + HEAD.size + 1 + 4 + SIGNATURE_SIZE:
        raise error(f"{noun} entry is truncated")
    signed, signature = payload[:-SIGNATURE_SIZE], payload[-SIGNATURE_SIZE:]
    pos = len(prefix)
    seq, time_ms = HEAD.unpack_from(signed, pos)
    pos += HEAD.size
    n = signed[pos]
    signer_raw = signed[pos + 1 : pos + 1 + n]
    pos += 1 + n
    if len(signer_raw) != n or pos + 4 > len(signed):
        raise error(f"{noun} entry is truncated in its signer")
    (length,) = struct.unpack_from(">I", signed, pos)
    pos += 4
    if pos + length != len(signed):
        raise error(f"{noun} body length does not match the entry's size")
    try:
        signer = signer_raw.decode("ascii")
        body = json.loads(signed[pos:].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: arrays or objects nested deeper than the parser goes.
        raise error(f"{noun} signer or body is not valid ASCII/JSON") from None
    return seq, time_ms, signer, body, signed, signature
