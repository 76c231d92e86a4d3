"""Key history: every key that ever signed something a verifier checks, and when it was valid.

The ``signing_keys`` table (revision 0007). Each row is one key of one ``kind``:

* ``event``: the API's event key, which signs lot events (``FE``), excursion acknowledgements and
  lot declarations; ``scope`` ``''`` (one per database); ``public_key`` the base64 of its 32 raw
  Ed25519 bytes, ``key_id`` its signer ID (``farmtrace-api.<16 hex>``, the ``device_id`` of its
  entries), so a stored entry's signer names the very key that signed it;
* ``checkpoint``: a gateway's C2SP checkpoint key; ``scope`` the chain origin, ``public_key`` the
  verifier key, ``key_id`` ``<name>+<8 hex>``;
* ``watermark``: a gateway's commit-watermark key (``FW``); ``scope`` the chain origin.
* ``farm``: a farm's campaign key (``FC`` entries, ``farmtrace.store.farm_keys``); ``scope`` the
  farm identifier, ``key_id`` ``farm.<16 hex>``, the signer of its entries.
* ``community``: a value community's operator key (``FV`` entries,
  ``farmtrace.store.community_keys``); ``scope`` the community ID, ``key_id``
  ``operator.<16 hex>`` (the key's fingerprint; every entry's frame signer is
  ``community.<ID>`` whichever key signed it).

``valid_from``/``valid_until`` are seconds since the epoch; ``valid_until`` is ``None`` while the
key is current and is set exactly once, when a rotation (or a newer key recorded in its place)
ends it. The database refuses any other change and every delete (triggers), so a key that signed
something is never lost: an old bundle's signer still finds its key here.

Every SQLAlchemy error leaves as :class:`~farmtrace.store.errors.DatabaseError`.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, insert, select, update

from farmtrace.store.database import Database, database_errors
from farmtrace.store.models import Base

__all__ = [
    "KIND_CHECKPOINT",
    "KIND_COMMUNITY",
    "KIND_EVENT",
    "KIND_FARM",
    "KIND_WATERMARK",
    "KeyKind",
    "KeyPeriod",
    "current_keys",
    "key_history",
    "keys_by_id",
    "record_key",
    "record_key_in",
    "retire_keys_in",
]

KeyKind = Literal["event", "checkpoint", "watermark", "farm", "community"]
KIND_EVENT: KeyKind = "event"
KIND_CHECKPOINT: KeyKind = "checkpoint"
KIND_WATERMARK: KeyKind = "watermark"
KIND_FARM: KeyKind = "farm"
KIND_COMMUNITY: KeyKind = "community"
_KINDS = (KIND_EVENT, KIND_CHECKPOINT, KIND_WATERMARK, KIND_FARM, KIND_COMMUNITY)

SIGNING_KEYS = Base.metadata.tables["signing_keys"]


@dataclass(frozen=True, slots=True)
class KeyPeriod:
    """One key and its validity period (``valid_until`` ``None`` while current)."""

    kind: str
    scope: str
    public_key: str
    key_id: str
    valid_from: float
    valid_until: float | None

    @property
    def current(self) -> bool:
        return self.valid_until is None


def _engine(database: Database | Engine) -> Engine:
    return database.engine if isinstance(database, Database) else database


def _period(row: object) -> KeyPeriod:
    return KeyPeriod(
        row.kind,  # type: ignore[attr-defined]
        row.scope,  # type: ignore[attr-defined]
        row.public_key,  # type: ignore[attr-defined]
        row.key_id,  # type: ignore[attr-defined]
        float(row.valid_from),  # type: ignore[attr-defined]
        None if row.valid_until is None else float(row.valid_until),  # type: ignore[attr-defined]
    )


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise ValueError(f"unknown key kind {kind!r} (known: {', '.join(_KINDS)})")


def record_key_in(
    conn: Connection,
    kind: KeyKind,
    public_key: str,
    key_id: str,
    valid_from: float | None = None,
    *,
    scope: str = "",
    retire: Iterable[str] = (),
) -> bool:
    """Inside the caller's transaction: record ``public_key`` as a current key of ``kind`` in
    ``scope`` unless it is recorded already (then nothing changes, even if it was retired), and
    end the validity of the keys ``retire`` (public keys of the same kind and scope) at
    ``valid_from``. ``True`` if the key was added."""
    _check_kind(kind)
    at = time.time() if valid_from is None else valid_from
    retire_keys_in(conn, kind, scope, [k for k in retire if k != public_key], at)
    found = conn.execute(
        select(SIGNING_KEYS.c.id).where(
            SIGNING_KEYS.c.kind == kind,
            SIGNING_KEYS.c.scope == scope,
            SIGNING_KEYS.c.public_key == public_key,
        )
    ).first()
    if found is not None:
        return False
    conn.execute(
        insert(SIGNING_KEYS).values(
            kind=kind,
            scope=scope,
            public_key=public_key,
            key_id=key_id,
            valid_from=at,
            valid_until=None,
        )
    )
    return True


def retire_keys_in(
    conn: Connection, kind: KeyKind, scope: str, public_keys: Collection[str], at: float
) -> int:
    """Inside the caller's transaction: end the validity of the current ones of
    ``public_keys`` at ``at``; the number ended (already ended keys keep their end)."""
    if not public_keys:
        return 0
    result = conn.execute(
        update(SIGNING_KEYS)
        .where(
            SIGNING_KEYS.c.kind == kind,
            SIGNING_KEYS.c.scope == scope,
            SIGNING_KEYS.c.public_key.in_(list(public_keys)),
            SIGNING_KEYS.c.valid_until.is_(None),
        )
        .values(valid_until=at)
    )
    return int(result.rowcount or 0)


def record_key(
    database: Database | Engine,
    kind: KeyKind,
    public_key: str,
    valid_from: float | None = None,
    *,
    key_id: str | None = None,
    scope: str = "",
    retire: Iterable[str] = (),
) -> bool:
    """Record a key of ``kind`` (``event``, ``checkpoint``, ``watermark``) in ``scope`` (the
    chain origin for gateway keys) valid from ``valid_from`` (now by default), in one write
    transaction; see :func:`record_key_in`. ``key_id`` defaults to ``public_key``.
    ``True`` if the key was added, ``False`` if it was recorded already."""
    with (
        database_errors("recording a signing key"),
        _engine(database).connect().execution_options(sqlite_immediate=True) as conn,
        conn.begin(),
    ):
        return record_key_in(
            conn,
            kind,
            public_key,
            public_key if key_id is None else key_id,
            valid_from,
            scope=scope,
            retire=retire,
        )


def current_keys(
    database: Database | Engine | Connection, kind: KeyKind, scope: str = ""
) -> list[KeyPeriod]:
    """The current keys of ``kind`` in ``scope``, oldest first."""
    query = (
        select(SIGNING_KEYS)
        .where(
            SIGNING_KEYS.c.kind == kind,
            SIGNING_KEYS.c.scope == scope,
            SIGNING_KEYS.c.valid_until.is_(None),
        )
        .order_by(SIGNING_KEYS.c.valid_from, SIGNING_KEYS.c.id)
    )
    return _read(database, query, "reading the current signing keys")


def key_history(
    database: Database | Engine | Connection, kind: KeyKind | None = None, scope: str | None = None
) -> list[KeyPeriod]:
    """Every recorded key (of ``kind``, in ``scope`` when given), oldest first."""
    query = select(SIGNING_KEYS).order_by(SIGNING_KEYS.c.valid_from, SIGNING_KEYS.c.id)
    if kind is not None:
        query = query.where(SIGNING_KEYS.c.kind == kind)
    if scope is not None:
        query = query.where(SIGNING_KEYS.c.scope == scope)
    return _read(database, query, "reading the key history")


def keys_by_id(
    database: Database | Engine | Connection, kind: KeyKind, key_ids: Collection[str]
) -> dict[str, KeyPeriod]:
    """The recorded keys of ``kind`` named ``key_ids`` (unknown IDs are left out)."""
    if not key_ids:
        return {}
    query = select(SIGNING_KEYS).where(
        SIGNING_KEYS.c.kind == kind, SIGNING_KEYS.c.key_id.in_(sorted(key_ids))
    )
    return {p.key_id: p for p in _read(database, query, "reading signing keys")}


def _read(database: Database | Engine | Connection, query: object, what: str) -> list[KeyPeriod]:
    with database_errors(what):
        if isinstance(database, Connection):
            return [_period(row) for row in database.execute(query)]  # type: ignore[call-overload]
        with _engine(database).connect() as conn:
            return [_period(row) for row in conn.execute(query)]  # type: ignore[call-overload]
