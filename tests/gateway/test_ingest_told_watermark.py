"""What a device was told, when a copy of its reading is judged: a replay stays a replay.

A byte-identical copy of a stored reading is a ``replay`` when this gateway published a
watermark covering it at least ``replay_grace`` before the copy *arrived*
(:mod:`farmtrace.gateway.ingest.sequencing`). The copy is judged a little later, with its batch;
meanwhile the PUBACKs of newer watermarks keep coming and are recorded
(``DeviceState.record_published``). Those must not drop the publication the copy needs: that
used to happen (the history was pruned against the newest PUBACK's time, not against the
arrivals still to be judged), the copy then counted as a duplicate, was dropped unrecorded,
and the simulator test with every attack mode waited in vain for its quarantine row.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples
from support.readings import BASE_TIME_MS, SimDevice

from farmtrace.gateway.ingest import committer as committer_module
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.committer import Committer
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig
from farmtrace.gateway.ingest.device_state import PUBLISHED_LIMIT, DeviceState
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.judge import Judge
from farmtrace.gateway.ingest.metrics import GatewayMetrics, RunTotals
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.gateway.ingest.sequencing import DUPLICATE, judge_sequence
from farmtrace.store.records import (
    BatchResult,
    Device,
    PendingReading,
    QuarantineItem,
    StoredFloor,
)
from farmtrace.wire import topics
from farmtrace.wire.protocol import Measurement, Reading, sign

GRACE = 0.5
FARM = "greenacre"
ALICE = SimDevice.make("urn:epc:id:giai:4012345.ALICE")


def told_reference(confirmed: Sequence[tuple[float, int]], arrived: float, grace: float) -> int:
    """The plain rule: the newest watermark whose PUBACK came ``grace`` before the arrival."""
    told = 0
    for at, watermark in confirmed:
        if at <= arrived - grace:
            told = max(told, watermark)
    return told


def test_a_puback_recorded_after_the_copy_arrived_keeps_what_it_was_told() -> None:
    state = DeviceState(ALICE.device_id)
    copy_arrived = 11.0
    for watermark, at in ((18, 9.4), (20, 10.0), (22, 10.55)):
        state.record_published(watermark, at, GRACE, judged_mono=at)
    assert state.told_watermark(copy_arrived, GRACE) == 20
    # Watermark 24's PUBACK comes at 11.1, after the copy arrived and before its batch is
    # judged; the newest message judged by then arrived at 10.9.
    state.record_published(24, 11.1, GRACE, judged_mono=10.9)
    assert state.told_watermark(copy_arrived, GRACE) == 20
    # So a copy of seq 16 is still a replay, not a duplicate.
    outcome, _ = judge_sequence(state, 16, b"copy", None, b"copy", False, copy_arrived, GRACE)
    assert outcome == reasons.REPLAY
    # A copy of seq 22 is not: its watermark came less than the grace before the copy.
    assert judge_sequence(state, 22, b"c", None, b"c", False, copy_arrived, GRACE)[0] == DUPLICATE


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(GRACE / 8 * 1.01, 2.0), st.floats(0.0, 3.0), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_told_watermark_is_the_plain_rule_for_every_copy_still_to_be_judged(
    steps: list[tuple[float, float, bool]],
) -> None:
    """PUBACKs at least grace/8 apart (none merged), copies judged in arrival order, each up to
    3 s after it arrived while newer PUBACKs are recorded: told is exactly the plain rule."""
    state = DeviceState(ALICE.device_id)
    confirmed: list[tuple[float, int]] = []
    at, judged = 100.0, float("-inf")
    waiting: list[float] = []  # arrivals of copies not judged yet, oldest first
    for watermark, (gap, lag, copy_arrives) in enumerate(steps, start=1):
        at += gap
        if copy_arrives:
            waiting.append(max(at - lag, waiting[-1] if waiting else judged, judged))
        # Copies whose batch is judged now: those that arrived more than 1 s ago.
        while waiting and waiting[0] < at - 1.0:
            arrived = waiting.pop(0)
            assert state.told_watermark(arrived, GRACE) == told_reference(confirmed, arrived, GRACE)
            judged = arrived
        state.record_published(watermark, at, GRACE, judged)
        confirmed.append((at, watermark))
        assert len(state.published) <= PUBLISHED_LIMIT
    for arrived in waiting:
        assert state.told_watermark(arrived, GRACE) == told_reference(confirmed, arrived, GRACE)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 5.0)), min_size=1, max_size=200))
def test_told_watermark_is_never_newer_than_the_plain_rule(
    steps: list[tuple[float, float]],
) -> None:
    """Whatever the spacing (merged PUBACKs, the entry limit), told only ever errs towards
    an older watermark: a copy may count as a duplicate, never a resend as a replay."""
    state = DeviceState(ALICE.device_id)
    confirmed: list[tuple[float, int]] = []
    at = 100.0
    for watermark, (gap, lag) in enumerate(steps, start=1):
        at += gap
        state.record_published(watermark, at, GRACE, judged_mono=at - lag)
        confirmed.append((at, watermark))
        assert len(state.published) <= PUBLISHED_LIMIT
        arrived = at - lag
        assert state.told_watermark(arrived, GRACE) <= told_reference(confirmed, arrived, GRACE)


# -- the committer records PUBACKs against the arrivals it judged -------------------------------


def payload(seq: int) -> bytes:
    reading = Reading(
        ALICE.device_id,
        seq,
        BASE_TIME_MS + seq * 1000,
        "farm-1/cold-room",
        "LOT-1",
        (Measurement("Temperature", 4.0, "CEL"),),
    )
    return sign(reading, ALICE.key)


class ScriptedLink:
    """The broker side: each watermark's PUBACK comes at the time ``puback_at`` gives."""

    def __init__(self, puback_at: Mapping[int, float]) -> None:
        self.puback_at = puback_at
        self.published: list[int] = []
        self._pending: list[tuple[int, float]] = []

    def ack_all(self, deliveries: Sequence[Delivery]) -> int:
        return len(deliveries)

    def publish_watermarks(self, due: Sequence[tuple[str, str, int]]) -> list[int | None]:
        mids: list[int | None] = []
        for _, _, watermark in due:
            self.published.append(watermark)
            mids.append(len(self.published))
            self._pending.append((len(self.published), self.puback_at[watermark]))
        return mids

    def confirmed(self) -> list[tuple[int, float]]:
        out, self._pending = self._pending, []
        return out

    def flush(self) -> bool:
        return True

    @property
    def connects(self) -> int:
        return 0


class MemoryLedger:
    """Just what the committer asks of the ledger for readings, in memory."""

    def __init__(self) -> None:
        self.stored: dict[tuple[str, int], bytes] = {}
        self.quarantined: list[QuarantineItem] = []

    def stored_payloads(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
        return {key: self.stored[key] for key in keys if key in self.stored}

    def rejected_readings(
        self, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], tuple[bytes, str]]:
        return {}

    def record_floors(self, floors: Sequence[StoredFloor]) -> None:
        assert not floors

    def quarantine(self, rows: Sequence[QuarantineItem], refused: Iterable[object]) -> None:
        self.quarantined += rows

    def append_batch(
        self,
        readings: Sequence[PendingReading],
        *,
        floors: Iterable[StoredFloor] = (),
        quarantine: Iterable[QuarantineItem] = (),
        refused: Iterable[object] = (),
    ) -> BatchResult:
        self.record_floors(list(floors))
        self.quarantined += quarantine
        for reading in readings:
            self.stored[(reading.device_id, reading.seq)] = reading.payload
        return BatchResult(None, None, len(readings))


def test_the_committer_judges_a_replay_whose_batch_waited_for_newer_pubacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of seqs 1-3, 4-5 and 6-7, then a copy of seq 2 that arrived (100.9) before the
    PUBACK of watermark 7 (101.35) that the committer records ahead of judging it. Watermark 3
    was confirmed at 100.1, more than the grace before the copy: a replay, quarantined."""
    monkeypatch.setattr(committer_module, "WATERMARK_INTERVAL_S", 0.0)  # publish every batch
    link = ScriptedLink({3: 100.1, 5: 100.8, 7: 101.35})
    ledger = MemoryLedger()
    clock = BASE_TIME_MS / 1000 + 100.0
    registry = RegistryView(lambda: [Device(ALICE.device_id, ALICE.public_key, 0.0, None)], 3600)
    config = IngestConfig(
        broker=BrokerAddress("127.0.0.1", 1883), client_id="test", replay_grace=GRACE
    )
    states: dict[str, DeviceState] = {}
    metrics = GatewayMetrics()
    batches: queue.Queue[Batch | None] = queue.Queue()
    cache = TopicCache()
    topic = topics.reading_topic(FARM, ALICE.device_id)
    for number, (arrived, seqs) in enumerate(
        ((100.0, (1, 2, 3)), (100.6, (4, 5)), (100.85, (6, 7)), (100.9, (2,))), start=1
    ):
        batch = Batch(number)
        for i, seq in enumerate(seqs):
            delivery = Delivery(1, 1, 1, topic, payload(seq), clock, arrived + i * 0.001, False)
            batch.admit(delivery, cache, registry)
        batches.put(batch)
    batches.put(None)
    committer = Committer(
        ledger,  # type: ignore[arg-type]  # only the calls a reading batch makes
        config,
        link,
        Judge(config, registry, states),
        states,
        HealthMonitor(metrics, 3.0, 1.0),
        metrics,
        RunTotals(),
        batches,
        threading.Event(),
    )
    committer.run()
    assert committer.failure is None
    assert link.published == [3, 5, 7]
    assert [(row.reason, row.seq, row.payload) for row in ledger.quarantined] == [
        (reasons.REPLAY, 2, payload(2))
    ]
