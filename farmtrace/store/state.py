"""The gateway's state directory: an exclusive lock and the last checkpoint it signed.

``<state>/gateway.lock`` is held (``flock``) for as long as a ledger is open, so two gateway
processes cannot share one state directory and key. ``<state>/checkpoint`` holds the last
checkpoint note the gateway signed, written atomically after each commit: it is the gateway's
own memory of what it vouched for, checked against the database at every start (a database
restored from an old backup, or with rows removed, no longer reaches it).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from farmtrace.store.errors import KeyFileError, StoreError
from farmtrace.store.keys import write_private_file

__all__ = ["CHECKPOINT_FILE", "LOCK_FILE", "StateDir"]

LOCK_FILE = "gateway.lock"
CHECKPOINT_FILE = "checkpoint"


class StateDir:
    """A locked state directory. Create with :meth:`lock`; release with :meth:`close`."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @classmethod
    def lock(cls, path: Path) -> StateDir:
        """Create ``path`` (mode 0700) if needed and lock it; raise if another process holds it."""
        path = Path(path)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot use state directory {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"state directory {path} is in use by another gateway process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    def read_checkpoint(self) -> str | None:
        """The last checkpoint note this gateway recorded, or ``None`` if it never signed one."""
        try:
            return (self.path / CHECKPOINT_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"cannot read {self.path / CHECKPOINT_FILE}: {exc}") from None

    def write_checkpoint(self, note: str) -> None:
        """Record ``note`` as the last signed checkpoint (atomic, synced)."""
        try:
            write_private_file(self.path / CHECKPOINT_FILE, note)
        except KeyFileError as exc:
            raise StoreError(str(exc)) from None

    def close(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
