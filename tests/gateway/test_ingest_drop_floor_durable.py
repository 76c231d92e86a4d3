"""A believed drop floor is kept in the database (``drop_floors``) with the device's signed
statement, so a gateway restarted against a broker that lost its retained messages still has
it: the device's watermark stays past the seqs it gave up (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.ingest import (
    FARM,
    GATEWAY_BROKER_SETTINGS,
    GatewayProcess,
    Publisher,
    StoredView,
    WatermarkWatcher,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto

from farmtrace.store.dropfloors import stored_floors
from farmtrace.store.engine import create_db_engine
from farmtrace.wire import topics

pytestmark = [pytest.mark.integration, pytest.mark.slow]

A = make_device("A")


def floor_rows(db_url: str) -> list[tuple[str, int, bytes]]:
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            return [(r.device_id, r.floor, r.payload) for r in stored_floors(conn)]
    finally:
        engine.dispose()


def publish_and_watch(broker: Mosquitto, messages: list[tuple[str, bytes]], watermark: int) -> None:
    """Publish ``messages`` (retained, as devices publish floors) and wait for ``watermark``."""
    watcher = WatermarkWatcher(broker.host, broker.port)
    publisher = Publisher(broker.host, broker.port)
    try:
        for message in messages:
            publisher.publish([message], retain=message[0].endswith("/dropped"))
        wait_for(lambda: watcher.get(A.device_id) == watermark, 60, f"watermark {watermark}")
    finally:
        publisher.close()
        watcher.close()


def test_a_stored_floor_outlives_the_brokers_retained_copy(
    db_url: str, mosquitto_factory: object, stored: StoredView, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "keys.json", {A.device_id: A.public_key})
    farmtrace("devices", "import", str(keys), "--db", db_url)
    first: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)  # type: ignore[operator]
    gateway = GatewayProcess(first.url, db_url, tmp_path / "state", extra=["--batch-age", "0.1"])
    dropped = topics.dropped_topic(FARM, A.device_id)
    gateway.start().wait_connected()
    try:
        readings = [(reading_topic(A), signed(A, s)) for s in (1, 2, 5)]
        publish_and_watch(first, [*readings, (dropped, A.drop_floor(4))], 5)
    finally:
        assert gateway.stop() == 0, gateway.log()[-3000:]
    assert floor_rows(db_url) == [(A.device_id, 4, A.drop_floor(4))]
    first.kill()

    # A new broker knows nothing of the floor; the database does.
    second: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)  # type: ignore[operator]
    gateway.broker_url = second.url
    gateway.start().wait_connected()
    try:
        # Without the stored floor the watermark would stop at 2 (seqs 3 and 4 missing).
        publish_and_watch(second, [(reading_topic(A), signed(A, 6))], 6)
        # The same floor again, as the device republishes it: believed already, not stored twice.
        publish_and_watch(second, [(dropped, A.drop_floor(4)), (reading_topic(A), signed(A, 7))], 7)
    finally:
        assert gateway.stop() == 0, gateway.log()[-3000:]
    health = gateway.health()  # written again at the stop
    assert stored.seqs() == {A.device_id: [1, 2, 5, 6, 7]}
    assert stored.quarantine_count() == 0
    assert floor_rows(db_url) == [(A.device_id, 4, A.drop_floor(4))]
    [device] = health["devices"]
    # Seqs 3 and 4 stay lost after the restart (recounted from the stored floor), logged once.
    assert (device["drop_floor"], device["watermark"], device["lost"]) == (4, 7, 2)
    assert gateway.log().count("dropped readings through seq 4: 2 never reached the gateway") == 1
