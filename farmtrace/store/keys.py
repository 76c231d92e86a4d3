"""The gateway's checkpoint key, kept in its state directory.

The key is an Ed25519 C2SP note key named after the gateway's origin, stored in
``<state>/checkpoint.key`` as one line in the signer-key format of Go's
``golang.org/x/mod/sumdb/note`` (``PRIVATE+KEY+<name>+<key ID>+<base64(0x01 || seed)>``), so
standard tooling can use it. The file is created on first use with mode 0600 (the directory
with 0700), written in full and synced before it is renamed into place; a key file readable by
group or others is refused rather than used.

Older verifier keys (after a rotation, ``farmtrace keys rotate``: :mod:`farmtrace.store.rotation`) are
listed, one per line, in ``<state>/checkpoint-retired.vkeys``; checkpoints signed with them stay
verifiable. Until the gateway has signed the hand-over checkpoint (with both keys), the retired
private key waits in ``<state>/checkpoint-previous.key`` (mode 0600); the gateway deletes it once
that checkpoint is committed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from farmtrace.store.errors import KeyFileError
from farmtrace.tlog.errors import NoteError
from farmtrace.tlog.note import Signer, Verifier

__all__ = [
    "KEY_FILE",
    "PREVIOUS_KEY_FILE",
    "RETIRED_KEYS_FILE",
    "add_retired_verifier",
    "load_or_create_signer",
    "load_previous_signer",
    "load_signer",
    "remove_previous_signer",
    "retired_verifiers",
    "trusted_verifiers",
    "write_private_file",
]

KEY_FILE = "checkpoint.key"
RETIRED_KEYS_FILE = "checkpoint-retired.vkeys"
PREVIOUS_KEY_FILE = "checkpoint-previous.key"


def load_signer(state_dir: Path) -> Signer:
    """Load the checkpoint key from ``state_dir``; raise :class:`KeyFileError` if unusable."""
    return _load_key_file(Path(state_dir) / KEY_FILE)


def load_previous_signer(state_dir: Path) -> Signer | None:
    """The retired key still waiting to sign the hand-over checkpoint, if there is one."""
    path = Path(state_dir) / PREVIOUS_KEY_FILE
    if not path.exists():
        return None
    return _load_key_file(path)


def remove_previous_signer(state_dir: Path) -> None:
    """Delete the retired private key once the hand-over checkpoint is committed (synced)."""
    path = Path(state_dir) / PREVIOUS_KEY_FILE
    try:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise KeyFileError(f"cannot delete the retired key {path}: {exc.strerror}") from None


def _load_key_file(path: Path) -> Signer:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"no checkpoint key at {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot read checkpoint key {path}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise KeyFileError(f"checkpoint key {path} is not a regular file")
    if mode & 0o077:
        raise KeyFileError(
            f"checkpoint key {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
            "run: chmod 600 " + str(path)
        )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read checkpoint key {path}: {exc}") from None
    try:
        return Signer.from_skey(text.strip())
    except NoteError as exc:
        raise KeyFileError(f"checkpoint key {path} is malformed: {exc}") from None


def load_or_create_signer(state_dir: Path, origin: str) -> Signer:
    """The checkpoint key named ``origin`` in ``state_dir``, created on first use.

    Raises :class:`KeyFileError` if the stored key is unusable or named for another origin.
    """
    state = Path(state_dir)
    if not (state / KEY_FILE).exists():
        signer = Signer.generate(origin)
        _ensure_private_dir(state)
        try:
            write_private_file(state / KEY_FILE, signer.skey + "\n", exclusive=True)
        except KeyFileError:
            if not (state / KEY_FILE).exists():
                raise
            # Another process created the key first: use that one.
    signer = load_signer(state)
    if signer.name != origin:
        raise KeyFileError(
            f"checkpoint key in {state} is named {signer.name!r}, not the origin {origin!r}: "
            "each gateway origin needs its own state directory"
        )
    return signer


def retired_verifiers(state_dir: Path) -> list[Verifier]:
    """The verifier keys listed in ``<state>/checkpoint-retired.vkeys`` (none if absent)."""
    path = Path(state_dir) / RETIRED_KEYS_FILE
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the retired keys {path}: {exc}") from None
    verifiers = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            try:
                verifiers.append(Verifier.from_vkey(line.strip()))
            except NoteError as exc:
                raise KeyFileError(f"{path}, line {number}: {exc}") from None
    return verifiers


def add_retired_verifier(state_dir: Path, verifier: Verifier) -> bool:
    """Append ``verifier`` to the retired list (rewritten atomically); ``False`` if listed.

    The list is read and checked first, so a malformed list is reported, never overwritten.
    """
    path = Path(state_dir) / RETIRED_KEYS_FILE
    if any(v.vkey == verifier.vkey for v in retired_verifiers(state_dir)):
        return False
    try:
        before = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from None
    if before and not before.endswith("\n"):
        before += "\n"
    write_private_file(path, before + verifier.vkey + "\n")
    return True


def trusted_verifiers(state_dir: Path) -> list[Verifier]:
    """The current checkpoint verifier key followed by the retired ones."""
    return [load_signer(state_dir).verifier, *retired_verifiers(state_dir)]


def write_private_file(path: Path, content: str | bytes, *, exclusive: bool = False) -> None:
    """Write ``content`` (text as UTF-8) to ``path`` atomically with mode 0600, synced to disk.

    With ``exclusive`` the call fails (:class:`KeyFileError`) if ``path`` already exists.
    """
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:  # os.write may write less than it was given
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            # link() fails if the target exists, so two first runs cannot both create a key.
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise KeyFileError(f"{path} already exists") from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write {path}: {exc.strerror}") from None


def _ensure_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create state directory {path}: {exc.strerror}") from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
