"""Changing stored rows behind the database's back: the append-only triggers switched off.

Only tests do this, to prove that the audit and the gateway's start-up check catch what a
person with write access to the database files could do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from farmtrace.store.engine import create_db_engine, normalize_url


@contextmanager
def triggers_disabled(db_url: str, table: str) -> Iterator[Connection]:
    """A connection (in a transaction) on which ``table``'s triggers are off until exit."""
    url = normalize_url(db_url)
    if url.get_backend_name() == "sqlite":
        engine = create_db_engine(db_url)
        with engine.begin() as conn:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name=:t"),
                {"t": table},
            ).all()
            for name, _sql in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
            yield conn
            for _name, sql in triggers:
                conn.execute(text(sql))
    else:
        engine = create_db_engine(db_url)
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    engine.dispose()


def update_row(db_url: str, table: str, where: Mapping[str, Any], values: Mapping[str, Any]) -> int:
    """UPDATE one table's rows matching ``where`` with triggers off; return the row count."""
    sets = ", ".join(f"{k} = :set_{k}" for k in values)
    cond = " AND ".join(f"{k} = :where_{k}" for k in where)
    params = {f"set_{k}": v for k, v in values.items()} | {
        f"where_{k}": v for k, v in where.items()
    }
    with triggers_disabled(db_url, table) as conn:
        return conn.execute(text(f"UPDATE {table} SET {sets} WHERE {cond}"), params).rowcount


def delete_rows(db_url: str, table: str, where_sql: str, params: Mapping[str, Any]) -> int:
    """DELETE rows of ``table`` with triggers off; return the row count."""
    with triggers_disabled(db_url, table) as conn:
        return conn.execute(text(f"DELETE FROM {table} WHERE {where_sql}"), dict(params)).rowcount


def flip_byte(value: bytes, index: int, mask: int = 0x01) -> bytes:
    """``value`` with one bit of byte ``index`` flipped."""
    changed = bytearray(value)
    changed[index] ^= mask
    return bytes(changed)


def alter_reading_value(db_url: str, global_index: int) -> None:
    """Flip a bit of the stored reading's last measurement byte (just before its 64-byte
    signature): the payload still decodes, its signature no longer holds."""
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            payload = conn.execute(
                text("SELECT payload FROM entries WHERE global_index = :i"), {"i": global_index}
            ).scalar_one()
    finally:
        engine.dispose()
    altered = flip_byte(bytes(payload), len(payload) - 65)
    where = {"global_index": global_index}
    assert update_row(db_url, "entries", where, {"payload": altered}) == 1
