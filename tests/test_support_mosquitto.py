"""The Mosquitto fixture starts a real broker, restarts it on the same port, and stops it."""

from __future__ import annotations

import socket

import pytest
from support.mosquitto import Mosquitto

pytestmark = pytest.mark.integration


def _accepts(broker: Mosquitto) -> bool:
    try:
        with socket.create_connection((broker.host, broker.port), timeout=1):
            return True
    except OSError:
        return False


def test_start_stop_restart_same_port(mosquitto: Mosquitto) -> None:
    port = mosquitto.port
    assert _accepts(mosquitto)
    mosquitto.stop()
    assert not mosquitto.running
    assert not _accepts(mosquitto)
    mosquitto.start()
    assert mosquitto.port == port and _accepts(mosquitto)
    mosquitto.restart(crash=True)
    assert _accepts(mosquitto)
    assert "mosquitto version" in mosquitto.log()
