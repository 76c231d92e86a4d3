"""Entry kinds: what a leaf of a batch tree can be, told apart by its first bytes.

Every entry on a chain is a self-describing byte string whose first bytes name its kind, so an
entry can never be read as another kind. Sensor readings are the device's MQTT payload exactly
as received (``signed_bytes || signature``, see ``docs/wire-format.md``), which starts with the
wire format's magic ``FT`` and version byte ``0x01``. Kinds added later (lot events, excursion
acknowledgements) register a prefix here that no other kind's prefix starts with.
"""

from __future__ import annotations

from farmtrace.wire.protocol import MAGIC, VERSION

__all__ = [
    "ACK",
    "ACK_PREFIX",
    "CAMPAIGN",
    "CAMPAIGN_PREFIX",
    "COMMUNITY",
    "COMMUNITY_PREFIX",
    "COMMUNITY_TRANSFER_PREFIX",
    "COUPON_MOVE",
    "COUPON_MOVE_PREFIX",
    "DECLARATION",
    "DECLARATION_PREFIX",
    "EVENT",
    "EVENT_PREFIX",
    "KIND_PREFIXES",
    "READING",
    "READING_PREFIX",
    "kind_of",
]

READING = "reading"
"""The kind of sensor readings."""

READING_PREFIX = MAGIC + bytes([VERSION])
"""First bytes of every reading entry: ``FT`` then the wire-format version 1."""

EVENT = "event"
"""The kind of lot events, signed by the API's event key (``docs/bundle.md``)."""

EVENT_PREFIX = b"FE\x01"
"""First bytes of every event entry: ``FE`` then the event format's version 1."""

ACK = "excursion-ack"
"""The kind of excursion acknowledgements (``farmtrace/api/services/coldchain/ack.py``), signed by the API."""

ACK_PREFIX = b"farmtrace/excursion-ack/v1\n"
"""First bytes of every acknowledgement: its text format's first line."""

DECLARATION = "lot-declaration"
"""The kind of lot declarations: a lot's facts, one signed version each (``docs/bundle.md``)."""

DECLARATION_PREFIX = b"FL\x01"
"""First bytes of every lot declaration: ``FL`` then the declaration format's version 1."""

CAMPAIGN = "campaign"
"""The kind of campaign entries: a harvest campaign's state changes and its coupons' issues,
redemptions and voids, signed by the farm's key (``docs/commerce.md``)."""

CAMPAIGN_PREFIX = b"FC\x01"
"""First bytes of every campaign entry: ``FC`` then the campaign format's version 1."""

COUPON_MOVE = "coupon-move"
"""The kind of coupon transfers: a statement signed by the coupon's holder (``docs/commerce.md``)."""

COUPON_MOVE_PREFIX = b"FH\x01"
"""First bytes of every holder statement (transfer or redeem): ``FH`` then version 1."""

COMMUNITY = "community"
"""The kind of community entries: a value community's rules versions, mints, transfers and
distributions, signed by its operator key (``docs/community.md``)."""

COMMUNITY_PREFIX = b"FV\x01"
"""First bytes of every community entry: ``FV`` then the community format's version 1."""

COMMUNITY_TRANSFER_PREFIX = b"FW\x01"
"""First bytes of a member's token transfer statement (``FW`` then version 1). Not a kind of its
own: a statement reaches the chain only inside the operator's ``transfer`` community entry."""

KIND_PREFIXES: dict[str, bytes] = {
    READING: READING_PREFIX,
    EVENT: EVENT_PREFIX,
    ACK: ACK_PREFIX,
    DECLARATION: DECLARATION_PREFIX,
    CAMPAIGN: CAMPAIGN_PREFIX,
    COUPON_MOVE: COUPON_MOVE_PREFIX,
    COMMUNITY: COMMUNITY_PREFIX,
}
"""Each entry kind and the prefix its entries start with."""


# Most prefixes are 3 bytes: those are found with one look-up of the entry's first 3 bytes.
# Exact because no other prefix starts with one of them (checked here), so an entry matches at
# most one prefix.
_BY_SHORT_PREFIX = {prefix: kind for kind, prefix in KIND_PREFIXES.items() if len(prefix) == 3}
_LONG_PREFIXES = [(kind, prefix) for kind, prefix in KIND_PREFIXES.items() if len(prefix) != 3]
assert not any(p.startswith(s) for _, p in _LONG_PREFIXES for s in _BY_SHORT_PREFIX)
assert all(len(p) > 3 for _, p in _LONG_PREFIXES)


def kind_of(entry: bytes) -> str | None:
    """The kind whose prefix ``entry`` starts with, or ``None`` if it matches none."""
    kind = _BY_SHORT_PREFIX.get(entry[:3])
    if kind is not None:
        return kind
    for kind, prefix in _LONG_PREFIXES:
        if entry.startswith(prefix):
            return kind
    return None
