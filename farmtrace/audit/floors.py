"""The stored drop floors (``drop_floors``, revision 0006): each must be the device's own
signed statement.

A floor moved its device's commit watermark over seqs the device gave up, counting them as
lost; the statement is the evidence for why those seqs are missing. Each stored row must decode
as an ``FD`` statement (``farmtrace.wire.dropfloor``) naming the row's device and floor, and its
signature must verify with that device's registered key; the first that does not fails the
audit.
"""

from __future__ import annotations

from farmtrace.store.audit_reads import AuditReads
from farmtrace.store.records import StoredFloor
from farmtrace.wire import dropfloor
from farmtrace.wire.protocol import ProtocolError

__all__ = ["FloorFailure", "verified_floors"]


class FloorFailure(Exception):
    """A stored floor that is not its device's signed statement: ``item`` names it."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


def verified_floors(reads: AuditReads) -> dict[str, int]:
    """Each device's highest stored floor, after checking every stored statement; raise
    :class:`FloorFailure` for the first one that does not verify."""
    keys = reads.device_keys()
    highest: dict[str, int] = {}
    for row in reads.floors():
        _check(row, keys.get(row.device_id))
        highest[row.device_id] = max(highest.get(row.device_id, 0), row.floor)
    return highest


def _check(row: StoredFloor, key: bytes | None) -> None:
    item = f"drop floor {row.floor} of device {row.device_id}"
    try:
        signed = dropfloor.decode(row.payload)
    except ProtocolError as exc:
        raise FloorFailure(item, f"the stored statement is malformed: {exc}") from None
    if signed.device_id != row.device_id or signed.floor != row.floor:
        raise FloorFailure(
            item, f"the stored statement says floor {signed.floor} of {signed.device_id!r}"
        )
    if key is None:
        raise FloorFailure(item, "the device is not registered")
    if not dropfloor.verify(signed, key):
        raise FloorFailure(item, "the signature does not verify with the device's registered key")
