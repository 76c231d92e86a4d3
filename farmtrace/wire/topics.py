"""MQTT topics and the small text payloads around readings (see ``docs/wire-format.md``).

Per device, under ``farm/<farm>/<device_id>/``:

* ``reading``   device -> gateway, QoS 1, not retained: one signed reading payload.
* ``status``    device -> anyone, QoS 1, retained: ``online`` or ``offline`` (the last will).
* ``committed`` gateway -> device, QoS 1, retained: decimal highest contiguous committed seq.
* ``dropped``   device -> gateway, QoS 1, retained: the seq through which the device gave up
  on readings it could not keep (a full outbox), as a statement signed with the device's key
  (:mod:`farmtrace.wire.dropfloor`); it never sends any of them again.

Malformed topics and sequence payloads raise :class:`farmtrace.wire.protocol.ProtocolError`.
"""

from __future__ import annotations

import re
from typing import Literal

from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = [
    "COMMITTED_FILTER",
    "READING_FILTER",
    "STATUS_OFFLINE",
    "STATUS_ONLINE",
    "TopicKind",
    "check_farm",
    "committed_topic",
    "dropped_topic",
    "format_seq",
    "parse_seq",
    "parse_topic",
    "reading_topic",
    "status_topic",
]

TopicKind = Literal["reading", "status", "committed", "dropped"]
_KINDS: frozenset[str] = frozenset(("reading", "status", "committed", "dropped"))

READING_FILTER = "farm/+/+/reading"
COMMITTED_FILTER = "farm/+/+/committed"
STATUS_ONLINE = b"online"
STATUS_OFFLINE = b"offline"

MAX_FARM_BYTES = 64
_FARM = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SEQ = re.compile(rb"0|[1-9][0-9]{0,19}")


def check_farm(farm: str) -> str:
    """Return ``farm`` if it is a valid farm tag (1-64 of ASCII letters, digits, ``. _ -``)."""
    if not _FARM.fullmatch(farm):
        raise ProtocolError(
            "bad-farm", "farm", f"{farm!r}: 1-64 ASCII letters, digits, '.', '_' or '-'"
        )
    return farm


def _topic(farm: str, device_id: str, kind: TopicKind) -> str:
    return f"farm/{check_farm(farm)}/{check_device_id(device_id)}/{kind}"


def reading_topic(farm: str, device_id: str) -> str:
    return _topic(farm, device_id, "reading")


def status_topic(farm: str, device_id: str) -> str:
    return _topic(farm, device_id, "status")


def committed_topic(farm: str, device_id: str) -> str:
    return _topic(farm, device_id, "committed")


def dropped_topic(farm: str, device_id: str) -> str:
    return _topic(farm, device_id, "dropped")


def parse_topic(topic: str) -> tuple[str, str, TopicKind]:
    """Split a device topic into ``(farm, device_id, kind)``."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "farm" or parts[3] not in _KINDS:
        raise ProtocolError("bad-topic", "topic", f"{topic!r} is not farm/<farm>/<device>/<kind>")
    farm, device_id, kind = parts[1], parts[2], parts[3]
    check_farm(farm)
    check_device_id(device_id)
    return farm, device_id, kind  # type: ignore[return-value]


def format_seq(seq: int) -> bytes:
    """The payload of a ``committed`` message: ASCII decimal, no sign or padding."""
    if not 0 <= seq <= 2**64 - 1:
        raise ProtocolError("out-of-range", "seq", "must be in 0..2^64-1")
    return str(seq).encode("ascii")


def parse_seq(payload: bytes) -> int:
    """Parse a ``committed`` payload written by :func:`format_seq`."""
    if not _SEQ.fullmatch(payload) or int(payload) > 2**64 - 1:
        raise ProtocolError("bad-seq", "seq", f"{payload[:32]!r} is not a decimal uint64")
    return int(payload)
