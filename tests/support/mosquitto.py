"""A real Mosquitto broker for tests, on a free 127.0.0.1 port, with its state in a temp dir.

``Mosquitto`` writes a config, starts ``mosquitto -c``, waits until the port accepts
connections, and can stop (gracefully, or with SIGKILL to imitate a crash), restart on the
same port with the same persistence file, and report its log. Use it through the ``mosquitto``
and ``mosquitto_factory`` fixtures in ``tests/conftest.py``; :func:`require_mosquitto` skips a
test when the binary is missing, except under ``CI=true`` where it fails.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_TIMEOUT = 15.0


def require_mosquitto() -> str:
    """The path of the ``mosquitto`` binary; skip (or fail when CI=true) if it is missing."""
    path = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if path is None:
        message = "mosquitto is not installed (apt-get install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mosquitto:
    """One broker: ``start()``, ``stop()``, ``kill()``, ``restart()``; ``url`` for clients.

    ``users`` maps user name to password (anonymous clients are then refused); ``acl`` is the
    text of an ACL file; ``extra`` lines are appended to the config. Persistence is on, in
    ``workdir``, so a stopped and restarted broker keeps retained messages and sessions (a
    SIGKILLed one keeps only what its last autosave wrote).
    """

    workdir: Path
    binary: str
    port: int = field(default_factory=free_port)
    users: dict[str, str] | None = None
    acl: str | None = None
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def _config(self) -> Path:
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'false' if self.users else 'true'}",
            "persistence true",
            f"persistence_location {self.workdir}/",
            "persistence_file mosquitto.db",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "set_tcp_nodelay true",
        ]
        if os.geteuid() == 0:
            # Started as root, Mosquitto would switch to the "mosquitto" user, which cannot
            # write the test's temp dir.
            lines.append(f"user {pwd.getpwuid(0).pw_name}")
        if self.users:
            password_file = self.workdir / "passwords"
            password_file.write_text("")
            password_file.chmod(0o600)
            for user, password in self.users.items():
                subprocess.run(
                    [_passwd_binary(), "-b", str(password_file), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.workdir / "acl"
            acl_file.write_text(self.acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        lines += self.extra
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        """Start the broker and return once its port accepts connections."""
        if self.running:
            raise RuntimeError("mosquitto is already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        with open(self.workdir / "mosquitto.stderr", "ab") as stderr:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited with {self.process.returncode}: {self._diagnostics()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept connections: {self._diagnostics()}")

    def _diagnostics(self) -> str:
        stderr = self.workdir / "mosquitto.stderr"
        text = stderr.read_text("utf-8", "replace") if stderr.exists() else ""
        return (text + self.log())[-2000:]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: persistence is written); SIGKILL if it hangs."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Stop abruptly, like a crash or power cut: no final persistence save."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, signum: int, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None

    def restart(self, *, crash: bool = False) -> None:
        """Stop (or kill, with ``crash``) and start again on the same port and state."""
        if crash:
            self.kill()
        else:
            self.stop()
        self.start()


def _passwd_binary() -> str:
    path = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not os.access(path, os.X_OK):
        raise RuntimeError("mosquitto_passwd not found (apt-get install mosquitto)")
    return path


MosquittoFactory = Callable[..., Mosquitto]
"""The ``mosquitto_factory`` fixture: ``factory(users=..., acl=..., extra=[...])``."""
