"""``farmtrace devices import | list | revoke``: the device registry shared by every gateway.

``import`` reads the simulator's ``export-keys`` output: a JSON object mapping each device ID to
its base64 Ed25519 public key (32 bytes). Registering a known device again with the same key is
a no-op; with another key it is refused (a new key is a new device identity).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import sys
import time
from pathlib import Path
from typing import Any

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


def _engine(url: str) -> Any:
    from farmtrace.store.engine import create_db_engine
    from farmtrace.store.migrate import upgrade

    engine = create_db_engine(url)
    upgrade(engine)
    return engine


def _run(args: argparse.Namespace, action: Any) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from farmtrace.store.errors import DeviceRegistryError, StoreError

    try:
        engine = _engine(args.db)
    except (StoreError, SQLAlchemyError) as exc:
        print(f"farmtrace devices: cannot open database: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        code: int = action(engine)
        return code
    except DeviceRegistryError as exc:
        print(f"farmtrace devices: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (StoreError, SQLAlchemyError) as exc:
        print(f"farmtrace devices: database error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        engine.dispose()


def _import(args: argparse.Namespace) -> int:
    from farmtrace.store import registry

    try:
        keys = load_keys(args.keys)
    except KeysFileError as exc:
        print(f"farmtrace devices import: {exc}", file=sys.stderr)
        return EXIT_ERROR

    def action(engine: Any) -> int:
        new = registry.register_devices(engine, keys)
        print(f"registered {new} new devices ({len(keys) - new} already registered)")
        return EXIT_OK

    return _run(args, action)


def _list(args: argparse.Namespace) -> int:
    from farmtrace.store import registry

    def action(engine: Any) -> int:
        devices = registry.devices(engine)
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
    from farmtrace.store import registry

    def action(engine: Any) -> int:
        registry.revoke_device(engine, args.device)
        print(f"revoked {args.device}")
        return EXIT_OK

    return _run(args, action)


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
