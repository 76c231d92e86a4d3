"""The API's event-signing key: an Ed25519 seed in ``<state>/event.key`` (hex, mode 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.store.errors import KeyFileError
from farmtrace.store.keys import write_private_file

__all__ = ["EVENT_KEY_FILE", "load_or_create_event_key"]

EVENT_KEY_FILE = "event.key"


def load_or_create_event_key(state_dir: Path) -> Ed25519PrivateKey:
    """The event key in ``state_dir``, created on first use; raise ``KeyFileError`` if unusable."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / EVENT_KEY_FILE
    if not path.exists():
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        try:
            write_private_file(path, seed.hex() + "\n", exclusive=True)
        except KeyFileError:
            if not path.exists():
                raise
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode) or mode & 0o077:
        raise KeyFileError(
            f"event key {path} must be a regular file of mode 0600 (it is {stat.S_IMODE(mode):04o})"
        )
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text("ascii").strip()))
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"event key {path} is not a hex Ed25519 seed") from None
