"""Where entries queued for a block were anchored: for ``farmtrace bench anchoring`` and any
caller that holds ``(device_id, seq)`` keys of queued entries (lot events, declarations, and
later campaign and coupon entries) and asks which of them a block holds yet."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, tuple_

from farmtrace.store.database import Database
from farmtrace.store.errors import database_call
from farmtrace.store.models import Base

__all__ = ["anchored_entries"]

ENTRIES = Base.metadata.tables["entries"]
CHAINS = Base.metadata.tables["chains"]
_CHUNK = 1000  # keys per query: 2,000 bound parameters, well within both backends' limits


def anchored_entries(
    database: Database, keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], tuple[str, int]]:
    """The chain origin and global index of each ``(device_id, seq)`` of ``keys`` that is in a
    committed block (absent: not anchored yet). Uses the unique ``(device_id, seq)`` index;
    raises :class:`farmtrace.store.errors.DatabaseError` when the database fails."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    pair = tuple_(ENTRIES.c.device_id, ENTRIES.c.seq)

    def load() -> dict[tuple[str, int], tuple[str, int]]:
        found: dict[tuple[str, int], tuple[str, int]] = {}
        with database.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                rows = conn.execute(
                    select(
                        ENTRIES.c.device_id, ENTRIES.c.seq, CHAINS.c.origin, ENTRIES.c.global_index
                    )
                    .join(CHAINS, CHAINS.c.id == ENTRIES.c.chain_id)
                    .where(pair.in_(wanted[start : start + _CHUNK]))
                )
                found.update(((d, int(s)), (str(o), int(i))) for d, s, o, i in rows)
        return found

    return database_call("cannot look up anchored entries", load)
