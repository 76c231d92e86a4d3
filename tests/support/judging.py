"""The gateway's whole judging path in process, without a broker or a database.

Messages go through exactly what ``farmtrace gateway`` runs on them: ``Batch.admit`` (topic,
wire format, device, seq range, registry), the bulk ``rust_core`` signature check
(``Batch.verify_pending``) and ``Judge.judge`` (sequence rule, revocation, timestamps, ranges).
What the committer would then write is applied to an in-memory store (readings, signed
rejections, committed seqs, drop floors) so that later batches see it, as they would after a
commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from farmtrace.gateway.ingest.batch import Batch, TopicCache
from farmtrace.gateway.ingest.config import BrokerAddress, IngestConfig
from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.inbox import Delivery
from farmtrace.gateway.ingest.judge import ACCEPTED, CONTROL, DUPLICATE_OUTCOME, QUARANTINED, Judge
from farmtrace.gateway.ingest.registry_view import RegistryView
from farmtrace.store.records import Device, QuarantineItem

__all__ = ["JudgingPath", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    """What became of one message: ``outcome`` (accepted, duplicate, quarantined, control) and,
    when quarantined, the reason."""

    outcome: str
    reason: str | None = None

    @property
    def label(self) -> str:
        """The reason when quarantined, else the outcome."""
        return self.reason if self.reason is not None else self.outcome


class JudgingPath:
    """A gateway's batcher and committer decisions over registered ``keys``.

    ``now`` is the gateway's wall clock (arrival time of every message); ``revoked`` devices are
    registered but revoked. ``replay_grace`` is the gateway's ``--replay-grace``.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        now: float,
        revoked: Iterable[str] = (),
        replay_grace: float = 0.5,
    ) -> None:
        gone = set(revoked)
        devices = [
            Device(d, k, now - 3600, now - 60 if d in gone else None) for d, k in keys.items()
        ]
        self.registry = RegistryView(lambda: devices, 3600.0)
        self.config = IngestConfig(
            broker=BrokerAddress("127.0.0.1", 1883), client_id="judging", replay_grace=replay_grace
        )
        self.states: dict[str, DeviceState] = {}
        self.judge = Judge(self.config, self.registry, self.states)
        self.topics = TopicCache()
        self.stored: dict[tuple[str, int], bytes] = {}
        self.rejected: dict[tuple[str, int], tuple[bytes, str]] = {}
        self.quarantine: list[QuarantineItem] = []
        self.now = now
        self.mono = 1000.0
        self._batches = 0

    def run(self, messages: Iterable[tuple[str, bytes]], dup: bool = False) -> list[Verdict]:
        """Judge one batch of ``(topic, payload)`` and commit what it accepts."""
        self._batches += 1
        batch = Batch(self._batches)
        for topic, payload in messages:
            self.mono += 0.001
            delivery = Delivery(1, 1, 1, topic, payload, self.now, self.mono, dup)
            batch.admit(delivery, self.topics, self.registry)
        batch.verify_pending(threads=1)
        keys = self.judge.possibly_stored(batch)
        stored = {key: self.stored[key] for key in keys if key in self.stored}
        wanted = self.judge.possibly_rejected(keys)
        rejected = {key: self.rejected[key] for key in wanted if key in self.rejected}
        plan = self.judge.judge(batch, stored, rejected)
        for _, reading in plan.accepted:
            self.stored[(reading.device_id, reading.seq)] = reading.payload
            self.judge.state(reading.device_id).committed.add(reading.seq)
        self.quarantine += plan.quarantine
        for row in plan.quarantine:
            # As the committer does once the rows are durable: a signed rejection settles.
            if row.signed_rejection:
                assert row.device_id is not None and row.seq is not None
                self.rejected.setdefault((row.device_id, row.seq), (row.payload, row.reason))
                state = self.judge.state(row.device_id)
                state.committed.add(row.seq)
                state.rejected_high = max(state.rejected_high, row.seq)
        for item in batch.items:
            floor, device_id = item.floor, item.device_id
            # As the committer does: a registered device's drop floor moves its watermark.
            if (
                item.outcome == CONTROL
                and floor is not None
                and device_id is not None
                and self.registry.get(device_id) is not None
            ):
                state = self.judge.state(device_id)
                state.drop_floor = max(state.drop_floor, floor)
                state.committed.drop_through(floor)
        verdicts = []
        for item in batch.items:
            assert item.outcome in (ACCEPTED, DUPLICATE_OUTCOME, QUARANTINED, CONTROL), item
            verdicts.append(Verdict(item.outcome, item.reason))
        return verdicts

    def publish_watermarks(self, age: float) -> None:
        """Record every device's watermark as published ``age`` seconds ago (its PUBACK came),
        as the committer does after a commit; the next message is judged at ``mono``."""
        for state in self.states.values():
            state.record_published(
                state.committed.watermark, self.mono - age, self.config.replay_grace, self.mono
            )
