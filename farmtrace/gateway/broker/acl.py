"""Broker user names for devices, and the Mosquitto ACL file.

User names. A device ID such as ``urn:epc:id:giai:4012345.SIM-000001`` holds ':', which a
Mosquitto password file cannot (it splits ``USER:HASH`` at the first ':' and
``mosquitto_passwd`` refuses such names). A device therefore logs in as its *asset*, the ID
after its last ':' (the simulator's ``--username {asset}``). Two devices with one asset could
not both log in, so that is refused rather than written.

Topics. The ACL lists, under each device's user, that device's own topics with its full ID
written out. It uses no ``pattern`` lines: ``%u`` would be the asset, not the ID in the topic,
and ``%c``, the client ID, is whatever the client sends, so with ``pattern write
farm/+/%c/reading`` any device holding a valid credential could connect under another device's
ID and publish as it. Here the client ID grants nothing. The farm level stays ``+``: the
registry does not know a device's farm, and the gateway checks that a reading's payload names
the device of its topic.

A device may write its ``reading``, ``status`` (its last will) and ``dropped`` topics and read
its ``committed`` topic; the gateway user may read every device's ``reading``, ``status`` and
``dropped`` topics and read and write the ``committed`` watermarks. Anything else is denied:
Mosquitto answers a denied MQTT 5 QoS 1 publish with PUBACK 0x87 (not authorized) and drops a
denied last will; a subscription outside the ACL is granted but delivers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = ["acl_text", "check_user_name", "device_user"]

# What the simulator and our files can carry as a user name: no ':' (password file), no
# spaces (ACL lines), no '+', '#' or '/' (Mosquitto refuses pattern checks for such names).
_USER = re.compile(r"[A-Za-z0-9._-]{1,128}")

DEVICE_RIGHTS = (("write", "reading"), ("write", "status"), ("write", "dropped"), ("read", "committed"))  # fmt: skip
GATEWAY_RIGHTS = (("read", "reading"), ("read", "status"), ("read", "dropped"), ("readwrite", "committed"))  # fmt: skip


def check_user_name(name: str, what: str) -> str:
    """Return ``name`` if the broker's files can hold it as a user name, else raise."""
    if not _USER.fullmatch(name):
        raise BrokerFilesError(
            f"{what} {name!r} cannot be a broker user name: 1-128 ASCII letters, digits, "
            "'.', '_' or '-'"
        )
    return name


def device_user(device_id: str) -> str:
    """The user name of ``device_id``: its asset, the part after its last ':'."""
    try:
        check_device_id(device_id)
    except ProtocolError as exc:
        raise BrokerFilesError(
            f"device ID {device_id!r} cannot be written into the broker's ACL: {exc}"
        ) from None
    return check_user_name(device_id.rsplit(":", 1)[-1], f"the asset of device {device_id!r}")


def acl_text(gateway_user: str, devices: Mapping[str, str]) -> str:
    """The ACL file: the gateway user's rights, then each device's, ``devices`` mapping user
    name to device ID. Deterministic (sorted by device ID), so regenerating changes nothing
    when the registry did not change."""
    lines = [
        "# Mosquitto ACL made by `farmtrace broker files` from the device registry: do not edit,",
        "# regenerate it after `farmtrace devices import` or `revoke` (docs/broker.md).",
        "# No lines before the first user: anonymous clients get nothing.",
        "",
        f"user {gateway_user}",
        *(f"topic {access} farm/+/+/{kind}" for access, kind in GATEWAY_RIGHTS),
    ]
    for user, device_id in sorted(devices.items(), key=lambda item: item[1]):
        lines += [
            "",
            f"user {user}",
            *(f"topic {access} farm/+/{device_id}/{kind}" for access, kind in DEVICE_RIGHTS),
        ]
    return "\n".join(lines) + "\n"
