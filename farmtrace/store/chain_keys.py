"""The ``chain_keys`` rows: every checkpoint verifier key a chain has signed with.

The table is append-only. A gateway records its current key when it opens its chain (before it
signs anything with it) and ``farmtrace keys rotate --db`` records a new key at once, so the API
lists a key as soon as a checkpoint signed by it can appear.

Each key is also recorded in the key history (``signing_keys``, kind ``checkpoint``,
:mod:`farmtrace.store.key_history`) with its validity period: from when it was recorded until the
key that replaced it was (a rotation names the keys it retires).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, insert, select

from farmtrace.store.database import Database, database_errors
from farmtrace.store.key_history import KIND_CHECKPOINT, record_key_in
from farmtrace.store.models import Base

__all__ = ["chain_verifier_keys", "record_key", "recorded_keys"]

CHAIN_KEYS = Base.metadata.tables["chain_keys"]
CHAINS = Base.metadata.tables["chains"]


def recorded_keys(conn: Connection, chain_id: int) -> list[str]:
    """The verifier keys chain ``chain_id`` recorded, oldest first."""
    rows = conn.execute(
        select(CHAIN_KEYS.c.vkey)
        .where(CHAIN_KEYS.c.chain_id == chain_id)
        .order_by(CHAIN_KEYS.c.added_at)
    )
    return [str(vkey) for (vkey,) in rows]


def chain_verifier_keys(database: Database, chain_id: int) -> list[str]:
    """The verifier keys chain ``chain_id`` recorded (current and retired), oldest first."""
    with database_errors("reading a chain's verifier keys"), database.engine.connect() as conn:
        return recorded_keys(conn, chain_id)


def record_key(engine: Engine, chain_id: int, vkey: str, retired: Iterable[str] = ()) -> bool:
    """Record ``vkey`` for chain ``chain_id`` unless it is there; ``True`` if it was added.

    In the same transaction the key history gets ``vkey`` as the chain's current checkpoint key
    and the validity of the keys ``retired`` (verifier keys this one replaced) ends now.
    """
    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        now = time.time()
        origin = conn.execute(select(CHAINS.c.origin).where(CHAINS.c.id == chain_id)).scalar_one()
        record_key_in(
            conn, KIND_CHECKPOINT, vkey, _key_id(vkey), now, scope=str(origin), retire=retired
        )
        if vkey in recorded_keys(conn, chain_id):
            return False
        conn.execute(insert(CHAIN_KEYS), {"chain_id": chain_id, "vkey": vkey, "added_at": now})
    return True


def _key_id(vkey: str) -> str:
    """``<name>+<8 hex>`` of a C2SP verifier key ``<name>+<8 hex>+<base64>``."""
    name, _, rest = vkey.partition("+")
    return name + "+" + rest.partition("+")[0]
