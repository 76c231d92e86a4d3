"""``farmtrace keys rotate``: a new checkpoint key for a gateway, older checkpoints still verifiable.

The rotation works on a stopped gateway's state directory: it takes the directory's lock
(``<state>/gateway.lock``, held by a running gateway for its whole run), so it refuses while a
gateway runs rather than change the key under it. Its steps, each an atomic, synced file write:

1. the current key is copied to ``checkpoint-previous.key`` (0600), where it waits to co-sign
   the hand-over checkpoint (``farmtrace.store.handover``); if a rotation is already waiting for
   its hand-over, that older key stays: it is the last one that signed a checkpoint;
2. the current verifier key is appended to ``checkpoint-retired.vkeys``;
3. a new Ed25519 key with the same name (the origin) replaces ``checkpoint.key``.

Interrupted anywhere, the directory holds a usable key: the old one before step 3, the new one
after; running the command again completes or repeats the rotation (step 2 skips a key already
listed). With a database URL, the new key is also recorded in the chain's ``chain_keys`` at once
(otherwise the gateway records it when it next starts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from farmtrace.store.chain_keys import record_key, recorded_keys
from farmtrace.store.engine import create_db_engine, describe_url, normalize_url
from farmtrace.store.errors import DatabaseError, KeyFileError, StoreError
from farmtrace.store.keys import (
    KEY_FILE,
    PREVIOUS_KEY_FILE,
    add_retired_verifier,
    load_previous_signer,
    load_signer,
    retired_verifiers,
    write_private_file,
)
from farmtrace.store.reader import CHAINS
from farmtrace.store.state import StateDir
from farmtrace.tlog.note import Signer, Verifier

__all__ = ["Rotation", "rotate_checkpoint_key"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: the key retired, the new key, and the key that will co-sign the
    hand-over checkpoint (the retired one, or an older one still waiting for its hand-over)."""

    old: Verifier
    new: Verifier
    handover: Verifier
    recorded_in_db: bool


def rotate_checkpoint_key(state_dir: Path, db_url: str | None = None) -> Rotation:
    """Rotate the checkpoint key in ``state_dir`` (see the module docstring).

    Raises :class:`StoreError` naming what is wrong: a missing state directory or key, one a
    running gateway holds, a file that cannot be written, a database without this chain.
    """
    path = Path(state_dir)
    if not path.is_dir():
        raise KeyFileError(f"state directory {path} does not exist (or is not a directory)")
    try:
        state = StateDir.lock(path)
    except StoreError as exc:
        running = "in use by another gateway process" in str(exc)
        hint = ": stop the gateway before rotating its key" if running else ""
        raise StoreError(f"{exc}{hint}") from None
    try:
        old = load_signer(path)
        retired_verifiers(path)  # a malformed list stops the rotation before anything is written
        chain_id = None if db_url is None else _chain_of(db_url, old.verifier)
        new = Signer.generate(old.name)
        previous = load_previous_signer(path)
        if previous is None:
            write_private_file(path / PREVIOUS_KEY_FILE, old.skey + "\n", exclusive=True)
            previous = old
        add_retired_verifier(path, old.verifier)
        write_private_file(path / KEY_FILE, new.skey + "\n")
        if db_url is not None and chain_id is not None:
            found = chain_id
            try:
                _db(
                    db_url,
                    lambda engine: record_key(
                        engine, found, new.verifier.vkey, [old.verifier.vkey]
                    ),
                )
            except StoreError as exc:
                raise StoreError(
                    f"the key was rotated (new key {new.verifier.vkey}) but not recorded in the "
                    f"database: {exc}; the gateway records it when it next starts"
                ) from None
        return Rotation(old.verifier, new.verifier, previous.verifier, chain_id is not None)
    finally:
        state.close()


def _chain_of(db_url: str, key: Verifier) -> int:
    """The ID of the chain that ``key`` signs in ``db_url``; refuse a database without it."""

    def find(engine: Engine) -> int:
        with engine.connect() as conn:
            chain_id = conn.execute(select(CHAINS.c.id).where(CHAINS.c.origin == key.name)).scalar()
            if chain_id is None:
                raise StoreError(f"{describe_url(db_url)} holds no chain {key.name!r}")
            if key.vkey not in recorded_keys(conn, int(chain_id)):
                raise StoreError(
                    f"chain {key.name} in {describe_url(db_url)} never recorded this state "
                    f"directory's key {key.vkey}: is it another gateway's database?"
                )
            return int(chain_id)

    return _db(db_url, find)


def _db(db_url: str, call: Callable[[Engine], _T]) -> _T:
    url = normalize_url(db_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise DatabaseError(f"no database at {describe_url(db_url)}")
    engine = create_db_engine(db_url)
    try:
        return call(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot use database {describe_url(db_url)}: {exc}") from None
    finally:
        engine.dispose()
