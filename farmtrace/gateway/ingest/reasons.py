"""Why a message was not stored: the quarantine reason codes, and what each means.

Every rejected message is stored in the quarantine table with one of these codes (a decode
failure as ``malformed:<wire-format reason>``), a human-readable detail, its raw bytes and its
topic. The codes are stable: metrics, tests and ``docs/gateway.md`` use them.
"""

from __future__ import annotations

__all__ = [
    "ALTERED",
    "BAD_SIGNATURE",
    "BAD_TOPIC",
    "CONTENT",
    "DESCRIPTIONS",
    "FUTURE_TIMESTAMP",
    "MALFORMED_PREFIX",
    "OUT_OF_RANGE",
    "REPLAY",
    "REVOKED",
    "SEQ_CONFLICT",
    "SEQ_OUT_OF_RANGE",
    "STALE_SEQ",
    "STALE_TIMESTAMP",
    "TOPIC_MISMATCH",
    "UNKNOWN_DEVICE",
    "UNKNOWN_UNIT",
    "malformed",
]

MALFORMED_PREFIX = "malformed:"
BAD_TOPIC = "bad-topic"
TOPIC_MISMATCH = "topic-mismatch"
UNKNOWN_DEVICE = "unknown-device"
SEQ_OUT_OF_RANGE = "seq-out-of-range"
BAD_SIGNATURE = "bad-signature"
ALTERED = "altered"
REPLAY = "replay"
SEQ_CONFLICT = "seq-conflict"
STALE_SEQ = "stale-seq"
REVOKED = "revoked"
FUTURE_TIMESTAMP = "future-timestamp"
STALE_TIMESTAMP = "stale-timestamp"
OUT_OF_RANGE = "out-of-range"
UNKNOWN_UNIT = "unknown-unit"

CONTENT = frozenset({REVOKED, FUTURE_TIMESTAMP, STALE_TIMESTAMP, OUT_OF_RANGE, UNKNOWN_UNIT})
"""Reasons judged on the content of a reading whose signature verified with its device's
registered key and whose seq the sequence rule let through: such a rejection is a **signed
rejection**, which decides ``(device, seq)`` for good (it counts for the commit watermark)."""


def malformed(protocol_reason: str) -> str:
    """The quarantine reason for a payload the wire format rejects (``ProtocolError.reason``)."""
    return MALFORMED_PREFIX + protocol_reason


DESCRIPTIONS: dict[str, str] = {
    MALFORMED_PREFIX + "<reason>": "the payload breaks the wire format; <reason> is the "
    "decoder's code (truncated, oversized, bad-magic, non-finite-value, ...)",
    BAD_TOPIC: "the topic is not farm/<farm>/<device>/reading with a valid farm and device ID",
    TOPIC_MISMATCH: "the payload's device_id is not the device named in the topic",
    UNKNOWN_DEVICE: "the device is not in the registry",
    SEQ_OUT_OF_RANGE: "seq is 0 or above 2^63-1 (the first reading is 1; the store is signed)",
    BAD_SIGNATURE: "the signature does not verify with the device's registered key",
    ALTERED: "the signature is the device's signature of another content with the same seq: "
    "the reading was changed after it was signed",
    REPLAY: "a byte-identical copy of a stored reading that the device had already been told "
    "was committed, and that is not a broker redelivery",
    SEQ_CONFLICT: "validly signed, but the device's seq already holds a different reading",
    STALE_SEQ: "validly signed, neither stored nor rejected, and at or below the device's "
    "commit watermark (a seq the device declared dropped)",
    REVOKED: "the device is revoked; its new readings are not accepted",
    FUTURE_TIMESTAMP: "the timestamp is further in the future than --max-future allows",
    STALE_TIMESTAMP: "the timestamp is older than --max-age allows",
    OUT_OF_RANGE: "a value lies outside the physical range of its unit",
    UNKNOWN_UNIT: "a measurement's unit has no physical range in the gateway's table",
}
"""Each reason code with its meaning (printed in ``docs/gateway.md``)."""
