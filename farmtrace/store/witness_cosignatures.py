"""Witness cosignatures of a chain's checkpoints (table ``witness_cosignatures``, revision 0009).

The gateway's witness client (:mod:`farmtrace.gateway.witness_client`) records each
cosignature a witness returned, after checking it; :class:`farmtrace.store.reader.ChainReader`
appends a size's lines to the stored checkpoint note, so every checkpoint the API serves (and
every tlog-proof and bundle built on it) is the cosigned checkpoint. The stored ``checkpoints``
row itself never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from farmtrace.store.database import database_errors
from farmtrace.store.models import Base

if TYPE_CHECKING:
    from farmtrace.store.reader import ChainReader

__all__ = ["StoredCosignature", "WitnessCosignatures", "cosignature_lines"]

COSIGNATURES = Base.metadata.tables["witness_cosignatures"]


@dataclass(frozen=True, slots=True)
class StoredCosignature:
    """One witness's cosignature of checkpoint ``size``."""

    size: int
    witness_key: str
    line: str
    cosigned_at: int
    received_at: float


def cosignature_lines(conn: Connection, chain_id: int, size: int) -> list[str]:
    """The stored cosignature lines of checkpoint ``size``, by witness key (a stable order)."""
    rows = conn.execute(
        select(COSIGNATURES.c.line)
        .where(COSIGNATURES.c.chain_id == chain_id, COSIGNATURES.c.size == size)
        .order_by(COSIGNATURES.c.witness_key)
    )
    return [str(line) for (line,) in rows]


class WitnessCosignatures:
    """Recording and reading the cosignatures of one chain (through its reader's database)."""

    def __init__(self, reader: ChainReader) -> None:
        self._engine = reader.engine
        self._chain_id = reader.chain_id

    def record(self, cosignature: StoredCosignature) -> bool:
        """Store a checked cosignature; ``False`` if that witness's line for that size is
        already stored (the first one stays)."""
        with database_errors("recording a witness cosignature"):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        COSIGNATURES.insert().values(
                            chain_id=self._chain_id,
                            size=cosignature.size,
                            witness_key=cosignature.witness_key,
                            line=cosignature.line,
                            cosigned_at=cosignature.cosigned_at,
                            received_at=cosignature.received_at,
                        )
                    )
            except IntegrityError:
                return False
        return True

    def latest(self) -> dict[str, StoredCosignature]:
        """Per witness key, its cosignature of the largest size."""
        newest = (
            select(COSIGNATURES.c.witness_key, func.max(COSIGNATURES.c.size).label("size"))
            .where(COSIGNATURES.c.chain_id == self._chain_id)
            .group_by(COSIGNATURES.c.witness_key)
            .subquery()
        )
        query = (
            select(COSIGNATURES)
            .join(
                newest,
                (COSIGNATURES.c.witness_key == newest.c.witness_key)
                & (COSIGNATURES.c.size == newest.c.size),
            )
            .where(COSIGNATURES.c.chain_id == self._chain_id)
        )
        with database_errors("reading witness cosignatures"), self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return {
            str(r.witness_key): StoredCosignature(
                int(r.size),
                str(r.witness_key),
                str(r.line),
                int(r.cosigned_at),
                float(r.received_at),
            )
            for r in rows
        }
