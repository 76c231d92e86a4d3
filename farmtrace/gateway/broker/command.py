"""``farmtrace broker files``: the broker's password file, ACL and credentials from the registry.

Exit codes: 0 written, 2 not written (the message names the registry, file or device at fault).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.broker.files import (
    ACL_FILE,
    DEFAULT_GATEWAY_USER,
    DEVICE_PASSWORDS_FILE,
    GATEWAY_ENV_FILE,
    PASSWORD_FILE,
    write_broker_files,
)
from farmtrace.gateway.broker.source import read_registry

__all__ = ["register"]

EXIT_OK, EXIT_ERROR = 0, 2


def register(sub: Any) -> None:
    """Add ``broker files`` to the ``farmtrace`` command."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "broker", help="the MQTT broker's access files (Mosquitto)"
    )
    actions = parser.add_subparsers(dest="broker_command", metavar="ACTION", required=True)
    files = actions.add_parser(
        "files",
        help="write the password file, ACL and credentials from the device registry",
        description=f"Write {PASSWORD_FILE} and {ACL_FILE} (for Mosquitto's password_file and "
        f"acl_file), {DEVICE_PASSWORDS_FILE} (the simulator's --password-file) and "
        f"{GATEWAY_ENV_FILE} (the gateways' login) into DIR, each mode 0600. Passwords already "
        "in DIR are kept; new devices get new ones; revoked devices are left out. Reload the "
        "broker afterwards (systemctl reload mosquitto). See docs/broker.md.",
    )
    files.add_argument("--db", required=True, metavar="URL", help="sqlite:///PATH or postgresql://")
    files.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory")
    files.add_argument(
        "--gateway-user",
        default=DEFAULT_GATEWAY_USER,
        metavar="NAME",
        help=f"the gateways' broker user name (default {DEFAULT_GATEWAY_USER})",
    )
    files.add_argument(
        "--owner",
        metavar="USER",
        help=f"give {PASSWORD_FILE} and {ACL_FILE} to this user: the one Mosquitto runs as "
        "(mosquitto), which must be able to read them",
    )
    files.set_defaults(func=_files)


def _files(args: argparse.Namespace) -> int:
    try:
        devices = read_registry(args.db)
        written = write_broker_files(devices, args.out, args.gateway_user, args.owner)
    except BrokerFilesError as exc:
        print(f"farmtrace broker files: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"{args.out}: {written.devices} devices ({written.new} new), {written.revoked} revoked "
        f"left out, {written.removed} passwords removed; gateway user {written.gateway_user}"
    )
    return EXIT_OK
