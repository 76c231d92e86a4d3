"""Farm keys: the Ed25519 key each farm's campaign entries (``FC``) are signed with.

The API holds a farm's key for it, as it holds the event key: ``<state>/farm-keys/<farm>.key``
(hex seed, mode 0600, the directory 0700). The key history (:mod:`farmtrace.store.key_history`,
kind ``farm``, scope the farm identifier) records every farm key with its signer ID
``farm.<16 hex>``, so a campaign bundle's signer always finds the key that signed it. A farm's
first campaign creates its key; later ones reuse it. A state directory that lost the key of a
farm whose key already signed entries is refused, naming the key, rather than replaced by a new
key nobody announced. Without a state directory (tests, a throw-away demo) keys live in memory.
"""

from __future__ import annotations

import base64
import re
import threading
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.exc import IntegrityError

from farmtrace.commerce.entries import farm_signer
from farmtrace.store.database import Database, database_errors
from farmtrace.store.errors import KeyFileError
from farmtrace.store.event_key import load_key_file
from farmtrace.store.key_history import KIND_FARM, current_keys, keys_by_id, record_key_in
from farmtrace.store.keys import write_private_file

__all__ = ["FarmKeys"]

FARM_KEY_DIR = "farm-keys"
_FARM = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class FarmKeys:
    """The farm keys of one API process (thread-safe)."""

    def __init__(self, database: Database, state_dir: Path | None) -> None:
        self._database = database
        self._dir = None if state_dir is None else Path(state_dir) / FARM_KEY_DIR
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self._lock = threading.Lock()

    def key(self, farm: str) -> Ed25519PrivateKey:
        """The farm's key, created and recorded on first use."""
        if not _FARM.fullmatch(farm):
            raise KeyFileError(f"farm identifier {farm!r} is not usable as a key name")
        with self._lock:
            found = self._keys.get(farm)
            if found is None:
                found = self._open(farm)
                self._keys[farm] = found
            return found

    def _open(self, farm: str) -> Ed25519PrivateKey:
        key = None
        path = None
        if self._dir is not None:
            path = self._dir / f"{farm}.key"
            key = load_key_file(path, "farm key")
        for attempt in range(3):
            with database_errors("recording a farm key"):
                try:
                    with (
                        self._database.engine.connect().execution_options(
                            sqlite_immediate=True
                        ) as conn,
                        conn.begin(),
                    ):
                        current = current_keys(conn, KIND_FARM, farm)
                        if key is None:
                            if current:
                                raise KeyFileError(
                                    f"farm {farm} already signs with {current[0].key_id}, but "
                                    f"{path if path is not None else 'this API (no --state)'} "
                                    "does not hold that key; start the API with the state "
                                    "directory that holds farm-keys/" + farm + ".key"
                                )
                            key = Ed25519PrivateKey.generate()
                            if self._dir is not None and path is not None:
                                self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
                                write_private_file(
                                    path, key.private_bytes_raw().hex() + "\n", exclusive=True
                                )
                        raw = key.public_key().public_bytes_raw()
                        encoded = base64.b64encode(raw).decode("ascii")
                        key_id = farm_signer(raw)
                        known = keys_by_id(conn, KIND_FARM, {key_id}).get(key_id)
                        if known is not None and not known.current:
                            raise KeyFileError(f"farm key {key_id} of {farm} was retired")
                        if current and all(p.public_key != encoded for p in current):
                            raise KeyFileError(
                                f"farm key {key_id} in {path} is not farm {farm}'s current key "
                                f"{current[0].key_id}"
                            )
                        record_key_in(conn, KIND_FARM, encoded, key_id, scope=farm)
                        return key
                except IntegrityError:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def public_keys(self, signers: set[str]) -> dict[str, bytes]:
        """The public key of each farm signer of ``signers`` (current or retired)."""
        with database_errors("reading farm keys"), self._database.engine.connect() as conn:
            found = keys_by_id(conn, KIND_FARM, signers)
        return {s: base64.b64decode(p.public_key) for s, p in found.items()}
