"""The plaintext credentials the broker's files are made from, kept between runs.

``device-passwords.json`` is ``{"device ID": "password"}``, the file ``python -m firmware_sim
run --password-file`` takes; ``gateway.env`` holds ``GATEWAY_MQTT_USER`` and
``GATEWAY_MQTT_PASSWORD`` for a systemd ``EnvironmentFile``. They are the source of the
password file, so a run keeps every password already given out and only makes new ones for
new devices: regenerating never rotates a credential silently. A file that exists but cannot
be read or parsed is an error, never a reason to hand out new passwords.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.broker.errors import BrokerFilesError

__all__ = ["GatewayCredential", "format_gateway_env", "load_device_passwords", "load_gateway_env"]

GatewayCredential = tuple[str, str]
"""``(user, password)`` of the gateways' broker login."""

_USER_KEY, _PASSWORD_KEY = "GATEWAY_MQTT_USER", "GATEWAY_MQTT_PASSWORD"


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
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise BrokerFilesError(f"{path}:{number}: expected KEY=VALUE; fix or remove it")
        values[key.strip()] = value.strip()
    user, password = values.get(_USER_KEY), values.get(_PASSWORD_KEY)
    if not user or not password:
        raise BrokerFilesError(f"{path}: needs {_USER_KEY} and {_PASSWORD_KEY}; fix or remove it")
    return user, password


def format_gateway_env(credential: GatewayCredential) -> str:
    user, password = credential
    return (
        "# The gateways' MQTT login, made by `farmtrace broker files` (docs/broker.md).\n"
        f"{_USER_KEY}={user}\n{_PASSWORD_KEY}={password}\n"
    )


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
