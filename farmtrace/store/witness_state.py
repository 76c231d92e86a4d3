"""A witness's own state: its cosigning key and, per log origin, the latest checkpoint it cosigned.

``farmtrace witness`` keeps this in a database of its own (``sqlite:///<state>/witness.db`` by
default; PostgreSQL by URL), separate from any chain's database: a farm can run a witness for
its neighbours without holding their chains. One table::

    witnessed  origin (primary key), size, root (32 bytes), note (the cosigned checkpoint as
               served to monitors: the log's signature(s) and ours), updated_at
    conflicts  each log-signed checkpoint refused because another root was cosigned at its
               size: origin, size, the note as received, received_at (evidence of a split view)

created on first open (``CREATE TABLE IF NOT EXISTS``; the schema has one revision).

:meth:`WitnessState.advance` reads an origin's row, lets the caller decide, and writes the new
row in one transaction that holds the write lock from the start (SQLite ``BEGIN IMMEDIATE``;
PostgreSQL ``SELECT ... FOR UPDATE``, and a first row raced by another writer is retried), and
returns only after the commit is durable. So "check the old size, then store the new
checkpoint" is atomic, as c2sp.org/tlog-witness requires, and the witness answers only what
it has stored.

The key (``<state>/witness.key``, mode 0600, created on first start) is a ``cosignature/v1``
Ed25519 key in the ``PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>`` format.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from farmtrace.store.database import database_errors, driver_error
from farmtrace.store.engine import create_db_engine, describe_url, is_sqlite
from farmtrace.store.errors import DatabaseError, KeyFileError
from farmtrace.store.keys import write_private_file
from farmtrace.tlog.cosignature import Cosigner
from farmtrace.tlog.errors import NoteError

__all__ = ["WITNESS_KEY_FILE", "WitnessState", "Witnessed", "load_or_create_cosigner"]

WITNESS_KEY_FILE = "witness.key"

_T = TypeVar("_T")
_METADATA = MetaData()
WITNESSED = Table(
    "witnessed",
    _METADATA,
    Column("origin", String(255), primary_key=True),
    Column("size", String(20), nullable=False),  # decimal text: sizes reach 2**64 - 1
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
CONFLICTS = Table(
    "conflicts",
    _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(255), nullable=False),
    Column("size", String(20), nullable=False),
    Column("note", Text, nullable=False),  # the refused checkpoint, with the log's signature
    Column("received_at", Float, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Witnessed:
    """The latest checkpoint a witness cosigned for one origin."""

    origin: str
    size: int
    root: bytes
    note: str
    updated_at: float


class WitnessState:
    """The witness's database. Errors leave as :class:`DatabaseError`."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._engine = create_db_engine(url)
        try:
            _METADATA.create_all(self._engine, checkfirst=True)
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise DatabaseError(
                f"cannot open witness database {describe_url(url)}: {driver_error(exc)}"
            ) from None

    def close(self) -> None:
        self._engine.dispose()

    def latest(self, origin: str) -> Witnessed | None:
        """The latest cosigned checkpoint of ``origin``, or ``None`` if never cosigned."""
        with database_errors("reading the witness state"), self._engine.connect() as conn:
            row = conn.execute(select(WITNESSED).where(WITNESSED.c.origin == origin)).first()
        return None if row is None else _witnessed(row)

    def record_conflict(self, origin: str, size: int, note: str, at: float) -> None:
        """Keep a log-signed checkpoint that contradicts the one cosigned at its size: with the
        stored one, proof that the log showed two histories."""
        with database_errors("recording a conflicting checkpoint"), self._engine.begin() as c:
            c.execute(
                CONFLICTS.insert().values(origin=origin, size=str(size), note=note, received_at=at)
            )

    def conflicts(self, origin: str) -> list[tuple[int, str]]:
        """The conflicting checkpoints kept for ``origin``: (size, signed note), oldest first."""
        with database_errors("reading conflicts"), self._engine.connect() as conn:
            rows = conn.execute(
                select(CONFLICTS.c.size, CONFLICTS.c.note)
                .where(CONFLICTS.c.origin == origin)
                .order_by(CONFLICTS.c.id)
            ).all()
        return [(int(size), str(note)) for size, note in rows]

    def advance(
        self, origin: str, decide: Callable[[Witnessed | None], tuple[Witnessed, _T]]
    ) -> _T:
        """Atomically replace ``origin``'s row by what ``decide(current)`` returns.

        ``decide`` gets the current row (``None`` if none) under the write lock and returns the
        new row and a value to hand back, or raises to leave the row unchanged (the exception
        propagates). Returns that value once the new row is durably committed.
        """
        for attempt in range(3):
            try:
                return self._advance_once(origin, decide)
            except IntegrityError:
                if attempt == 2:
                    raise DatabaseError("witness state: first row raced three times") from None
        raise AssertionError("unreachable")

    def _advance_once(
        self, origin: str, decide: Callable[[Witnessed | None], tuple[Witnessed, _T]]
    ) -> _T:
        try:
            engine = self._engine.execution_options(sqlite_immediate=True)
            with engine.begin() as conn:
                query = select(WITNESSED).where(WITNESSED.c.origin == origin)
                if not is_sqlite(conn):
                    query = query.with_for_update()
                row = conn.execute(query).first()
                current = None if row is None else _witnessed(row)
                new, value = decide(current)
                values = {
                    "size": str(new.size),
                    "root": new.root,
                    "note": new.note,
                    "updated_at": new.updated_at,
                }
                if current is None:
                    conn.execute(WITNESSED.insert().values(origin=origin, **values))
                else:
                    conn.execute(
                        WITNESSED.update().where(WITNESSED.c.origin == origin).values(**values)
                    )
            return value
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise DatabaseError(f"witness state: database error: {driver_error(exc)}") from None


def _witnessed(row: object) -> Witnessed:
    return Witnessed(
        origin=str(row.origin),  # type: ignore[attr-defined]
        size=int(row.size),  # type: ignore[attr-defined]
        root=bytes(row.root),  # type: ignore[attr-defined]
        note=str(row.note),  # type: ignore[attr-defined]
        updated_at=float(row.updated_at),  # type: ignore[attr-defined]
    )


def load_or_create_cosigner(state_dir: Path, name: str | None) -> Cosigner:
    """The witness key in ``state_dir``, created on first use as ``name``.

    Raises :class:`KeyFileError` if the key file is unusable, or named other than ``name``
    (when given), or absent and no ``name`` given.
    """
    path = Path(state_dir) / WITNESS_KEY_FILE
    if not path.exists():
        if name is None:
            raise KeyFileError(f"no witness key at {path}: give --name for the first start")
        try:
            cosigner = Cosigner.generate(name)
        except NoteError as exc:
            raise KeyFileError(f"witness name {name!r}: {exc}") from None
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create {path.parent}: {exc.strerror}") from None
        try:
            write_private_file(path, cosigner.skey + "\n", exclusive=True)
        except KeyFileError:
            if not path.exists():
                raise
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode) or mode & 0o077:
        raise KeyFileError(
            f"witness key {path} is not a regular file of mode 0600: run chmod 600 {path}"
        )
    try:
        cosigner = Cosigner.from_skey(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise KeyFileError(f"witness key {path} is unusable: {exc}") from None
    if name is not None and cosigner.name != name:
        raise KeyFileError(f"witness key {path} is named {cosigner.name!r}, not {name!r}")
    return cosigner
