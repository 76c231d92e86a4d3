"""SIGTERM while the broker is still sending: the gateway stops, and loses nothing.

Under load paho's network thread blocks on the full inbox (the backpressure that keeps the
gateway's memory bounded). After SIGTERM the batcher takes one last batch and nobody takes from
the inbox again, while the broker keeps sending its receive window; closing the connection joins
the network thread, so before ``Inbox.close`` existed a graceful stop under load hung for ever.
Each stop here must end with exit 0, and what arrived after the last batch must come back in the
next session: the reconciliation at the end counts every published seq stored exactly once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from crash_support import audit_clean
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
    GatewayProcess,
    Publisher,
    StoredView,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES, READINGS, STOPS = 100, 400, 3


def test_sigterm_under_load_stops_cleanly_and_loses_nothing(
    mosquitto_factory: Any, tmp_path: Path
) -> None:
    # The queue settings docs/gateway.md asks for: Mosquitto's default keeps only 1,000
    # messages for the gateway's session while it is away between a stop and the next start.
    mosquitto: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    db_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    state = tmp_path / "state"
    devices = [make_device(f"STOP-{n:03d}") for n in range(DEVICES)]
    keys = write_keys(tmp_path / "keys.json", {d.device_id: d.public_key for d in devices})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    # Seq-major order: every device advances together, as a farm's sensors do.
    messages = [(reading_topic(d), signed(d, s)) for s in range(1, READINGS + 1) for d in devices]
    publisher = Publisher(mosquitto.host, mosquitto.port, client_id="stop-publisher")
    sending = threading.Thread(target=publisher.publish, args=(messages,), daemon=True)
    stored = StoredView(db_url)
    exits: list[int] = []
    backlog: list[int] = []  # readings not yet stored when each stop was over
    gateway = GatewayProcess(mosquitto.url, db_url, state)
    try:
        gateway.start().wait_connected()
        sending.start()
        for stop in range(1, STOPS + 1):
            # Stop while readings are still arriving (the publisher outruns the gateway).
            floor = stored.reading_count()

            def progressed(floor: int = floor) -> bool:
                return stored.reading_count() > floor

            wait_for(progressed, 60, f"progress before stop {stop}")
            exits.append(gateway.stop(timeout=60))  # raises if it does not stop
            backlog.append(len(messages) - stored.reading_count())
            gateway.start().wait_connected()
        sending.join(120)
        assert not sending.is_alive(), "the publisher did not finish"
        wait_for(lambda: stored.reading_count() == len(messages), 120, "every reading stored")
        exits.append(gateway.stop(timeout=60))
        seqs = stored.seqs()
        stops_logged = gateway.log().count("INFO stopped:")
    finally:
        gateway.kill()  # only if a failure left it running
        publisher.close()
        stored.close()
    print(f"graceful stops: exits {exits}, backlog after each {backlog}, stored {len(messages)}")
    # Each stop came while the broker still held readings for the gateway (the case that hung).
    assert min(backlog) > 1000, f"the stream ended before the stops; publish more: {backlog}"
    assert exits == [0] * (STOPS + 1) and stops_logged == STOPS + 1
    assert seqs == {d.device_id: list(range(1, READINGS + 1)) for d in devices}
    audit_clean(db_url, state)
