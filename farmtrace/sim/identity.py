"""Device identity: one Ed25519 key pair per device, kept in the state directory.

Keys live in ``<state>/keys/<device id, percent-encoded>.pem`` (PKCS#8, unencrypted, mode 0600,
directory mode 0700), made on a device's first run and reused afterwards. A key file that other
users could read is refused, as ssh refuses one: a leaked device key forges that device's data.
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.sim.errors import StateError
from farmtrace.wire.protocol import ProtocolError, check_device_id

KEY_SUFFIX = ".pem"


class Keystore:
    """The device keys of one state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "keys"

    def _path(self, device_id: str) -> Path:
        return self.directory / (quote(device_id, safe="") + KEY_SUFFIX)

    def _ensure_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StateError(f"cannot create key directory {self.directory}: {err}") from err

    def load_or_create(self, device_id: str) -> Ed25519PrivateKey:
        """The device's private key, made and saved (mode 0600) if it has none yet."""
        path = self._path(device_id)
        if path.exists():
            return self._load(path)
        self._ensure_directory()
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_suffix(".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            # Rename last, so a crash never leaves a half-written key under the real name.
            os.replace(temporary, path)
        except OSError as err:
            raise StateError(f"cannot write key {path}: {err}") from err
        return key

    def _load(self, path: Path) -> Ed25519PrivateKey:
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise StateError(
                    f"private key {path} is accessible by other users "
                    f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
                )
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as err:
            raise StateError(f"cannot read key {path}: {err}") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise StateError(f"{path} is not an Ed25519 private key")
        return key

    def device_ids(self) -> list[str]:
        """Every device that has a key here, sorted."""
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.glob("*" + KEY_SUFFIX):
            device_id = unquote(path.name[: -len(KEY_SUFFIX)])
            try:
                found.append(check_device_id(device_id))
            except ProtocolError as err:
                raise StateError(f"unexpected key file {path}: {err}") from err
        return sorted(found)

    def public_keys(self) -> dict[str, str]:
        """``{device_id: base64 of the raw 32-byte Ed25519 public key}`` for every device."""
        out = {}
        for device_id in self.device_ids():
            public = self._load(self._path(device_id)).public_key().public_bytes_raw()
            out[device_id] = base64.b64encode(public).decode("ascii")
        return out
