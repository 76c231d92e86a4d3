"""Drop floors checked in the batch's bulk signature check (``Batch.admit`` then
``verify_pending``) get exactly the verdict of the plain path (``admit_floor_reference``, one
``cryptography`` call each): same floor believed or same reason and detail, whatever readings
are packed around them and however the checks are chunked. Cases: the hostile corpus's floors,
valid, revoked, past 2^63-1, unknown, misdirected and forged floors, and random mutations."""

from __future__ import annotations

import random

import pytest
from support.readings import SimDevice

from farmtrace.bench.hostile import build_corpus
from farmtrace.gateway.ingest.batch import Batch, Item, TopicCache, admit_floor_reference
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.store.records import Device
from farmtrace.wire import dropfloor, topics
from farmtrace.wire.dropfloor import DropFloor

FARM = "greenacre"
ALICE = SimDevice.make("urn:epc:id:giai:4012345.FLOOR-A")
BOB = SimDevice.make("urn:epc:id:giai:4012345.FLOOR-B")
GONE = SimDevice.make("urn:epc:id:giai:4012345.FLOOR-REVOKED")
NOBODY = SimDevice.make("urn:epc:id:giai:4012345.FLOOR-NOBODY")


def _flip(payload: bytes, rng: random.Random) -> bytes:
    out = bytearray(payload)
    out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def _messages(rng: random.Random) -> tuple[list[tuple[str, bytes]], list[Device]]:
    corpus = build_corpus(FARM, 1_767_225_600_000, "floors")
    registered = [Device(d.device_id, d.public_key, 0.0) for d in (ALICE, BOB)] + [
        Device(GONE.device_id, GONE.public_key, 0.0, 5.0)
    ]
    registered += [Device(i, k, 0.0) for i, k in corpus.registered.items()]
    messages = [(c.topic, c.payload) for c in corpus.cases if c.topic.endswith("/dropped")]
    messages += [m for m in corpus.prelude if m[0].endswith("/dropped")]

    def on(device: SimDevice) -> str:
        return topics.dropped_topic(FARM, device.device_id)

    good = [ALICE.drop_floor(f) for f in (0, 1, 12, 2**63 - 1, 2**63, 2**64 - 1)]
    messages += [(on(ALICE), p) for p in good]
    messages += [(on(BOB), p) for p in good]  # misdirected
    messages += [(on(GONE), GONE.drop_floor(f)) for f in (3, 2**63)]
    messages += [(on(NOBODY), NOBODY.drop_floor(7))]
    forged = dropfloor.sign(DropFloor(ALICE.device_id, 44, 0), BOB.key)
    messages += [(on(ALICE), forged), (on(ALICE), b""), (on(ALICE), b"12")]
    messages += [(on(ALICE), _flip(rng.choice(good), rng)) for _ in range(150)]
    # Readings around them, some forged, so the floors' slots sit among the readings'.
    for seq in range(1, 120):
        payload = ALICE.reading(seq).payload
        if rng.random() < 0.2:
            payload = _flip(payload, rng)
        messages.append((topics.reading_topic(FARM, ALICE.device_id), payload))
    rng.shuffle(messages)
    return messages, registered


def _verdict(item: Item) -> tuple[object, ...]:
    return (item.reason, item.detail, item.floor, item.device, item.statement)


@pytest.mark.parametrize("chunk", [1, 5, 64, 10_000])
def test_bulk_floor_verdicts_match_the_reference(chunk: int) -> None:
    rng = random.Random(chunk)
    messages, registered = _messages(rng)
    registry = RegistryView(lambda: registered, 3600)
    batch, cache = Batch(1), TopicCache()
    for n, (topic, payload) in enumerate(messages):
        batch.admit(Delivery(1, n + 1, 1, topic, payload, 0.0, 0.0, False), cache, registry)
        if batch.unverified >= chunk:
            batch.verify_pending(threads=None)
    batch.verify_pending(threads=1)
    floors = [item for item in batch.items if item.delivery.topic.endswith("/dropped")]
    assert len(floors) > 170
    for item in floors:
        reference = Item(item.delivery)
        parsed = TopicCache().parse(item.delivery.topic)
        assert not isinstance(parsed, Exception)
        reference.farm, reference.device_id, _ = parsed
        admit_floor_reference(reference, registry)
        assert _verdict(item) == _verdict(reference), item.delivery.payload.hex()
    believed = {item.floor for item in floors if item.floor is not None}
    assert {0, 1, 12, 2**63 - 1} <= believed
    reasons_seen = {item.reason for item in floors}
    assert {"bad-signature", "revoked", "seq-out-of-range", "topic-mismatch"} <= reasons_seen
    assert "unknown-device" in reasons_seen
