"""The plaintext credentials the broker's files are made from, kept between runs.

``device-passwords.json`` is ``{"device ID": "password"}``, the file ``python -m farmtrace.sim
run --password-file`` takes; ``gateway.env`` holds ``GATEWAY_MQTT_USER`` and
``GATEWAY_MQTT_PASSWORD`` for a systemd ``EnvironmentFile`` or ``farmtrace gateway
--broker-credentials`` (which reads it with :func:`parse_gateway_env`). They are the source of the
password file, so a run keeps every password already given out and only makes new ones for
new devices: regenerating never rotates a credential silently. A file that exists but cannot
be read or parsed is an error, never a reason to hand out new passwords.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from farmtrace.gateway.broker.errors import BrokerFilesError

__all__ = [
    "GATEWAY_PASSWORD_VARIABLE",
    "GATEWAY_USER_VARIABLE",
    "GatewayCredential",
    "format_gateway_env",
    "gateway_credential",
    "load_device_passwords",
    "load_gateway_env",
    "parse_gateway_env",
]

GatewayCredential = tuple[str, str]
"""``(user, password)`` of the gateways' broker login."""

GATEWAY_USER_VARIABLE, GATEWAY_PASSWORD_VARIABLE = "GATEWAY_MQTT_USER", "GATEWAY_MQTT_PASSWORD"
"""The names in ``gateway.env``, and of the environment variables ``farmtrace gateway`` reads."""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrokerFilesError(f"cannot read {path}: {_reason(exc)}") from None


def load_device_passwords(path: Path) -> dict[str, str]:
    """The passwords already given out (empty if ``path`` does not exist)."""
    text = _read(path)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BrokerFilesError(f"{path} is not JSON ({exc}); fix or remove it") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()
    ):
        raise BrokerFilesError(
            f'{path}: expected {{"device id": "password"}} with non-empty strings; fix or remove it'
        )
    return data


def load_gateway_env(path: Path) -> GatewayCredential | None:
    """The gateway credential already given out, or ``None`` if ``path`` does not exist."""
    text = _read(path)
    if text is None:
        return None
    try:
        return parse_gateway_env(text, str(path))
    except BrokerFilesError as exc:
        raise BrokerFilesError(f"{exc}; fix or remove it") from None


def parse_gateway_env(text: str, source: str) -> GatewayCredential:
    """``gateway.env``'s text as ``(user, password)``: ``KEY=VALUE`` lines (blank lines and
    ``#`` comments skipped, spaces around keys and values dropped, other keys ignored).

    Raises :class:`BrokerFilesError` starting with ``source`` (and the line number) when a line
    is not ``KEY=VALUE``, a key is given twice, or the user or the password is missing.
    """
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise BrokerFilesError(f"{source}:{number}: expected KEY=VALUE")
        if key.strip() in values:
            # systemd would take the last one; which one was meant is not ours to guess.
            raise BrokerFilesError(f"{source}:{number}: {key.strip()} is given twice")
        values[key.strip()] = value.strip()
    return gateway_credential(values, source)


def gateway_credential(values: Mapping[str, str], source: str) -> GatewayCredential:
    """``(user, password)`` from ``GATEWAY_MQTT_USER`` and ``GATEWAY_MQTT_PASSWORD`` in
    ``values`` (a parsed ``gateway.env`` or the environment); :class:`BrokerFilesError` naming
    ``source`` and what is missing unless both are there and non-empty."""
    user, password = values.get(GATEWAY_USER_VARIABLE), values.get(GATEWAY_PASSWORD_VARIABLE)
    if not user or not password:
        missing = [
            key
            for key, value in ((GATEWAY_USER_VARIABLE, user), (GATEWAY_PASSWORD_VARIABLE, password))
            if not value
        ]
        raise BrokerFilesError(
            f"{source}: needs {GATEWAY_USER_VARIABLE} and {GATEWAY_PASSWORD_VARIABLE} ({' and '.join(missing)} "
            "missing or empty)"
        )
    return user, password


def format_gateway_env(credential: GatewayCredential) -> str:
    user, password = credential
    return (
        "# The gateways' MQTT login, made by `farmtrace broker files` (docs/broker.md).\n"
        f"{GATEWAY_USER_VARIABLE}={user}\n{GATEWAY_PASSWORD_VARIABLE}={password}\n"
    )


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
