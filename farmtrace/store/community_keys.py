"""Community operator keys: the Ed25519 key each value community's entries (``FV``) are signed
with while the API runs the community for its operator.

Kept like the farm keys (:mod:`farmtrace.store.farm_keys`): ``<state>/community-keys/<ID>.key``
(hex seed, mode 0600, the directory 0700), recorded in the key history (kind ``community``,
scope the community ID, key ID ``operator.<fingerprint>``), so an audit finds the operator key
of every community's first entry. An operator who wants the community to run under a key they
made (the shipped rules files name fixed keys) places its seed there before creating the
community. A state directory that lost the key of a community whose key already signed is
refused, naming the key, rather than given a new key nobody announced. Without a state
directory (tests, a throw-away demo) keys live in memory.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError

from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import KeyFileError
from farmtrace.store.event_key import load_key_file
from farmtrace.store.key_history import KIND_COMMUNITY, current_keys, key_history, record_key_in
from farmtrace.store.keys import write_private_file

__all__ = ["COMMUNITY_KEY_DIR", "CommunityKeys", "operator_key_id"]

COMMUNITY_KEY_DIR = "community-keys"
_COMMUNITY = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def operator_key_id(public_key: bytes) -> str:
    """The key history's ID of an operator key: ``operator.`` + its fingerprint."""
    return "operator." + hashlib.sha256(public_key).hexdigest()[:16]


class CommunityKeys:
    """The community operator keys of one API process (thread-safe)."""

    def __init__(self, database: Database, state_dir: Path | None) -> None:
        self._database = database
        self._dir = None if state_dir is None else Path(state_dir) / COMMUNITY_KEY_DIR
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._given: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def provide(self, community: str, key: Ed25519PrivateKey) -> None:
        """Use ``key`` for ``community`` when it is first needed (tests and the demo, without a
        state directory); a key already recorded for the community still wins the check."""
        with self._lock:
            self._given[community] = key

    def key(self, community: str) -> Ed25519PrivateKey:
        """The community's operator key, created and recorded on first use."""
        if not _COMMUNITY.fullmatch(community):
            raise KeyFileError(f"community ID {community!r} is not usable as a key name")
        with self._lock:
            found = self._keys.get(community)
            if found is None:
                found = self._open(community)
                self._keys[community] = found
            return found

    def _open(self, community: str) -> Ed25519PrivateKey:
        key = self._given.get(community)
        path = None
        if self._dir is not None:
            path = self._dir / f"{community}.key"
            key = load_key_file(path, "community operator key") or key
        for attempt in range(3):
            with database_errors("recording a community operator key"):
                try:
                    with (
                        self._database.engine.connect().execution_options(
                            sqlite_immediate=True
                        ) as conn,
                        conn.begin(),
                    ):
                        current = current_keys(conn, KIND_COMMUNITY, community)
                        if key is None:
                            if current:
                                raise KeyFileError(
                                    f"community {community} already signs with "
                                    f"{current[0].key_id}, but "
                                    f"{path if path is not None else 'this API (no --state)'} "
                                    "does not hold that key; start the API with the state "
                                    f"directory that holds {COMMUNITY_KEY_DIR}/{community}.key"
                                )
                            key = Ed25519PrivateKey.generate()
                        if self._dir is not None and path is not None and not path.exists():
                            self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                            write_private_file(
                                path, key.private_bytes_raw().hex() + "\n", exclusive=True
                            )
                        raw = key.public_key().public_bytes_raw()
                        encoded = base64.b64encode(raw).decode("ascii")
                        if current and all(p.public_key != encoded for p in current):
                            raise KeyFileError(
                                f"operator key {operator_key_id(raw)} is not community "
                                f"{community}'s current key {current[0].key_id}"
                            )
                        record_key_in(
                            conn, KIND_COMMUNITY, encoded, operator_key_id(raw), scope=community
                        )
                        return key
                except IntegrityError:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def first_keys(self) -> dict[str, bytes]:
        """Each community's first recorded operator key, by community ID (for the audit)."""
        found: dict[str, bytes] = {}
        for period in key_history(self._database):
            if period.kind == KIND_COMMUNITY and period.scope not in found:
                found[period.scope] = base64.b64decode(period.public_key)
        return found
