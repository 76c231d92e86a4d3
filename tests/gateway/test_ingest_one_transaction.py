"""A batch with accepted readings stores its drop floors, quarantined messages and refused
counts in its block's transaction (``Ledger.append_batch(..., floors=, quarantine=,
refused=)``): the real committer and ledger store exactly the rows the separate transactions
stored (record_floors, then quarantine, then the block) on the hostile corpus mixed with honest
readings and drop floors, on SQLite and PostgreSQL; the combined transaction is all or nothing,
and a retry after racing another writer redoes the extra rows once."""

from __future__ import annotations

import queue
import random
import threading
import time
import types
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Connection, Table, create_engine, select
from support.readings import BASE_TIME_MS, SimDevice

from farmtrace import failpoints
from farmtrace.bench.hostile import Corpus, build_corpus
from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.committer import Committer
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.judge import Judge, Plan
from farmtrace.gateway.ingest.metrics import GatewayMetrics, RunTotals
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.store import ledger as ledger_module
from farmtrace.store.bulk import stored_keys
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.records import BatchResult, PendingReading, QuarantineItem, StoredFloor
from farmtrace.store.refused import RefusedCount
from farmtrace.wire import topics

ORIGIN = "farmtrace.example/gw-1"
NOW = BASE_TIME_MS / 1000 + 600.0
TABLES = ("quarantine", "quarantine_refused", "drop_floors", "entries", "blocks", "checkpoints")


class QuietLink:
    """A broker link that acknowledges and publishes everything at once."""

    def __init__(self) -> None:
        self.mid = 0

    def ack_all(self, deliveries: Sequence[Delivery]) -> int:
        return len(deliveries)

    def publish_watermarks(self, due: Sequence[tuple[str, str, int]]) -> list[int | None]:
        self.mid += len(due)
        return list(range(self.mid - len(due), self.mid))

    def confirmed(self) -> list[tuple[int, float]]:
        return []

    def flush(self) -> bool:
        return True

    @property
    def connects(self) -> int:
        return 0


def write_separately(self: Committer, batch: Batch, plan: Plan) -> BatchResult | None:
    """The committer's write before the combined transaction: up to three transactions."""
    ledger = self._ledger
    if not batch.floors_stored:
        ledger.record_floors(self._new_floors(batch))
        batch.floors_stored = True
    if (plan.quarantine or plan.refused) and not batch.quarantine_stored:
        ledger.quarantine(plan.quarantine, plan.refused.values())
        batch.quarantine_stored = True
    if not plan.accepted:
        return None
    result = ledger.append_batch([pending for _, pending in plan.accepted])
    self.sweep.appended()
    return result


def traffic(corpus: Corpus, honest: SimDevice) -> list[list[tuple[str, bytes]]]:
    """The prelude, then batches of corpus cases among honest readings, with honest drop floors
    in some; two batches of hostile messages alone (their quarantine is stored alone)."""
    rng = random.Random(18)
    reading_topic = topics.reading_topic(corpus.farm, honest.device_id)
    floor_topic = topics.dropped_topic(corpus.farm, honest.device_id)
    cases = [(c.topic, c.payload) for c in corpus.cases]
    batches = [list(corpus.prelude)]
    seq = 0
    for number in range(10):
        batch = [rng.choice(cases) for _ in range(40)]
        if number in (3, 7):
            batches.append(batch)
            continue
        if number % 3 == 1:
            seq += 5  # readings the device dropped, as its floor says
            batch.append((floor_topic, honest.drop_floor(seq, BASE_TIME_MS + seq * 1000)))
        for _ in range(12):
            seq += 1
            batch.insert(
                rng.randrange(len(batch) + 1), (reading_topic, honest.reading(seq).payload)
            )
        batches.append(batch)
    return batches


def run_gateway(db_url: str, state: Path, combined: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The committer and ledger over the traffic, every batch one ``Committer.process``."""
    clock = types.SimpleNamespace(time=lambda: NOW + 1.0)
    judge_clock = types.SimpleNamespace(
        monotonic=lambda: 1000.0, strftime=time.strftime, gmtime=time.gmtime
    )
    monkeypatch.setattr("farmtrace.store.ledger.time", clock)  # same block times both runs
    monkeypatch.setattr("farmtrace.gateway.ingest.judge.time", judge_clock)  # same buckets
    if not combined:
        monkeypatch.setattr(Committer, "_write", write_separately)
    corpus = build_corpus("greenacre", int(NOW * 1000), "onetx")
    honest = SimDevice.make("onetx-honest")
    with Ledger.open(db_url, state, ORIGIN) as ledger:
        ledger.register_devices({**corpus.registered, honest.device_id: honest.public_key})
        ledger.revoke_device(corpus.revoked, NOW - 60)
        config = IngestConfig(broker=BrokerAddress("127.0.0.1", 1883), client_id="onetx")
        registry = RegistryView(ledger.devices, 3600.0)
        states: dict[str, DeviceState] = {}
        metrics = GatewayMetrics()
        committer = Committer(
            ledger,
            config,
            QuietLink(),
            Judge(config, registry, states),
            states,
            HealthMonitor(metrics, 3.0, 1.0),
            metrics,
            RunTotals(),
            queue.Queue(),
            threading.Event(),
        )
        cache = TopicCache()
        mono = 1000.0
        for number, messages in enumerate(traffic(corpus, honest), start=1):
            batch = Batch(number)
            for topic, payload in messages:
                mono += 0.001
                batch.admit(Delivery(1, 1, 1, topic, payload, NOW, mono, False), cache, registry)
            committer.process(batch)
    monkeypatch.undo()


def stored_rows(db_url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the compared tables in insertion order, without surrogate ids; a
    checkpoint's note without its signature lines (each run has its own key)."""
    engine = create_engine(db_url)
    out: dict[str, list[tuple[object, ...]]] = {}
    try:
        with engine.connect() as conn:
            for name in TABLES:
                table: Table = Base.metadata.tables[name]
                columns = [c for c in table.columns if c.name != "id"]
                order = table.c.id if "id" in table.c else list(table.primary_key.columns)
                query = select(*columns).order_by(*([order] if "id" in table.c else order))
                rows = [tuple(row) for row in conn.execute(query)]
                if name == "checkpoints":
                    rows = [(c, s, str(n).split("\n\n")[0], t) for c, s, n, t in rows]
                out[name] = rows
    finally:
        engine.dispose()
    return out


@pytest.fixture
def two_db_urls(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Two fresh databases on the ``db_url`` backend."""
    if db_url.startswith("sqlite"):
        yield [db_url, f"sqlite:///{tmp_path / 'separate.db'}"]
        return
    server = request.getfixturevalue("postgres_server")
    other: str = server.create_database()
    try:
        yield [db_url, other]
    finally:
        server.drop_database(other)


@pytest.mark.slow
def test_one_transaction_stores_the_rows_the_separate_ones_stored(
    two_db_urls: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    combined_url, separate_url = two_db_urls
    calls: list[tuple[int, int, int]] = []
    append_batch = Ledger.append_batch

    def counting(
        self: Ledger,
        readings: Sequence[PendingReading],
        *,
        floors: Sequence[StoredFloor] = (),
        quarantine: Sequence[QuarantineItem] = (),
        refused: Sequence[RefusedCount] = (),
    ) -> BatchResult:
        floors, quarantine, refused = list(floors), list(quarantine), list(refused)
        calls.append((len(floors), len(quarantine), len(refused)))
        return append_batch(self, readings, floors=floors, quarantine=quarantine, refused=refused)

    with monkeypatch.context() as patch:
        patch.setattr(Ledger, "append_batch", counting)
        run_gateway(combined_url, tmp_path / "combined", True, patch)
    run_gateway(separate_url, tmp_path / "separate", False, monkeypatch)
    combined, separate = stored_rows(combined_url), stored_rows(separate_url)
    assert all(combined[name] for name in TABLES), {k: len(v) for k, v in combined.items()}
    assert combined == separate
    # The combined path was taken, with floors and with quarantine rows and refused counts.
    assert any(f for f, _, _ in calls) and any(q for _, q, _ in calls)
    assert any(r for _, _, r in calls)
    print({k: len(v) for k, v in combined.items()}, f"combined appends {len(calls)}")


def _extras(
    device: SimDevice,
) -> tuple[list[StoredFloor], list[QuarantineItem], list[RefusedCount]]:
    floor = StoredFloor(device.device_id, 3, device.drop_floor(3), NOW)
    rejected = QuarantineItem(NOW, "bad-signature", "forged", "t", b"x", device.device_id, 9)
    refused = RefusedCount(device.device_id, "bad-signature", 2, 10, NOW, NOW)
    return [floor], [rejected], [refused]


def _counts(db_url: str) -> dict[str, int]:
    return {name: len(rows) for name, rows in stored_rows(db_url).items()}


class Crash(Exception):
    """Stands for a crash inside the transaction."""


def test_a_failure_before_the_commit_stores_none_of_it(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = SimDevice.make("onetx-alice")
    floors, quarantine, refused = _extras(device)
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.register_devices({device.device_id: device.public_key})

        def crash(point: str, *_: object) -> None:
            if point == failpoints.APPEND_BEFORE_COMMIT:
                raise Crash(point)

        with monkeypatch.context() as patch:
            patch.setattr("farmtrace.store.ledger.failpoints.hit", crash)
            with pytest.raises(Crash):
                ledger.append_batch(
                    [device.reading(1)], floors=floors, quarantine=quarantine, refused=refused
                )
        assert set(_counts(db_url).values()) == {0}
        result = ledger.append_batch(
            [device.reading(1)], floors=floors, quarantine=quarantine, refused=refused
        )
        assert result.block is not None and result.accepted == 1
    counts = _counts(db_url)
    assert counts == dict.fromkeys(TABLES, 1), counts


def test_a_retry_after_racing_another_writer_stores_the_extra_rows_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = SimDevice.make("onetx-bob")
    floors, quarantine, refused = _extras(device)
    with (
        Ledger.open(db_url, tmp_path / "ours", ORIGIN) as ours,
        Ledger.open(db_url, tmp_path / "theirs", "farmtrace.example/gw-2") as theirs,
    ):
        ours.register_devices({device.device_id: device.public_key})
        theirs.append_batch([device.reading(2)])
        looked = []
        real = stored_keys

        def spy(conn: Connection, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
            looked.append(keys)
            return real(conn, keys)

        # The first try takes the readings to be new, as the committer found them before the
        # other gateway stored seq 2: its insert fails on the unique index, and the retry looks.
        monkeypatch.setattr(ledger_module, "stored_keys", spy)
        result = ours.append_batch(
            [device.reading(1), device.reading(2)],
            floors=floors,
            quarantine=quarantine,
            refused=refused,
        )
        assert len(looked) == 1 and ours.retries == 1
        assert result.accepted == 1 and result.duplicates == ((device.device_id, 2),)
    rows = stored_rows(db_url)
    assert len(rows["quarantine"]) == len(rows["drop_floors"]) == 1
    assert [r[3:5] for r in rows["quarantine_refused"]] == [(2, 10)]
    assert len(rows["entries"]) == 2 and len(rows["blocks"]) == 2
