"""A token that changes whenever anything commits to the database: the key of caches of
answers computed from many tables (a lot's page and bundle), which are valid until the next
commit anywhere.

* SQLite: ``PRAGMA data_version`` on a connection of its own that never writes. It changes
  when any other connection, of this process or another, commits (the API's own writes go
  through the pool, so they count too).
* PostgreSQL: the current WAL position, which every commit on the server advances (also other
  databases' commits: a cache then misses more often, never serves stale answers).

Read the token *before* computing what it keys: a commit while computing then changes the
token the next request reads, so an answer that may have seen that commit is never served
under the token read before it. :meth:`DataVersion.token` answers ``None`` when it cannot tell
(the caller must not cache).
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text

from farmtrace.store.database import Database

__all__ = ["DataVersion"]


class DataVersion:
    """The data version of ``database`` (see the module docstring). Thread-safe."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._lock = threading.Lock()
        self._watcher: Any = None

    def token(self) -> str | None:
        """A value that differs after any commit to the database, or ``None`` if unknown."""
        try:
            if self.database.engine.dialect.name == "sqlite":
                with self._lock:
                    if self._watcher is None:
                        pooled = self.database.engine.raw_connection()
                        pooled.detach()  # ours for good: the pool never hands it to a writer
                        self._watcher = pooled
                    cursor = self._watcher.cursor()
                    cursor.execute("PRAGMA data_version")
                    (version,) = cursor.fetchone()
                    cursor.close()
                return f"sqlite:{version}"
            with self.database.engine.connect() as conn:
                lsn = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar()
            return None if lsn is None else f"pg:{lsn}"
        except Exception:
            return None  # e.g. a server that hides its WAL position: nothing is cached

    def close(self) -> None:
        with self._lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None
