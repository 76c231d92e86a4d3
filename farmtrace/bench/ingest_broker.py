"""The Mosquitto of ``farmtrace bench ingest``: started on a free port with the settings the
gateway needs, or the one ``--broker`` names."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["BROKER_SETTINGS", "free_port", "parse_broker", "start_broker"]

BROKER_SETTINGS = ("max_queued_messages 0", "set_tcp_nodelay true", "persistence false")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_broker(workdir: Path) -> tuple[str, int, subprocess.Popen[bytes]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(binary, os.X_OK):
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto) and no --broker")
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", *BROKER_SETTINGS]
    if os.geteuid() == 0:
        lines.append("user root")
    config = workdir / "mosquitto.conf"
    config.write_text("\n".join(lines) + "\n")
    with open(workdir / "mosquitto.log", "wb") as log:
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return "127.0.0.1", port, process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"mosquitto did not start: {(workdir / 'mosquitto.log').read_text()}")


def parse_broker(url: str) -> tuple[str, int]:
    from farmtrace.gateway.ingest.config import parse_broker_url

    address = parse_broker_url(url)
    if address.tls or address.username:
        raise ValueError(
            "the benchmark's publisher speaks plain, anonymous MQTT: give mqtt://HOST:PORT"
        )
    return address.host, address.port
