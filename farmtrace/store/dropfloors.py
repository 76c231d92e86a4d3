"""Believed drop floors in the ``drop_floors`` table (revision 0006).

* :func:`record_floors`: store the floors a gateway believed, each only when it is higher than
  the highest already stored for its device (one transaction, durable when it returns);
  :func:`insert_floors` does the same in a caller's transaction (a batch's block).
* :func:`highest_floors`: each device's highest stored floor (start-up, shared-gateway refresh).
* :func:`stored_floors`: every stored floor with its signed statement (the audit).

Database failures are raised as :class:`farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, Engine, func, select

from farmtrace.store.errors import database_call
from farmtrace.store.models import Base
from farmtrace.store.records import StoredFloor

__all__ = [
    "DROP_FLOORS",
    "StoredFloor",
    "highest_floors",
    "insert_floors",
    "record_floors",
    "stored_floors",
]

DROP_FLOORS = Base.metadata.tables["drop_floors"]


def _highest(conn: Connection, device_ids: list[str] | None = None) -> dict[str, int]:
    query = select(DROP_FLOORS.c.device_id, func.max(DROP_FLOORS.c.floor)).group_by(
        DROP_FLOORS.c.device_id
    )
    if device_ids is not None:
        query = query.where(DROP_FLOORS.c.device_id.in_(device_ids))
    return {device_id: int(floor) for device_id, floor in conn.execute(query)}


def record_floors(engine: Engine, floors: Iterable[StoredFloor]) -> int:
    """Append each floor higher than its device's highest stored one; return how many were
    appended. Floors of one device are taken in the given order."""
    wanted = list(floors)
    if not wanted:
        return 0

    def write() -> int:
        # Immediate on SQLite: the read of the highest floor and the insert are one writer's.
        with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
            return insert_floors(conn, wanted)

    return database_call("cannot store drop floors", write)


def insert_floors(conn: Connection, floors: Sequence[StoredFloor]) -> int:
    """:func:`record_floors` in the caller's open write transaction (the ledger stores a
    batch's floors with its block this way); SQLAlchemy errors are the caller's."""
    if not floors:
        return 0
    written = 0
    highest = _highest(conn, sorted({f.device_id for f in floors}))
    for floor in floors:
        if floor.floor <= highest.get(floor.device_id, 0):
            continue
        conn.execute(
            DROP_FLOORS.insert().values(
                device_id=floor.device_id,
                floor=floor.floor,
                payload=floor.payload,
                received_at=floor.received_at,
            )
        )
        highest[floor.device_id] = floor.floor
        written += 1
    return written


def highest_floors(engine: Engine) -> dict[str, int]:
    """Each device's highest stored drop floor (devices without one: absent)."""

    def load() -> dict[str, int]:
        with engine.connect() as conn:
            return _highest(conn)

    return database_call("cannot read the stored drop floors", load)


def stored_floors(conn: Connection) -> list[StoredFloor]:
    """Every stored floor, by device and floor (SQLAlchemy errors are the caller's)."""
    query = select(
        DROP_FLOORS.c.device_id,
        DROP_FLOORS.c.floor,
        DROP_FLOORS.c.payload,
        DROP_FLOORS.c.received_at,
    ).order_by(DROP_FLOORS.c.device_id, DROP_FLOORS.c.floor, DROP_FLOORS.c.id)
    return [StoredFloor(d, int(f), bytes(p), float(r)) for d, f, p, r in conn.execute(query)]
