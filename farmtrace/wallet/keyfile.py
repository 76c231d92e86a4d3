"""The wallet's key file: an Ed25519 seed as 64 hex digits on one line, mode 0600.

The file is written whole, synced, then renamed (or linked, when it must not replace anything)
into place by :func:`farmtrace.store.keys.write_private_file`, so a crash never leaves half a
key under the real name. A key file that group or others may read, or that is not a regular
file, is refused rather than used: whoever reads it owns every coupon of its address.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.store.errors import KeyFileError
from farmtrace.store.keys import write_private_file

__all__ = [
    "DEFAULT_FILE",
    "ENV_FILE",
    "WalletError",
    "address_of",
    "default_path",
    "load_key",
    "parse_seed",
    "save_key",
    "seed_hex",
]

ENV_FILE = "FARMTRACE_WALLET"
"""The environment variable naming the key file when ``--file`` is not given."""
DEFAULT_FILE = Path("~/.farmtrace/wallet.key")
"""The key file when neither ``--file`` nor ``$FARMTRACE_WALLET`` names one."""

_SEED = re.compile(r"[0-9a-fA-F]{64}")


class WalletError(Exception):
    """Something the user can fix; the message names what and how. ``code`` is the exit code
    (2: the command could not run; 1: the API or the coupon's state refused it)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def default_path() -> Path:
    """``$FARMTRACE_WALLET`` if set and not empty, else ``~/.farmtrace/wallet.key``."""
    named = os.environ.get(ENV_FILE)
    return Path(named).expanduser() if named else DEFAULT_FILE.expanduser()


def address_of(key: Ed25519PrivateKey) -> str:
    """The wallet's address: the raw public key as 64 lowercase hex digits."""
    return key.public_key().public_bytes_raw().hex()


def seed_hex(key: Ed25519PrivateKey) -> str:
    """The key's 32-byte seed as 64 lowercase hex digits (the key file's and export's form)."""
    return key.private_bytes_raw().hex()


def parse_seed(text: str, where: str) -> Ed25519PrivateKey:
    """The key whose seed ``text`` holds (64 hex digits, surrounding whitespace ignored)."""
    value = text.strip()
    if not _SEED.fullmatch(value):
        raise WalletError(f"{where} is not a wallet key (expected 64 hex digits, an Ed25519 seed)")
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(value))


def load_key(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``; :class:`WalletError` if it is missing, shared or malformed."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise WalletError(
            f"no wallet key at {path}; make one with: farmtrace wallet create --file {path} "
            f"(or import one: farmtrace wallet import FILE --file {path})"
        ) from None
    except OSError as exc:
        raise WalletError(f"cannot read wallet key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise WalletError(f"wallet key {path} is not a regular file")
    if mode & 0o077:
        raise WalletError(
            f"wallet key {path} is readable by other users (mode {stat.S_IMODE(mode):04o}), "
            f"so it may no longer be yours alone; if only you could read it, run: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        text = ""
    except OSError as exc:
        raise WalletError(f"cannot read wallet key {path}: {exc.strerror}") from None
    return parse_seed(text, f"wallet key {path}")


def save_key(path: Path, key: Ed25519PrivateKey, *, force: bool = False) -> None:
    """Write ``key`` to ``path`` (mode 0600, atomically; parent directories made 0700).

    Without ``force`` an existing file is never replaced: :class:`WalletError` says so.
    """
    if not force and (path.exists() or path.is_symlink()):
        raise WalletError(
            f"{path} already exists; it may hold the only copy of a key that owns coupons. "
            "Choose another --file, or replace it with --force (export it first: "
            f"farmtrace wallet export --file {path})"
        )
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise WalletError(f"cannot create directory {path.parent}: {exc.strerror}") from None
    try:
        write_private_file(path, seed_hex(key) + "\n", exclusive=not force)
    except KeyFileError as exc:
        raise WalletError(str(exc)) from None
