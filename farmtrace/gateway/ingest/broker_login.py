"""Where the gateway's broker login comes from, so that its password can stay off the command line.

A process's command line is readable by every local user (``ps``, ``/proc/PID/cmdline``); its
environment only by the same user and root (``/proc/PID/environ`` is mode 0400). Three places
can give the login:

* the broker URL, ``mqtt://USER:PASSWORD@HOST:PORT``: still accepted, with a warning;
* ``--broker-credentials FILE``: the ``gateway.env`` that ``farmtrace broker files`` writes
  (``GATEWAY_MQTT_USER=``, ``GATEWAY_MQTT_PASSWORD=``), read by that command's own parser
  (:func:`farmtrace.gateway.broker.credentials.parse_gateway_env`). Like the checkpoint key
  (:mod:`farmtrace.store.keys`) the file is refused when group or others have any access to it;
* the environment variables ``GATEWAY_MQTT_USER`` and ``GATEWAY_MQTT_PASSWORD``, e.g. from a
  systemd ``EnvironmentFile=`` naming that same ``gateway.env``. Set but empty counts as unset;
  one without the other is an error.

No place silently wins over another. The login comes from the one place that gives it; the
file and the environment giving the same login agree, different ones are an error; a URL with
a password next to either is an error (the password belongs in one place, off the command
line); a URL with only a user name is accepted next to either when the names are equal.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from farmtrace.gateway.broker.credentials import (
    GATEWAY_PASSWORD_VARIABLE,
    GATEWAY_USER_VARIABLE,
    gateway_credential,
    parse_gateway_env,
)
from farmtrace.gateway.broker.errors import BrokerFilesError
from farmtrace.gateway.ingest.config import BrokerAddress
from farmtrace.gateway.ingest.errors import BrokerError
from farmtrace.redact import redact_url

__all__ = ["ENVIRONMENT", "MAX_CREDENTIALS_BYTES", "BrokerLogin", "resolve_broker_login"]

ENVIRONMENT = f"the environment ({GATEWAY_USER_VARIABLE}, {GATEWAY_PASSWORD_VARIABLE})"
MAX_CREDENTIALS_BYTES = 64 * 1024
"""A ``gateway.env`` is two short lines; anything this large is the wrong file."""
_URL = "the broker URL"


@dataclass(frozen=True)
class BrokerLogin:
    """A user name, its password (never in ``repr``), and where they came from, for messages."""

    user: str | None
    password: str | None = field(repr=False)
    source: str

    @property
    def on_command_line(self) -> bool:
        """Whether the password was given in the broker URL, where ``ps`` shows it."""
        return self.source == _URL and self.password is not None


def resolve_broker_login(
    broker: BrokerAddress,
    credentials_file: Path | None,
    environ: Mapping[str, str],
    shown_url: str | None = None,
) -> tuple[BrokerAddress, BrokerLogin | None]:
    """``broker`` with its login taken as the module docstring says, and that login (``None``:
    anonymous). ``shown_url`` is the URL as given, for messages (its password is masked).

    Raises :class:`BrokerError` naming the sources when they disagree, and the file and what is
    wrong with it when it cannot be used.
    """
    url = redact_url(shown_url) if shown_url is not None else broker.url
    given = None
    if broker.username is not None or broker.password is not None:
        given = BrokerLogin(broker.username, broker.password, _URL)
    if given is not None and given.user is None:
        raise BrokerError(f"broker URL {url!r} has a password but no user name")
    others = [
        login
        for login in (_file_login(credentials_file), _environment_login(environ))
        if login is not None
    ]
    if len(others) == 2 and (others[0].user, others[0].password) != (
        others[1].user,
        others[1].password,
    ):
        what = "users" if others[0].user != others[1].user else "passwords for the same user"
        raise BrokerError(
            f"{others[0].source} and {others[1].source} give different broker logins "
            f"(different {what}); give the login in one place"
        )
    if given is not None and others:
        other = others[0]
        if given.password is not None:
            raise BrokerError(
                f"the broker password is given twice: in the broker URL {url!r} and in "
                f"{other.source}; remove USER:PASSWORD@ from --broker (a command line is "
                "readable by every local user)"
            )
        if given.user != other.user:
            raise BrokerError(
                f"the broker URL {url!r} names user {given.user!r} but {other.source} "
                f"gives user {other.user!r}"
            )
    login = others[0] if others else given
    if login is None:
        return broker, None
    return replace(broker, username=login.user, password=login.password), login


def _environment_login(environ: Mapping[str, str]) -> BrokerLogin | None:
    names = (GATEWAY_USER_VARIABLE, GATEWAY_PASSWORD_VARIABLE)
    values = {name: environ[name] for name in names if environ.get(name)}
    if not values:
        return None
    try:
        user, password = gateway_credential(values, ENVIRONMENT)
    except BrokerFilesError as exc:
        raise BrokerError(str(exc)) from None
    return BrokerLogin(user, password, ENVIRONMENT)


def _file_login(path: Path | None) -> BrokerLogin | None:
    if path is None:
        return None
    source = f"--broker-credentials {path}"
    try:
        user, password = parse_gateway_env(_read_private(path, source), source)
    except BrokerFilesError as exc:
        raise BrokerError(str(exc)) from None
    return BrokerLogin(user, password, source)


def _read_private(path: Path, source: str) -> str:
    """The text of ``path``, refused unless only its owner has access (checked on the opened
    file, so a file swapped in between cannot slip past)."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if mode & 0o077:
                raise BrokerError(
                    f"{source}: the file is open to group or others (mode "
                    f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
                )
            data = file.read(MAX_CREDENTIALS_BYTES + 1)
    except FileNotFoundError:
        raise BrokerError(f"{source}: no such file") from None
    except OSError as exc:
        raise BrokerError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_CREDENTIALS_BYTES:
        raise BrokerError(f"{source}: larger than {MAX_CREDENTIALS_BYTES} bytes; not a gateway.env")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BrokerError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
