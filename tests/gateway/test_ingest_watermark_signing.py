"""Commit watermarks signed many at a time give the same payloads as the plain reference.

``watermark.sign_many`` with the gateway's signer (one ``rust_core.sign_ed25519`` call for all
statements) against ``watermark.sign``
(``cryptography``, one at a time), on the published vectors and random statements; the link
signs a committer pass's watermarks together and publishes each as before; the committer
hands over every watermark due in one call and keeps its bookkeeping (deferred devices,
publications, republishing after a reconnect) per device.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import MQTTErrorCode

from farmtrace import rust_core
from farmtrace.gateway.ingest import committer as committer_module
from farmtrace.gateway.ingest.batch import Batch
from farmtrace.gateway.ingest.committer import Committer
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.inbox import Inbox
from farmtrace.gateway.ingest.judge import Judge
from farmtrace.gateway.ingest.link import BrokerLink
from farmtrace.gateway.ingest.metrics import GatewayMetrics, RunTotals
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.wire import topics, watermark
from farmtrace.wire.protocol import ProtocolError

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "vectors" / "watermark.json"
CONFIG = IngestConfig(BrokerAddress("127.0.0.1", 1883), "test")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))

device_ids = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", min_size=1, max_size=128
)
origins = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255)
statements = st.builds(
    watermark.Watermark,
    device_id=device_ids,
    seq=st.integers(0, 2**64 - 1),
    timestamp_ms=st.integers(-(2**63), 2**63 - 1),
    origin=origins,
)


def rust_signer(seed: bytes) -> Callable[[list[bytes]], list[bytes]]:
    """The signer the gateway passes (farmtrace.gateway.ingest.link)."""
    return partial(rust_core.sign_ed25519, seed, threads=1)


def test_sign_many_makes_the_published_vectors() -> None:
    vectors = json.loads(VECTORS.read_text())
    seed = bytes.fromhex(vectors["key"]["seed_hex"])
    cases = vectors["valid"]
    assert cases
    wanted = [watermark.Watermark(**case["watermark"]) for case in cases]
    expected = [bytes.fromhex(c["payload_hex"]) for c in cases]
    assert watermark.sign_many(wanted, rust_signer(seed)) == expected


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), wanted=st.lists(statements, max_size=20))
def test_sign_many_equals_sign_one_by_one(seed: bytes, wanted: list[watermark.Watermark]) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    payloads = watermark.sign_many(wanted, rust_signer(seed))
    assert payloads == [watermark.sign(statement, key) for statement in wanted]
    pins = [key.public_key()]
    for statement, payload in zip(wanted, payloads, strict=True):
        signed = watermark.decode(payload)
        assert signed.statement == statement
        assert watermark.verify_any(signed, pins)


def test_sign_many_signs_nothing_when_a_statement_is_bad() -> None:
    calls: list[list[bytes]] = []

    def signer(messages: list[bytes]) -> list[bytes]:
        calls.append(messages)
        return [KEY.sign(m) for m in messages]

    good = watermark.Watermark("d", 1, 0, "o")
    with pytest.raises(ProtocolError) as err:
        watermark.sign_many([good, watermark.Watermark("d", -1, 0, "o")], signer)
    assert err.value.reason == "out-of-range"
    assert watermark.sign_many([], signer) == []
    assert calls == []
    assert watermark.sign_many([good], signer) == [watermark.sign(good, KEY)]


@pytest.mark.parametrize(
    "signer",
    [lambda ms: [], lambda ms: [bytes(63) for _ in ms], lambda ms: [bytes(64)] * (len(ms) + 1)],
)
def test_sign_many_refuses_a_signer_that_breaks_its_contract(
    signer: Callable[[list[bytes]], list[bytes]],
) -> None:
    with pytest.raises(ValueError, match="the signer returned"):
        watermark.sign_many([watermark.Watermark("d", 1, 0, "o")], signer)


class RecordingClient:
    """paho's ``publish`` as the link calls it; ``refuse`` lists topics it does not take."""

    def __init__(self, refuse: Sequence[str] = ()) -> None:
        self.refuse = set(refuse)
        self.published: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Any:
        self.published.append((topic, payload, qos, retain))
        if topic in self.refuse:
            return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_QUEUE_SIZE, mid=0)
        return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_SUCCESS, mid=len(self.published))


def test_the_link_signs_a_pass_together_and_publishes_each_retained() -> None:
    link = BrokerLink(CONFIG, Inbox(10), KEY, "gw.example/1")
    refused = topics.committed_topic("f2", "dev-b")
    client = RecordingClient(refuse=[refused])
    link._client = client  # type: ignore[assignment]
    due = [("f1", "dev-a", 7), ("f2", "dev-b", 3), ("f1", "dev-c", 2**64 - 1)]
    assert link.publish_watermarks(due) == [1, None, 3]
    assert link.publish_watermarks([]) == []
    assert [(t, q, r) for t, _, q, r in client.published] == [
        (topics.committed_topic(farm, device), 1, True) for farm, device, _ in due
    ]
    decoded = [watermark.decode(payload) for _, payload, _, _ in client.published]
    assert [(s.device_id, s.seq, s.origin) for s in decoded] == [
        (device, seq, "gw.example/1") for _, device, seq in due
    ]
    assert len({s.timestamp_ms for s in decoded}) == 1  # one clock reading for the pass
    for signed, (_, payload, _, _) in zip(decoded, client.published, strict=True):
        assert payload == watermark.sign(signed.statement, KEY)  # byte for byte the reference
        assert watermark.verify_any(signed, [KEY.public_key()])


class PassLink:
    """The committer's link: records each call's watermarks, refuses the devices in ``refuse``."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str, int]]] = []
        self.refuse: set[str] = set()
        self.connects = 0
        self._mid = 0

    def ack_all(self, deliveries: Sequence[object]) -> int:
        return len(deliveries)

    def publish_watermarks(self, due: Sequence[tuple[str, str, int]]) -> list[int | None]:
        self.calls.append(list(due))
        mids: list[int | None] = []
        for _, device_id, _ in due:
            if device_id in self.refuse:
                mids.append(None)
            else:
                self._mid += 1
                mids.append(self._mid)
        return mids

    def confirmed(self) -> list[tuple[int, float]]:
        return []

    def flush(self) -> bool:
        return True


def committer_with(link: PassLink, states: dict[str, DeviceState]) -> Committer:
    registry = RegistryView(list, 3600)
    metrics = GatewayMetrics()
    batches: queue.Queue[Batch | None] = queue.Queue()
    return Committer(
        None,  # type: ignore[arg-type]  # publishing watermarks never touches the ledger
        CONFIG,
        link,
        Judge(CONFIG, registry, states),
        states,
        HealthMonitor(metrics, 3.0, 1.0),
        metrics,
        RunTotals(),
        batches,
        threading.Event(),
    )


def device(device_id: str, high: int, farm: str | None = "farm") -> DeviceState:
    state = DeviceState(device_id, farm=farm)
    for seq in range(1, high + 1):
        state.committed.add(seq)
    return state


def test_the_committer_hands_a_pass_over_in_one_call_and_keeps_per_device_bookkeeping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(committer_module, "WATERMARK_INTERVAL_S", 3600.0)
    states = {
        s.device_id: s
        for s in (device("a", 3), device("b", 5), device("no-farm", 2, None), device("later", 4))
    }
    states["later"].next_publish_mono = float("inf")  # published moments ago
    link = PassLink()
    link.refuse = {"b"}
    committer = committer_with(link, states)
    committer._publish(dict(states))
    assert link.calls == [[("farm", "a", 3), ("farm", "b", 5)]]
    assert set(committer._deferred) == {"b", "later"}
    assert committer._publications == {1: ("a", 3)}
    assert (states["a"].announced, states["b"].announced) == (3, -1)

    # Nothing changed for "a": only the deferred devices are tried again, together.
    link.refuse = set()
    committer._tick()
    assert link.calls[1:] == [[("farm", "b", 5)]]
    assert set(committer._deferred) == {"later"}
    assert committer._publications == {1: ("a", 3), 2: ("b", 5)}

    # A reconnect: every device with a farm is published again, in one call.
    link.connects = 1
    committer._tick()
    assert link.calls[2:] == [[("farm", "a", 3), ("farm", "b", 5), ("farm", "later", 4)]]
    assert committer._deferred == {}
    assert len(link.calls) == 3
