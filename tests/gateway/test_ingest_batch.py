"""Batches: signatures checked in chunks as a batch fills agree with checking each one alone."""

from __future__ import annotations

import random

import pytest
from support.ingest import FARM, make_device, signed

from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.mqtt_client import AVAILABLE
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.store.records import Device
from farmtrace.wire import topics
from farmtrace.wire.protocol import verify

DEVICES = [make_device(f"D{i}") for i in range(5)]


def deliveries(rng: random.Random, count: int) -> list[Delivery]:
    out = []
    for n in range(count):
        dev = rng.choice(DEVICES)
        signer = rng.choice(DEVICES) if rng.random() < 0.2 else dev  # some forged
        payload = signed(dev, n + 1, key=signer)
        if rng.random() < 0.1:
            payload = payload[:-1] + bytes([payload[-1] ^ 1])  # some corrupted signatures
        out.append(
            Delivery(
                1, n + 1, 1, topics.reading_topic(FARM, dev.device_id), payload, 0.0, 0.0, False
            )
        )
    return out


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunked_bulk_check_matches_one_by_one(chunk: int) -> None:
    registry = RegistryView(lambda: [Device(d.device_id, d.public_key, 0.0) for d in DEVICES], 3600)
    batch, cache = Batch(1), TopicCache()
    for delivery in deliveries(random.Random(chunk), 300):
        batch.admit(delivery, cache, registry)
        if batch.unverified >= chunk:
            batch.verify_pending(threads=None)
    batch.verify_pending(threads=1)
    assert batch.unverified == 0 and len(batch.to_verify) == 300
    expected = [
        verify(item.reading, item.device.public_key)  # type: ignore[arg-type,union-attr]
        for item in batch.to_verify
    ]
    assert [item.signature_ok for item in batch.to_verify] == expected
    assert 0 < expected.count(False) < 300


def test_the_buffered_paho_client_is_available_with_the_pinned_paho() -> None:
    assert AVAILABLE
