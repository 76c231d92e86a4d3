"""The API's event key: its file, the checks before the API may sign with it, and rotation.

The key is an Ed25519 seed in ``<state>/event.key`` (hex, one line, mode 0600). Its signer ID
(``farmtrace-api.`` and 16 hex digits of the SHA-256 of the public key) is the ``device_id`` of
every entry it signs, so every key is its own signer and the key history
(:mod:`farmtrace.store.key_history`, kind ``event``) maps each stored entry's signer to the key
that signed it, however often the key changed since.

A database has one current event key. :func:`open_event_key` is what the API runs before it
serves: it refuses to invent a key (an API without a state directory, or with one holding no key
or another key) for a database whose events are signed by a registered key, because a new key
would silently become a second signer nobody announced. :func:`rotate_event_key`
(``farmtrace keys rotate-event``) is the explicit way to change it; it ends the old key's
validity and keeps it in the history, so every bundle signed before stays verifiable.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import KeyFileError, StoreError
from farmtrace.store.key_history import (
    KIND_EVENT,
    KeyPeriod,
    current_keys,
    keys_by_id,
    record_key_in,
    retire_keys_in,
)
from farmtrace.store.keys import write_private_file
from farmtrace.store.models import Base

__all__ = [
    "EVENT_KEY_FILE",
    "EventKeyError",
    "EventKeyRotation",
    "create_event_key",
    "event_key_id",
    "event_keys",
    "event_public_key",
    "load_event_key",
    "load_key_file",
    "open_event_key",
    "rotate_event_key",
]

EVENT_KEY_FILE = "event.key"
LOT_EVENTS = Base.metadata.tables["lot_events"]

_REMEDY = (
    "start the API with --state DIR, DIR holding the current key's event.key; or make a new "
    "key current explicitly (the old one stays valid for what it signed): "
    "farmtrace keys rotate-event --state DIR --db URL"
)


class EventKeyError(StoreError):
    """The event key may not be used with this database; the message names the remedy."""


def event_key_id(public_key: bytes) -> str:
    """The signer ID of an event key: ``farmtrace-api.`` and 16 hex digits of its SHA-256."""
    return "farmtrace-api." + hashlib.sha256(public_key).hexdigest()[:16]


def event_public_key(key: Ed25519PrivateKey) -> str:
    """The key history's form of an event key: base64 of the 32 raw public bytes."""
    return base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")


def load_event_key(state_dir: Path) -> Ed25519PrivateKey | None:
    """The event key in ``state_dir``, ``None`` if there is none; :class:`KeyFileError` if the
    file is unusable (not a regular file of mode 0600, or not a hex Ed25519 seed)."""
    return load_key_file(Path(state_dir) / EVENT_KEY_FILE, "event key")


def load_key_file(path: Path, what: str) -> Ed25519PrivateKey | None:
    """The Ed25519 key in ``path`` (a hex seed), ``None`` if there is none;
    :class:`KeyFileError` naming ``what`` if the file is unusable (not a regular file of mode
    0600, or not a hex Ed25519 seed)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode) or mode & 0o077:
        raise KeyFileError(
            f"{what} {path} must be a regular file of mode 0600 (it is {stat.S_IMODE(mode):04o})"
        )
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text("ascii").strip()))
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{what} {path} is not a hex Ed25519 seed") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None


def create_event_key(state_dir: Path, *, replace: bool = False) -> Ed25519PrivateKey:
    """A new event key written to ``state_dir`` (created 0700). Without ``replace`` an existing
    key is kept and returned (two first runs cannot make two keys)."""
    state = Path(state_dir)
    try:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create state directory {state}: {exc.strerror}") from None
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    try:
        write_private_file(state / EVENT_KEY_FILE, seed.hex() + "\n", exclusive=not replace)
    except KeyFileError:
        if replace or not (state / EVENT_KEY_FILE).exists():
            raise
    found = load_event_key(state)
    if found is None:
        raise KeyFileError(f"event key {state / EVENT_KEY_FILE} vanished after it was written")
    return found


def _describe(period: KeyPeriod) -> str:
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(period.valid_from))
    return f"{period.key_id} (current since {since})"


def _signers(conn: Connection) -> set[str]:
    """The signers of every stored lot record."""
    return {str(s) for (s,) in conn.execute(select(LOT_EVENTS.c.signer).distinct())}


def open_event_key(database: Database, state_dir: Path | None) -> Ed25519PrivateKey:
    """The event key the API signs with for ``database``, recorded as its current event key.

    With ``state_dir`` it is that directory's ``event.key`` (created when absent); without,
    a fresh key held in memory only. A key already current is used as it is. Any other key
    becomes current only while the current key(s) signed nothing: then they are retired now
    and nothing stored depends on them. Refused (:class:`EventKeyError`, naming the remedy):
    inventing a key (no state directory, or one without ``event.key``) or using another one
    while the current key signed records; a state key that was retired; a database holding
    records of signers the history does not know (written before revision 0007) that are not
    the state key's. A state key recorded for the first time is valid from its oldest record.
    """
    for attempt in range(3):
        with database_errors("checking the event key"):
            try:
                return _open_once(database, state_dir)
            except IntegrityError:
                # Another worker process recorded the same key at the same moment (PostgreSQL
                # does not serialise the check and the insert): read what it recorded.
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def _open_once(database: Database, state_dir: Path | None) -> Ed25519PrivateKey:
    with (
        database.engine.connect().execution_options(sqlite_immediate=True) as conn,
        conn.begin(),
    ):
        current = current_keys(conn, KIND_EVENT)
        signers = _signers(conn)
        used = [p for p in current if p.key_id in signers]
        known_ids = set(keys_by_id(conn, KIND_EVENT, signers))
        key = None if state_dir is None else load_event_key(state_dir)
        if key is None:
            unknown = sorted(signers - known_ids)
            if used or unknown:
                who = _describe(used[0]) if used else ", ".join(unknown[:3])
                where = (
                    "without --state"
                    if state_dir is None
                    else f"with no {Path(state_dir) / EVENT_KEY_FILE}"
                )
                raise EventKeyError(
                    f"refusing to start {where}: a new event key would not be the one that "
                    f"signed this database's events, {who}; {_REMEDY}"
                )
            key = Ed25519PrivateKey.generate() if state_dir is None else create_event_key(state_dir)
        key_id = event_key_id(key.public_key().public_bytes_raw())
        known = keys_by_id(conn, KIND_EVENT, {key_id}).get(key_id)
        if known is not None and known.current:
            return key
        if known is not None:
            until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(known.valid_until or 0))
            now_current = f"; the current key is {current[0].key_id}" if current else ""
            raise EventKeyError(
                f"the event key in {state_dir} ({key_id}) was retired at {until}{now_current}: "
                f"{_REMEDY}"
            )
        if used:
            raise EventKeyError(
                f"the event key in {state_dir} ({key_id}) is not this database's current event "
                f"key {_describe(used[0])}: {_REMEDY}"
            )
        unknown = sorted(signers - known_ids - {key_id})
        if unknown:
            raise EventKeyError(
                f"this database holds records signed by {', '.join(unknown[:3])}, whose key is "
                f"not recorded and is not the event key in {state_dir} ({key_id}): start the "
                "API with the state directory that signed them, or, if that key is lost, make "
                "this one current explicitly (their bundles will not verify): farmtrace keys "
                "rotate-event --state DIR --db URL"
            )
        oldest = conn.execute(
            select(func.min(LOT_EVENTS.c.created_at)).where(LOT_EVENTS.c.signer == key_id)
        ).scalar()
        now = time.time()
        retire_keys_in(conn, KIND_EVENT, "", [p.public_key for p in current], now)
        since = now if oldest is None else min(now, float(oldest))
        record_key_in(conn, KIND_EVENT, event_public_key(key), key_id, since)
    return key


def event_keys(database: Database, signers: Collection[str]) -> dict[str, bytes]:
    """The recorded public key of each of ``signers`` (event-key signer IDs; unknown ones are
    left out): the key that signed the signer's records, current or retired."""
    found = keys_by_id(database, KIND_EVENT, signers)
    return {s: base64.b64decode(p.public_key) for s, p in found.items()}


@dataclass(frozen=True)
class EventKeyRotation:
    """What :func:`rotate_event_key` did: the keys it retired and the new current key."""

    retired: tuple[str, ...]
    new: str
    adopted: bool


def rotate_event_key(database: Database, state_dir: Path) -> EventKeyRotation:
    """Make the event key of ``state_dir`` the database's current one, ending the validity of
    the current key(s) now.

    A state directory holding a key the history does not know (a key made by hand, or written
    by a rotation interrupted before it reached the database) is adopted as it is; otherwise
    (no key, or the current or a retired one) a new key replaces ``event.key`` first, so an
    interrupted rotation leaves a key the next run adopts. Stop the API first and start it
    with the new key: one still running goes on signing with the retired key (what it signs
    stays verifiable, the key being in the history, but its period no longer says so).
    """
    existing = load_event_key(state_dir)
    adopted = False
    key: Ed25519PrivateKey
    if existing is not None:
        key_id = event_key_id(existing.public_key().public_bytes_raw())
        adopted = not keys_by_id(database, KIND_EVENT, {key_id})
    if existing is not None and adopted:
        key = existing
    else:
        key = create_event_key(state_dir, replace=True)
    key_id = event_key_id(key.public_key().public_bytes_raw())
    with (
        database_errors("rotating the event key"),
        database.engine.connect().execution_options(sqlite_immediate=True) as conn,
        conn.begin(),
    ):
        now = time.time()
        retired = [p for p in current_keys(conn, KIND_EVENT) if p.key_id != key_id]
        record_key_in(
            conn,
            KIND_EVENT,
            event_public_key(key),
            key_id,
            now,
            retire=[p.public_key for p in retired],
        )
    return EventKeyRotation(tuple(p.key_id for p in retired), key_id, adopted)
