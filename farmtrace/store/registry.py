"""The device registry, the quarantine and per-device sequence numbers.

These tables are shared by every gateway of a database: a device registered once is known to
all of them, and sequence numbers are read across all chains.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine, func, insert, select, update

from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import DeviceRegistryError
from farmtrace.store.models import Base
from farmtrace.store.records import Device, QuarantineItem
from farmtrace.store.refused import RefusedCount, add_refused
from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = [
    "devices",
    "insert_quarantine",
    "last_seqs",
    "public_keys",
    "quarantine",
    "register_devices",
    "revoke_device",
]

DEVICES = Base.metadata.tables["devices"]
QUARANTINE = Base.metadata.tables["quarantine"]
ENTRIES = Base.metadata.tables["entries"]

_PUBLIC_KEY_SIZE = 32


def register_devices(engine: Engine, keys: Mapping[str, bytes], at: float | None = None) -> int:
    """Register ``device_id -> public key``; return how many were new (see LedgerInterface)."""
    for device_id, key in keys.items():
        try:
            check_device_id(device_id)
        except ProtocolError as exc:
            raise DeviceRegistryError(f"invalid device ID {device_id!r}: {exc}") from None
        if not isinstance(key, bytes) or len(key) != _PUBLIC_KEY_SIZE:
            raise DeviceRegistryError(f"device {device_id}: public key must be 32 bytes")
    now = time.time() if at is None else at
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        known: dict[str, bytes] = {}
        ids = list(keys)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            rows = conn.execute(
                select(DEVICES.c.device_id, DEVICES.c.public_key).where(
                    DEVICES.c.device_id.in_(chunk)
                )
            )
            known.update((row.device_id, bytes(row.public_key)) for row in rows)
        for device_id, key in known.items():
            if key != keys[device_id]:
                raise DeviceRegistryError(
                    f"device {device_id} is already registered with another public key"
                )
        new = [
            {"device_id": d, "public_key": k, "registered_at": now, "revoked_at": None}
            for d, k in keys.items()
            if d not in known
        ]
        if new:
            conn.execute(insert(DEVICES), new)
    return len(new)


def revoke_device(engine: Engine, device_id: str, at: float | None = None) -> None:
    """Set a device's ``revoked_at``; a no-op if already revoked; raise if unknown."""
    now = time.time() if at is None else at
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        current = conn.execute(
            select(DEVICES.c.revoked_at).where(DEVICES.c.device_id == device_id)
        ).first()
        if current is None:
            raise DeviceRegistryError(f"device {device_id!r} is not registered")
        if current.revoked_at is None:
            conn.execute(
                update(DEVICES).where(DEVICES.c.device_id == device_id).values(revoked_at=now)
            )


def devices(engine: Engine) -> list[Device]:
    """Every registered device, by ID."""
    with engine.connect() as conn:
        rows = conn.execute(select(DEVICES).order_by(DEVICES.c.device_id))
        return [
            Device(r.device_id, bytes(r.public_key), r.registered_at, r.revoked_at) for r in rows
        ]


def public_keys(database: Database, device_ids: Iterable[str]) -> dict[str, bytes]:
    """The registered public keys of ``device_ids``, revoked or not (unknown ones are left
    out), in one query."""
    with database_errors("reading device keys"), database.engine.connect() as conn:
        rows = conn.execute(
            select(DEVICES.c.device_id, DEVICES.c.public_key).where(
                DEVICES.c.device_id.in_(sorted(device_ids))
            )
        )
        return {r.device_id: bytes(r.public_key) for r in rows}


def quarantine(
    engine: Engine,
    chain_id: int,
    items: Iterable[QuarantineItem],
    refused: Iterable[RefusedCount] = (),
) -> int:
    """Store rejected messages, and add the counts of those refused past the quarantine's
    bounds (:mod:`farmtrace.store.refused`), in one transaction; return how many were stored."""
    items, refused = list(items), list(refused)
    if not items and not refused:
        return 0
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        return insert_quarantine(conn, chain_id, items, refused)


def insert_quarantine(
    conn: Connection,
    chain_id: int,
    items: Sequence[QuarantineItem],
    refused: Sequence[RefusedCount] = (),
) -> int:
    """:func:`quarantine`'s rows, inserted in the caller's open transaction (the ledger stores
    a batch's rejected messages with its block this way); return how many were inserted.
    SQLAlchemy errors are the caller's."""
    rows = [
        {
            "chain_id": chain_id,
            "received_at": item.received_at,
            "reason": item.reason,
            "detail": item.detail,
            "device_id": item.device_id,
            "topic": item.topic,
            "payload": bytes(item.payload),
            "seq": item.seq,
            "signed_rejection": item.signed_rejection,
        }
        for item in items
    ]
    if rows:
        conn.execute(insert(QUARANTINE), rows)
    if refused:
        add_refused(conn, chain_id, refused)
    return len(rows)


def last_seqs(engine: Engine) -> dict[str, int]:
    """The highest stored sequence number per device, over every chain."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ENTRIES.c.device_id, func.max(ENTRIES.c.seq))
            .where(ENTRIES.c.kind == "reading")
            .group_by(ENTRIES.c.device_id)
        )
        return {device_id: int(seq) for device_id, seq in rows}
