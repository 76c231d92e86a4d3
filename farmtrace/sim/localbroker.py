"""A throwaway local Mosquitto for the benchmark: temp config, free 127.0.0.1 port, no auth."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from farmtrace.sim.errors import BrokerError


def find_mosquitto() -> str | None:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class LocalBroker:
    """``with LocalBroker() as broker: ... broker.url``; stopped and cleaned up on exit."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self._dir = tempfile.TemporaryDirectory(prefix="firmware-sim-broker-")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalBroker:
        workdir = Path(self._dir.name)
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_connections -1"]
        if os.geteuid() == 0:  # else Mosquitto switches to its own user
            lines.append(f"user {pwd.getpwuid(0).pw_name}")
        config = workdir / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        with open(workdir / "mosquitto.log", "wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (workdir / "mosquitto.log").read_text("utf-8", "replace")
                raise BrokerError(f"local mosquitto exited: {text[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise BrokerError("local mosquitto did not start listening")

    def cpu_seconds(self) -> float | None:
        """The broker's CPU time so far (Linux /proc), or None where unavailable."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self._dir.cleanup()
