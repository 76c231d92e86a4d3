"""``farmtrace devices import | list | revoke``: the device registry shared by every gateway.

``import`` reads the simulator's ``export-keys`` output: a JSON object mapping each device ID to
its base64 Ed25519 public key (32 bytes). Registering a known device again with the same key is
a no-op; with another key it is refused (a new key is a new device identity).

With ``--gateway-state DIR`` (once per gateway the devices may talk to) ``import`` also prints
each gateway's watermark key (created in ``DIR`` if the gateway has not run yet) as the lines of
a device's pin file, and ``--pin-file FILE`` writes them there: a device running
``--until-committed`` acts only on commit watermarks signed by a key it pinned
(``docs/wire-format.md``, "Commit watermark").
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from farmtrace.store.device_registry import DeviceRegistry

__all__ = ["load_keys", "register"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class KeysFileError(ValueError):
    """A keys file that is not ``{device_id: base64 32-byte key}``."""


def load_keys(path: Path) -> dict[str, bytes]:
    """Parse an ``export-keys`` file; raise :class:`KeysFileError` naming the bad entry."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeysFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise KeysFileError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise KeysFileError(f"{path}: expected an object mapping device IDs to base64 keys")
    keys: dict[str, bytes] = {}
    for device_id, encoded in data.items():
        if not isinstance(encoded, str):
            raise KeysFileError(f"{path}: key of {device_id!r} is not a base64 string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise KeysFileError(f"{path}: key of {device_id!r} is not valid base64") from None
        if len(raw) != 32:
            raise KeysFileError(
                f"{path}: key of {device_id!r} is {len(raw)} bytes, an Ed25519 key is 32"
            )
        keys[device_id] = raw
    return keys


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "devices", help="the device registry: import keys, list, revoke"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import", help="register devices from the simulator's export-keys JSON"
    )
    imp.add_argument("keys", type=Path, metavar="KEYS.json")
    imp.add_argument(
        "--gateway-state",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a gateway's state directory: print its watermark key for the devices to pin "
        "(repeatable: every gateway of a share group)",
    )
    imp.add_argument("--pin-file", type=Path, metavar="FILE", help="also write the pin file here")
    imp.set_defaults(func=_import)
    listing = actions.add_parser("list", help="list registered devices")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=_list)
    revoke = actions.add_parser("revoke", help="revoke a device: its new readings are rejected")
    revoke.add_argument("device", metavar="DEVICE")
    revoke.set_defaults(func=_revoke)
    for action in (imp, listing, revoke):
        action.add_argument(
            "--db", required=True, metavar="URL", help="sqlite:///PATH or postgresql://"
        )


def _run(args: argparse.Namespace, action: Callable[[DeviceRegistry], int]) -> int:
    # Imported here: the store (SQLAlchemy, Alembic) loads only when a command runs.
    from farmtrace.store.device_registry import DeviceRegistry
    from farmtrace.store.errors import DeviceRegistryError, StoreError

    try:
        registry = DeviceRegistry.open(args.db)
    except StoreError as exc:
        print(f"farmtrace devices: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return action(registry)
    except DeviceRegistryError as exc:
        print(f"farmtrace devices: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except StoreError as exc:
        print(f"farmtrace devices: database error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        registry.close()


def _import(args: argparse.Namespace) -> int:
    try:
        keys = load_keys(args.keys)
    except KeysFileError as exc:
        print(f"farmtrace devices import: {exc}", file=sys.stderr)
        return EXIT_ERROR

    def action(registry: DeviceRegistry) -> int:
        new = registry.register(keys)
        print(f"registered {new} new devices ({len(keys) - new} already registered)")
        return _print_pins(args.gateway_state, args.pin_file)

    return _run(args, action)


def _print_pins(states: list[Path], pin_file: Path | None) -> int:
    """Print (and with ``pin_file`` write) the watermark keys of the gateways in ``states``."""
    from farmtrace.store.errors import KeyFileError
    from farmtrace.store.watermark_key import load_or_create_watermark_key, pin_line

    if not states:
        if pin_file is not None:
            print("farmtrace devices import: --pin-file needs --gateway-state", file=sys.stderr)
            return EXIT_ERROR
        print(
            "devices running --until-committed also need the gateway's watermark key: "
            "add --gateway-state DIR (and --pin-file FILE); docs/wire-format.md",
            file=sys.stderr,
        )
        return EXIT_OK
    try:
        lines = [
            pin_line(load_or_create_watermark_key(d), f"gateway:{d.resolve()}") for d in states
        ]
    except KeyFileError as exc:
        print(f"farmtrace devices import: {exc}", file=sys.stderr)
        return EXIT_ERROR
    text = "".join(line + "\n" for line in lines)
    print("pin these gateway watermark keys on every device (simulator: --gateway-key FILE):")
    sys.stdout.write(text)
    if pin_file is not None:
        try:
            pin_file.write_text(text, encoding="ascii")
        except OSError as exc:
            print(f"farmtrace devices import: cannot write {pin_file}: {exc}", file=sys.stderr)
            return EXIT_ERROR
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    def action(registry: DeviceRegistry) -> int:
        devices = registry.devices()
        if args.json:
            rows = [
                {
                    "device_id": d.device_id,
                    "public_key": base64.b64encode(d.public_key).decode("ascii"),
                    "registered_at": d.registered_at,
                    "revoked_at": d.revoked_at,
                }
                for d in devices
            ]
            json.dump(rows, sys.stdout, indent=2)
            sys.stdout.write("\n")
            return EXIT_OK
        for d in devices:
            state = "revoked " + _iso(d.revoked_at) if d.revoked_at is not None else "active"
            key = base64.b64encode(d.public_key).decode("ascii")
            print(f"{d.device_id}  {key}  registered {_iso(d.registered_at)}  {state}")
        print(f"{len(devices)} devices", file=sys.stderr)
        return EXIT_OK

    return _run(args, action)


def _revoke(args: argparse.Namespace) -> int:
    def action(registry: DeviceRegistry) -> int:
        registry.revoke(args.device)
        print(f"revoked {args.device}")
        return EXIT_OK

    return _run(args, action)


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
