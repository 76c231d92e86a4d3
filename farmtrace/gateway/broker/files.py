"""Writing the broker's access files into one directory.

===========================  ========================================  =====================
file                         what                                      who reads it
===========================  ========================================  =====================
``passwd``                   Mosquitto password file (hashes only)     the broker
``acl``                      Mosquitto ACL                             the broker
``device-passwords.json``    ``{"device ID": "password"}``             the simulator/devices
``gateway.env``              ``GATEWAY_MQTT_USER``/``_PASSWORD``       the gateways
===========================  ========================================  =====================

Every file is written whole (a temporary file, fsync, rename) with mode 0600. Mosquitto 2.0
opens its password and ACL files after dropping root for its own user, so with ``owner`` they
are handed to that user (``--owner mosquitto``); the plaintext credentials stay with whoever
ran the command. Credentials are written first: if a run stops half-way, the next one makes
the same broker files from them. Revoked devices are left out of every file (they can no longer
log in); a device ID the files cannot express is an error naming it, and nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from farmtrace.gateway.broker import credentials
from farmtrace.gateway.broker.acl import acl_text, check_user_name, device_user
from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.broker.passwords import hash_password, new_password, verify_password
from farmtrace.store.records import Device

__all__ = [
    "ACL_FILE",
    "DEVICE_PASSWORDS_FILE",
    "GATEWAY_ENV_FILE",
    "PASSWORD_FILE",
    "BrokerFiles",
    "write_broker_files",
]

PASSWORD_FILE, ACL_FILE = "passwd", "acl"
DEVICE_PASSWORDS_FILE, GATEWAY_ENV_FILE = "device-passwords.json", "gateway.env"
DEFAULT_GATEWAY_USER = "farmtrace-gateway"


@dataclass(frozen=True, slots=True)
class BrokerFiles:
    """What a run wrote: counts of devices, and the gateway's user name."""

    devices: int  # active devices written
    new: int  # of which given a password now
    revoked: int  # left out as revoked
    removed: int  # passwords dropped from device-passwords.json (revoked or unregistered)
    gateway_user: str


def write_broker_files(
    devices: Sequence[Device],
    out: Path,
    gateway_user: str = DEFAULT_GATEWAY_USER,
    owner: str | None = None,
) -> BrokerFiles:
    """Write the four files for ``devices`` into ``out`` (see the module docstring)."""
    check_user_name(gateway_user, "gateway user")
    active = [d for d in devices if not d.revoked]
    users: dict[str, str] = {}
    for device in active:
        user = device_user(device.device_id)
        if user == gateway_user:
            raise BrokerFilesError(
                f"device {device.device_id!r} would log in as {user!r}, the gateway user; "
                "choose another --gateway-user"
            )
        if user in users:
            raise BrokerFilesError(
                f"devices {users[user]!r} and {device.device_id!r} would both log in as "
                f"{user!r} (a device's user name is its ID after the last ':')"
            )
        users[user] = device.device_id
    broker_owner = _owner(owner)
    directory = _directory(out)

    known = credentials.load_device_passwords(directory / DEVICE_PASSWORDS_FILE)
    passwords = {d.device_id: known.get(d.device_id) or new_password() for d in active}
    gateway = credentials.load_gateway_env(directory / GATEWAY_ENV_FILE)
    gateway_password = gateway[1] if gateway is not None else new_password()
    _write(directory / DEVICE_PASSWORDS_FILE, json.dumps(passwords, indent=2, sort_keys=True) + "\n")  # fmt: skip
    _write(
        directory / GATEWAY_ENV_FILE,
        credentials.format_gateway_env((gateway_user, gateway_password)),
    )

    logins = {gateway_user: gateway_password} | {u: passwords[d] for u, d in users.items()}
    _write(directory / PASSWORD_FILE, _password_file(directory / PASSWORD_FILE, logins), broker_owner)  # fmt: skip
    _write(directory / ACL_FILE, acl_text(gateway_user, users), broker_owner)
    return BrokerFiles(
        devices=len(active),
        new=sum(1 for d in active if d.device_id not in known),
        revoked=len(devices) - len(active),
        removed=len(set(known) - set(passwords)),
        gateway_user=gateway_user,
    )


def _password_file(path: Path, logins: dict[str, str]) -> str:
    """The password file's text; a line of the previous file is kept when its hash still
    matches, so a run over an unchanged registry rewrites the same bytes."""
    previous: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerFilesError(f"cannot read {path}: {exc}") from None
    for line in text.splitlines():
        user, _, encoded = line.partition(":")
        previous[user] = encoded
    lines = []
    for user in sorted(logins):
        kept = previous.get(user, "")
        encoded = kept if verify_password(logins[user], kept) else hash_password(logins[user])
        lines.append(f"{user}:{encoded}")
    return "\n".join(lines) + "\n"


def _owner(name: str | None) -> tuple[int, int] | None:
    if name is None:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise BrokerFilesError(f"--owner {name!r}: no such user") from None
    return entry.pw_uid, entry.pw_gid


def _directory(out: Path) -> Path:
    """``out``, made (mode 0755: it lists names only, every file in it is 0600) if missing."""
    try:
        out.mkdir(mode=0o755, exist_ok=True)
    except FileExistsError:
        raise BrokerFilesError(f"--out {out} exists and is not a directory") from None
    except OSError as exc:
        raise BrokerFilesError(f"cannot make the output directory {out}: {exc.strerror}") from None
    if not out.is_dir():
        raise BrokerFilesError(f"--out {out} is not a directory")
    return out


def _write(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` by ``text`` atomically, mode 0600, owned by ``owner`` if given."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)  # a leftover temporary file may have had another
            if owner is not None:
                os.fchown(file.fileno(), *owner)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    except OSError as exc:
        # The write's error is the one to report; a failed clean-up would only hide it.
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise BrokerFilesError(f"cannot write {path}: {exc.strerror or exc}") from None


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
