"""Small parts of the ingest: configuration, identity, keys files, ranges, inbox, health, latency
quantiles. Offline and fast."""

from __future__ import annotations

import argparse
import base64
import json
import math
import random
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from farmtrace.gateway.ingest.command import parse_seconds
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig, parse_broker_url
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.devices_command import KeysFileError, load_keys
from farmtrace.gateway.ingest.errors import BrokerError, IngestError
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.identity import IDENTITY_FILE, resolve_identity
from farmtrace.gateway.ingest.inbox import Delivery, Inbox
from farmtrace.gateway.ingest.metrics import BatchHistogram, GatewayMetrics, LatencySample
from farmtrace.gateway.ingest.ranges import PHYSICAL_RANGES, RangeViolation, check_measurements
from farmtrace.wire.protocol import Measurement

BROKER = BrokerAddress("127.0.0.1", 1883)


def test_broker_urls() -> None:
    assert parse_broker_url("mqtt://h") == BrokerAddress("h", 1883)
    assert parse_broker_url("mqtts://u%40x:p%3Aw@h:9") == BrokerAddress("h", 9, True, "u@x", "p:w")
    assert parse_broker_url("mqtt://h:1").url == "mqtt://h:1"
    for bad in ("http://h", "mqtt://", "mqtt://h/x", "mqtt://h:99999", "mqtt://h?q=1"):
        with pytest.raises(BrokerError, match="broker URL"):
            parse_broker_url(bad)


def test_config_window_filter_and_validation() -> None:
    config = IngestConfig(BROKER, "c")
    assert config.window == 10_000 and config.reading_filter == "farm/+/+/reading"
    assert IngestConfig(BROKER, "c", batch_size=100).window == 1100
    assert IngestConfig(BROKER, "c", batch_size=40_000).window == 65_535
    shared = IngestConfig(BROKER, "c", share_group="g1", receive_maximum=6000)
    assert shared.reading_filter == "$share/g1/farm/+/+/reading" and shared.window == 6000
    for bad in (
        {"batch_size": 0},
        {"batch_size": 100, "receive_maximum": 100},
        {"receive_maximum": 70_000},
        {"batch_age": 0.0},
        {"max_future": float("nan")},
        {"replay_grace": -1.0},
        {"share_group": "a/b"},
        {"verify_threads": 0},
    ):
        with pytest.raises(IngestError):
            IngestConfig(BROKER, "c", **bad)  # type: ignore[arg-type]


def test_durations() -> None:
    assert [parse_seconds(t) for t in ("1.5", "500ms", "30s", "10m", "2h", "7d")] == [
        1.5,
        0.5,
        30.0,
        600.0,
        7200.0,
        604800.0,
    ]
    for bad in ("x", "-1", "inf", "1w"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_seconds(bad)


def test_identity_is_chosen_once_and_kept(tmp_path: Path) -> None:
    first = resolve_identity(tmp_path, None, None)
    assert (
        first.gateway_id.startswith("gw-")
        and first.origin == f"farmtrace.example/{first.gateway_id}"
    )
    assert first.client_id == f"farmtrace-{first.gateway_id}"
    first.save(tmp_path)
    assert resolve_identity(tmp_path, None, None) == first
    assert resolve_identity(tmp_path, first.gateway_id, first.origin) == first
    with pytest.raises(IngestError, match="contradicts"):
        resolve_identity(tmp_path, "other", None)
    with pytest.raises(IngestError, match="contradicts"):
        resolve_identity(tmp_path, None, "farmtrace.example/other")
    (tmp_path / IDENTITY_FILE).write_text("[]")
    with pytest.raises(IngestError, match="not a gateway identity"):
        resolve_identity(tmp_path, None, None)
    with pytest.raises(IngestError, match="--gateway-id"):
        resolve_identity(tmp_path / "new", "bad id", None)


def test_keys_file(tmp_path: Path) -> None:
    key = bytes(range(32))
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"dev-1": base64.b64encode(key).decode()}))
    assert load_keys(path) == {"dev-1": key}
    for content, message in (
        ("{", "not JSON"),
        ("[]", "expected an object"),
        ('{"d": 1}', "not a base64 string"),
        ('{"d": "!!"}', "not valid base64"),
        ('{"d": "AAAA"}', "3 bytes"),
    ):
        path.write_text(content)
        with pytest.raises(KeysFileError, match=message):
            load_keys(path)
    with pytest.raises(KeysFileError, match="cannot read"):
        load_keys(tmp_path / "missing.json")


@pytest.mark.parametrize("uom", sorted(PHYSICAL_RANGES))
def test_range_bounds_are_inclusive(uom: str) -> None:
    low, high, _ = PHYSICAL_RANGES[uom]
    check_measurements([Measurement("T", low, uom), Measurement("U", high, uom)])
    for value in (low - 0.001, high + 0.001):
        with pytest.raises(RangeViolation) as caught:
            check_measurements([Measurement("T", low, uom), Measurement("U", value, uom)])
        assert caught.value.reason == "out-of-range" and "measurements[1]" in caught.value.detail


def test_unknown_unit() -> None:
    with pytest.raises(RangeViolation) as caught:
        check_measurements([Measurement("Speed", 3.0, "KMH")])
    assert caught.value.reason == "unknown-unit"


def delivery(n: int) -> Delivery:
    return Delivery(1, n, 1, "t", b"p", time.time(), time.monotonic(), False)


def test_inbox_is_fifo_and_bounded() -> None:
    inbox = Inbox(3)
    for n in range(3):
        inbox.put(delivery(n))
    blocked = threading.Thread(target=inbox.put, args=(delivery(3),))
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive() and len(inbox) == 3  # full: the producer waits
    assert [d.mid for d in inbox.take(2, 0)] == [0, 1]
    blocked.join(5)
    assert [d.mid for d in inbox.take(10, 0)] == [2, 3]
    assert inbox.high_water == 3 and inbox.full_waits >= 1
    started = time.monotonic()
    assert inbox.take(10, 0.2) == [] and time.monotonic() - started >= 0.15


def test_closed_inbox_releases_a_blocked_producer_and_keeps_nothing() -> None:
    inbox = Inbox(2)
    inbox.put(delivery(0))
    inbox.put(delivery(1))
    blocked = threading.Thread(target=inbox.put, args=(delivery(2),))
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive()  # full, and nobody will take again: the stop case
    inbox.close()
    blocked.join(5)
    assert not blocked.is_alive()
    inbox.put(delivery(3))  # returns at once
    assert [d.mid for d in inbox.take(10, 0)] == [0, 1]  # what was in stays in
    assert inbox.turned_away == 2


def test_put_many_blocks_like_put_and_keeps_order() -> None:
    inbox = Inbox(3)
    inbox.put(delivery(0))
    blocked = threading.Thread(target=inbox.put_many, args=([delivery(n) for n in range(1, 6)],))
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive() and len(inbox) == 3  # 1 and 2 went in; 3 waits for room
    assert [d.mid for d in inbox.take(2, 0)] == [0, 1]
    time.sleep(0.1)
    assert [d.mid for d in inbox.take(10, 0)] == [2, 3, 4]
    blocked.join(5)
    assert not blocked.is_alive()
    assert [d.mid for d in inbox.take(10, 0)] == [5]
    assert inbox.high_water == 3 and inbox.full_waits >= 1


def test_put_many_wakes_a_waiting_taker_before_blocking() -> None:
    # A taker waiting on the empty inbox must get the first delivery even when the producer
    # then blocks on a full inbox of one.
    inbox = Inbox(1)
    taken: list[list[Delivery]] = []
    taker = threading.Thread(target=lambda: taken.append(inbox.take(5, 10)))
    taker.start()
    time.sleep(0.1)
    started = time.monotonic()
    producer = threading.Thread(target=inbox.put_many, args=([delivery(0), delivery(1)],))
    producer.start()
    taker.join(5)
    assert [d.mid for d in taken[0]] == [0] and time.monotonic() - started < 5
    producer.join(5)
    assert not producer.is_alive() and [d.mid for d in inbox.take(5, 0)] == [1]


def test_put_many_on_a_closed_inbox_turns_the_rest_away() -> None:
    inbox = Inbox(2)
    blocked = threading.Thread(target=inbox.put_many, args=([delivery(n) for n in range(5)],))
    blocked.start()
    time.sleep(0.1)
    assert blocked.is_alive()
    inbox.close()
    blocked.join(5)
    assert not blocked.is_alive()
    inbox.put_many([delivery(9)])  # returns at once
    assert [d.mid for d in inbox.take(10, 0)] == [0, 1]
    assert inbox.turned_away == 4


def test_silence_is_learnt_from_arrivals() -> None:
    health = HealthMonitor(GatewayMetrics(), silence_factor=3.0, silence_min=1.0)
    state = DeviceState("d")
    t = 1000.0
    for seq in range(1, 11):
        health.accepted(state, seq, seq - 1, seq * 1000, t, t)
        t += 2.0
    last = t - 2.0
    assert health.expected_interval(state) == 2.0
    assert health.check_silence([state], last + 5.9) == 0
    assert health.check_silence([state], last + 6.1) == 1
    assert health.silent == {"d"}
    assert health.check_silence([state], last + 30) == 0  # reported once
    health.accepted(state, 11, 10, 11_000, last + 40, last + 40)
    assert health.silent == set()
    # A backlog arriving all at once does not teach a tiny interval.
    for seq in range(12, 40):
        health.accepted(state, seq, seq - 1, seq * 1000, last + 40.0001, last + 40)
    assert health.expected_interval(state) == 2.0


def test_time_the_gateway_could_not_hear_is_not_silence() -> None:
    """A database stall or a lost broker connection takes nothing from the broker: devices
    are not silent for it, only for what follows."""
    health = HealthMonitor(GatewayMetrics(), silence_factor=3.0, silence_min=1.0)
    state = DeviceState("d")
    for seq in range(1, 11):
        health.accepted(state, seq, seq - 1, seq * 1000, 1000.0 + 2 * seq, 0.0)
    last = 1020.0
    health.deaf_until(last + 60)  # the gateway heard nothing for a minute
    assert health.check_silence([state], last + 61) == 0
    assert health.check_silence([state], last + 65.9) == 0
    assert health.check_silence([state], last + 66.1) == 1  # 6 s after it could hear again
    assert health.report([state], last + 70)[0]["silent_for_s"] == 70.0  # since last heard
    health.deaf_until(last - 100)  # never moves back
    assert health.check_silence([state], last + 66.1) == 0


def test_skips_and_clock_backwards_are_counted() -> None:
    health = HealthMonitor(GatewayMetrics(), 3.0, 1.0)
    state = DeviceState("d")
    health.accepted(state, 1, 0, 10_000, 1.0, 1.0)
    health.accepted(state, 5, 1, 5_000, 2.0, 2.0)  # skipped 2-4; clock 5 s back
    health.accepted(state, 3, 5, 20_000, 3.0, 3.0)  # a gap filled: neither
    assert (state.gaps, state.clock_backwards) == (1, 1)


def test_latency_quantiles_and_reservoir() -> None:
    sample = LatencySample(limit=1000)
    assert sample.quantiles(0.5) == [None]
    sample.extend([float(n) for n in range(1, 101)])
    assert sample.quantiles(0.5, 0.99, 1.0) == [50.0, 99.0, 100.0]
    sample.extend([1.0] * 5000)
    assert len(sample) == 5100
    assert sample.quantiles(0.5) == [1.0]


@given(st.integers(1, 20), st.lists(st.lists(st.floats(0, 10), max_size=15), max_size=8))
def test_the_reservoir_keeps_what_adding_one_at_a_time_keeps(
    limit: int, batches: list[list[float]]
) -> None:
    # The plain reservoir (algorithm R), one value at a time, with the same random source.
    kept: list[float] = []
    seen = 0
    rng = random.Random(0)
    for value in (v for batch in batches for v in batch):
        seen += 1
        if len(kept) < limit:
            kept.append(value)
        elif (slot := rng.randrange(seen)) < limit:
            kept[slot] = value
    sample = LatencySample(limit=limit, seed=0)
    for batch in batches:
        sample.extend(batch)
    assert list(sample._values) == kept and sample._seen == seen


def _exposition(registry: CollectorRegistry) -> tuple[list[str], float]:
    """The registry's text exposition without ``_created`` (a plain Histogram's start time)
    and ``_sum`` lines, and the sum apart (added in another order, so equal up to rounding)."""
    lines, total = [], math.nan
    for line in generate_latest(registry).decode().splitlines():
        if "_created" in line:
            continue
        if line.startswith("lat_sum "):
            total = float(line.split()[1])
            continue
        lines.append(line)
    return lines, total


@given(
    st.lists(
        st.lists(st.floats(-1.0, 20.0, allow_nan=False) | st.sampled_from([0.05, 1.0, 10.0])),
        max_size=6,
    )
)
def test_batch_histogram_exposes_what_observing_one_by_one_exposes(
    batches: list[list[float]],
) -> None:
    buckets = (0.01, 0.05, 0.5, 1.0, 10.0)
    plain, batched = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lat", "latency", buckets=buckets, registry=plain)
    histogram = BatchHistogram("lat", "latency", buckets, batched)
    for batch in batches:
        for value in batch:
            reference.observe(value)
        histogram.observe_many(batch)
    (want, want_sum), (got, got_sum) = _exposition(plain), _exposition(batched)
    assert got == want
    assert math.isclose(got_sum, want_sum, rel_tol=1e-9, abs_tol=1e-9)
