"""What the gateway remembers about each device while it runs.

One :class:`DeviceState` per device, owned by the committer thread (no locks): the settled
seqs (:class:`~farmtrace.gateway.ingest.seqruns.SeqRuns`: stored, or signed and rejected), the farm its
readings come from (for the watermark topic), the watermarks this process published and when
(for telling a replay from a resend), and the health figures the silence and gap monitor keeps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from farmtrace.gateway.ingest.seqruns import SeqRuns

__all__ = ["ARRIVAL_SAMPLES", "PUBLISHED_LIMIT", "DeviceState"]

ARRIVAL_SAMPLES = 16
"""How many recent arrival intervals the silence monitor keeps per device."""

_PUBLISHED_SLOTS = 8

PUBLISHED_LIMIT = 64
"""At most this many watermark publications are remembered per device: a bound on memory should
judging fall far behind the PUBACKs (the committer publishes a device's watermark at most every
``WATERMARK_INTERVAL_S``, 0.5 s, so this covers half a minute of it)."""


@dataclass(slots=True, eq=False)
class DeviceState:
    """One device's ingest state. Times ending in ``_mono`` are ``time.monotonic()``."""

    device_id: str
    committed: SeqRuns = field(default_factory=SeqRuns)
    farm: str | None = None
    last_timestamp_ms: int | None = None
    announced: int = -1  # the last watermark handed to the broker (-1: none yet)
    next_publish_mono: float = 0.0  # not before this (watermarks are rate-limited per device)
    published: deque[tuple[float, int]] = field(default_factory=deque)
    drop_floor: int = 0
    # The highest seq that was a signed rejection (0: none); ``committed`` counts those seqs
    # too, and a copy at or below this one is looked up in the quarantine.
    rejected_high: int = 0
    # Health (see farmtrace.gateway.ingest.health).
    last_arrival_mono: float | None = None
    last_arrival_wall: float | None = None
    intervals: deque[float] = field(default_factory=lambda: deque(maxlen=ARRIVAL_SAMPLES))
    silent_since_mono: float | None = None
    gaps: int = 0
    lost: int = 0
    clock_backwards: int = 0
    duplicates: int = 0
    rejected: int = 0

    def record_published(
        self, watermark: int, now_mono: float, grace: float, judged_mono: float
    ) -> None:
        """Remember that the broker holds ``watermark`` since ``now_mono`` (its PUBACK came).

        ``judged_mono`` is the arrival time of the newest message already judged. Messages are
        judged in arrival order, so every copy still to be judged arrived at or after it, and
        :meth:`told_watermark` is asked only for such times. An entry is dropped only once no
        such time can need it: a PUBACK often comes after a copy arrived and before its batch
        is judged, and pruning against the PUBACK's own time would drop the entry that copy
        needs (what it was told would fall back to an older watermark or 0, and a replay would
        be counted as a duplicate instead of being quarantined).

        At most a few entries per grace period are kept: a publication closer than
        ``grace / 8`` to the previous one replaces it, which only ever makes an earlier
        watermark look published later than it was (so fewer copies count as replays). Past
        ``PUBLISHED_LIMIT`` entries the oldest goes, with the same effect.
        """
        published = self.published
        if len(published) >= 2 and now_mono - published[-1][0] < grace / _PUBLISHED_SLOTS:
            published[-1] = (now_mono, watermark)
        else:
            published.append((now_mono, watermark))
        cutoff = min(now_mono, judged_mono) - grace
        while len(published) >= 2 and published[1][0] <= cutoff:
            published.popleft()
        while len(published) > PUBLISHED_LIMIT:
            published.popleft()

    def told_watermark(self, now_mono: float, grace: float) -> int:
        """The highest watermark this process published at least ``grace`` seconds ago.

        A device that follows the protocol has had that long to learn it, so it has no reason
        to send any seq at or below it again. 0 when none qualifies.
        """
        cutoff = now_mono - grace
        told = 0
        for at, watermark in self.published:
            if at > cutoff:
                break
            told = watermark
        return told
