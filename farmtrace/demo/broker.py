"""Which MQTT broker the demo uses, and starting it when it is ours.

Order (docs/demo.md explains the choice): the broker named with ``--broker URL``; else
``mosquitto`` if it is on ``PATH``, started on a free 127.0.0.1 port with a configuration and
persistence in the state directory; else the embedded broker (``iotcore``, which compiles the
Rust broker rumqttd into a wheel), run as ``python -m farmtrace.demo.embedded_broker``.
``--broker mosquitto`` or ``--broker embedded`` forces one of ours.

A broker of ours is locked down by default: it takes only the logins of ``farmtrace broker
files`` (a password per device, one for the gateway; ``access``), and Mosquitto also enforces
that command's ACL (a device may write only its own ``reading``, ``status`` and ``dropped``
topics and read its own ``committed`` one). rumqttd has no ACL: the embedded broker checks the
logins only, which keeps out anonymous clients but not a device that publishes on another's
topic (the signatures of readings, drop floors and watermarks still hold; docs/demo.md).
``access=None`` (``--insecure-broker``) starts it anonymous and open, as before.

Started as root, Mosquitto switches to the ``mosquitto`` user, which cannot write the demo's
state directory (every autosave logged "Permission denied") nor read its 0600 access files.
The demo's broker is private to the user who started it, so its configuration says ``user``
that user: Mosquitto then keeps the identity it was started with.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from farmtrace.demo.errors import DemoError
from farmtrace.demo.supervisor import Supervisor, wait_until
from farmtrace.gateway.broker.acl import device_user
from farmtrace.gateway.broker.credentials import (
    GATEWAY_PASSWORD_VARIABLE,
    GATEWAY_USER_VARIABLE,
    load_device_passwords,
    load_gateway_env,
)
from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.broker.files import (
    ACL_FILE,
    DEVICE_PASSWORDS_FILE,
    GATEWAY_ENV_FILE,
    PASSWORD_FILE,
)
from farmtrace.redact import redact_url

__all__ = ["BrokerPlan", "choose_broker", "free_port", "gateway_login", "start_broker"]

AUTO = "auto"
EXTERNAL = "external"
MOSQUITTO = "mosquitto"
EMBEDDED = "embedded"
START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class BrokerPlan:
    """``kind`` is ``external``, ``mosquitto`` or ``embedded``; ``url`` set for external."""

    kind: str
    url: str | None = None
    binary: str | None = None

    def describe(self) -> str:
        if self.kind == EXTERNAL:
            return f"the broker at {redact_url(self.url or '')}"  # printed: no password
        if self.kind == MOSQUITTO:
            return f"Mosquitto ({self.binary})"
        return "the embedded broker (iotcore: rumqttd)"


def choose_broker(requested: str) -> BrokerPlan:
    """The plan for ``--broker`` (a URL, ``auto``, ``mosquitto`` or ``embedded``)."""
    if requested.startswith(("mqtt://", "mqtts://")):
        return BrokerPlan(EXTERNAL, url=requested)
    if requested not in (AUTO, MOSQUITTO, EMBEDDED):
        raise DemoError(
            f"--broker {requested!r}: expected mqtt://HOST:PORT, mqtts://..., "
            "'mosquitto' or 'embedded'"
        )
    mosquitto = shutil.which("mosquitto")
    if requested == MOSQUITTO and mosquitto is None:
        raise DemoError("--broker mosquitto: no 'mosquitto' on PATH")
    if requested in (AUTO, MOSQUITTO) and mosquitto is not None:
        return BrokerPlan(MOSQUITTO, binary=mosquitto)
    return BrokerPlan(EMBEDDED)


def gateway_login(url: str, environ: Mapping[str, str]) -> tuple[str, dict[str, str] | None]:
    """The broker URL for the gateway and the environment to start it with (``None``: its
    own, unchanged).

    A password in ``url`` moves into ``GATEWAY_MQTT_USER``/``GATEWAY_MQTT_PASSWORD``, which
    ``farmtrace gateway`` reads (docs/gateway.md), so that it is not on the gateway's command
    line, where every local user could read it. Those variables already set to another login
    are a :class:`DemoError`, not a silent choice.
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user, password = unquote(parts.username or ""), unquote(parts.password)
    if not user:
        raise DemoError(f"--broker {redact_url(url)!r}: a password but no user name")
    names = (GATEWAY_USER_VARIABLE, GATEWAY_PASSWORD_VARIABLE)
    inherited = tuple(environ.get(name) or None for name in names)
    if inherited != (None, None) and inherited != (user, password):
        raise DemoError(
            f"--broker {redact_url(url)!r} carries a login and the environment sets "
            f"{' or '.join(names)} to another; give the login in one place"
        )
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    return bare, {**environ, GATEWAY_USER_VARIABLE: user, GATEWAY_PASSWORD_VARIABLE: password}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_broker(plan: BrokerPlan, state: Path, supervisor: Supervisor, access: Path | None) -> str:
    """Start the planned broker if it is ours; the ``mqtt://`` URL clients should use.

    ``access`` is the directory ``farmtrace broker files`` wrote: our broker takes only its
    logins (and, Mosquitto, its ACL). ``None`` starts it anonymous and open."""
    if plan.kind == EXTERNAL:
        assert plan.url is not None
        return plan.url
    directory = state / "broker"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    if plan.kind == MOSQUITTO:
        assert plan.binary is not None
        config = directory / "mosquitto.conf"
        config.write_text(_mosquitto_config(port, directory, access), "utf-8")
        supervisor.start("broker", [plan.binary, "-c", str(config)], grace=10.0)
    else:
        config = directory / "rumqttd.toml"
        _write_private(config, _rumqttd_config(port, _logins(access)))  # it holds passwords
        argv = [sys.executable, "-m", "farmtrace.demo.embedded_broker", str(config)]
        supervisor.start("broker", argv, grace=5.0)
    wait_until(lambda: _accepts(port), START_TIMEOUT_S, f"the broker on port {port}", supervisor)
    return f"mqtt://127.0.0.1:{port}"


def _mosquitto_config(port: int, directory: Path, access: Path | None) -> str:
    # docs/gateway.md "Broker settings the gateway needs"; persistence keeps the gateway's
    # session and the retained watermarks across demo runs.
    lines = [
        f"listener {port} 127.0.0.1",
        "persistence true",
        f"persistence_location {directory}/",
        "autosave_interval 60",
        "max_queued_messages 1000000",
        "max_queued_bytes 1000000000",
        "set_tcp_nodelay true",
        # Keep the identity we start it with (see the module docstring): as root, Mosquitto
        # would otherwise become "mosquitto" and could not save into our state directory.
        f"user {pwd.getpwuid(os.geteuid()).pw_name}",
    ]
    if access is None:
        lines.append("allow_anonymous true")
    else:
        lines += [
            "allow_anonymous false",
            f"password_file {access / PASSWORD_FILE}",
            f"acl_file {access / ACL_FILE}",
        ]
    return "\n".join([*lines, ""])


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` readable by its owner only from the start (mode 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # a file left by an earlier run may have had another
        file.write(text)


def _logins(access: Path | None) -> dict[str, str]:
    """``{user: password}`` of every login in ``access`` (empty for an open broker)."""
    if access is None:
        return {}
    try:
        gateway = load_gateway_env(access / GATEWAY_ENV_FILE)
        devices = load_device_passwords(access / DEVICE_PASSWORDS_FILE)
        logins = {device_user(device): password for device, password in devices.items()}
    except BrokerFilesError as exc:
        raise DemoError(f"the broker's logins: {exc}") from None
    if gateway is None:
        raise DemoError(f"the broker's logins: no {access / GATEWAY_ENV_FILE}")
    return {**logins, gateway[0]: gateway[1]}


def _rumqttd_config(port: int, logins: dict[str, str]) -> str:
    # One MQTT 5 listener for the gateway and the devices. rumqttd stops delivering to a
    # client at 100 unacknowledged messages whatever max_inflight_count says (measured,
    # docs/demo.md); the gateway's batches close on age, so that only slows a backlog.
    # With ``logins`` rumqttd refuses any other client (bad or no user name and password).
    auth = "".join(
        f"    {json.dumps(user)} = {json.dumps(password)}\n"
        for user, password in sorted(logins.items())
    )
    auth_table = f"    [v5.1.connections.auth]\n{auth}" if logins else ""
    return f"""\
id = 0

[router]
id = 0
max_connections = 1000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v5.1]
name = "farmtrace-demo"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
{auth_table}"""
