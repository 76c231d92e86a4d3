"""The gateway's watermark key: the Ed25519 key that signs commit watermarks for devices.

Kept in ``<state>/watermark.key`` as one line, the base64 of the 32-byte Ed25519 seed, mode
0600, created on first use (written in full and synced before it is linked into place, so two
first runs cannot make two keys). It is a key of its own, not the checkpoint key: the checkpoint
key speaks for the chain to every verifier and rotates with the chain's hand-over checkpoint,
while this one only tells the gateway's own devices what they may forget. Devices pin its public
half (``docs/wire-format.md``, "Commit watermark": the pin file); keeping the two apart means a
device holds nothing about the chain, and rotating one key never forces the other.
"""

from __future__ import annotations

import base64
import binascii
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.store.errors import KeyFileError
from farmtrace.store.keys import write_private_file

__all__ = ["WATERMARK_KEY_FILE", "load_or_create_watermark_key", "pin_line"]

WATERMARK_KEY_FILE = "watermark.key"


def load_or_create_watermark_key(state_dir: Path) -> Ed25519PrivateKey:
    """The watermark key in ``state_dir``, created on first use; :class:`KeyFileError` if the
    stored one is unusable (unreadable, malformed, or readable by group or others)."""
    state = Path(state_dir)
    path = state / WATERMARK_KEY_FILE
    if not path.exists():
        try:
            state.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create state directory {state}: {exc.strerror}") from None
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        try:
            write_private_file(path, base64.b64encode(seed).decode("ascii") + "\n", exclusive=True)
        except KeyFileError:
            if not path.exists():
                raise
            # Another process created the key first: use that one.
    return _load(path)


def _load(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the watermark key {path}: {exc}") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"watermark key {path} is not a regular file")
    if mode & 0o077:
        raise KeyFileError(
            f"watermark key {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            "run: chmod 600 " + str(path)
        )
    try:
        seed = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"watermark key {path} is not base64") from None
    if len(seed) != 32:
        raise KeyFileError(f"watermark key {path} holds {len(seed)} bytes, an Ed25519 seed is 32")
    return Ed25519PrivateKey.from_private_bytes(seed)


def pin_line(key: Ed25519PrivateKey, label: str) -> str:
    """The line a device's pin file holds for ``key``: base64 public key, then a label."""
    public = key.public_key().public_bytes_raw()
    return f"{base64.b64encode(public).decode('ascii')} {label}"
