"""What a bundle carries to prove it holds every reading of a lot: one run per stage and device.

For each stage of the lot and each of its devices the store finds the run of consecutive seqs
around the stage's window (:mod:`farmtrace.store.series`): from the device's last reading
signed before the window (or its seq 1) to its first reading signed after it (or, where none
is stored yet, its newest stored reading or its signed drop floor). Here the runs become the
bundle's ``series`` items with their gaps and the readings to prove, each reading once (a
room sensor's reading may bound one stage and lie inside the next). The rule a verifier checks
is :mod:`farmtrace.api.services.series_rule` (``docs/bundle.md``, "Complete series").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from farmtrace.api.services.series_rule import Gap
from farmtrace.api.state import AppState
from farmtrace.chain.clock import went_backwards
from farmtrace.store.lots import StageRecord
from farmtrace.store.series import DeviceRun, RunReading, SeriesReader

__all__ = ["BundleReadingPlan", "SeriesPlan", "lot_gaps", "plan_series"]

DROPPED, REJECTED, NOT_RECEIVED = "dropped-by-device", "rejected-by-gateway", "not-received"


@dataclass(frozen=True, slots=True)
class BundleReadingPlan:
    """A reading the bundle proves: ``stage`` names the stage whose window holds it (or whose
    run it bounds), ``boundary`` is true when it lies in no stage's window. ``clock_backwards``:
    signed more than 1 s before the run's previous reading (:mod:`farmtrace.chain.clock`); for
    a reading inside a window that is its device's previous stored reading, as for the API's
    reading JSON (the run holds every stored seq from before the window)."""

    reading: RunReading
    device_id: str
    stage: str
    boundary: bool
    clock_backwards: bool


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """The bundle's ``series`` items, its readings (by device, then seq), the drop floor
    statements the gaps rely on, and the gaps (for the page)."""

    series: list[dict[str, Any]]
    readings: list[BundleReadingPlan]
    drop_floors: dict[str, bytes]
    gaps: list[Gap]


def _inside(stage: StageRecord, timestamp_ms: int) -> bool:
    return stage.start_ms <= timestamp_ms and (stage.end_ms is None or timestamp_ms <= stage.end_ms)


def _gaps(run: DeviceRun) -> list[tuple[int, int, str]]:
    """The seqs of the run without a stored reading, by cause: at or below the device's drop
    floor, refused by the gateway (a signed rejection), or not received."""
    floor = run.floor.floor if run.floor is not None else 0
    held = [r.seq for r in run.readings]
    missing: list[tuple[int, int]] = []
    expected = run.first_seq
    for seq in [*held, run.last_seq + 1]:
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    found: list[tuple[int, int, str]] = []
    for first, last in missing:
        if first <= floor:
            found.append((first, min(last, floor), DROPPED))
        start = max(first, floor + 1)
        # Above the floor: refused seqs (rare, and few) split the not-received ones.
        for seq in sorted(s for s in run.rejected if start <= s <= last):
            if seq > start:
                found.append((start, seq - 1, NOT_RECEIVED))
            if found and found[-1][2] == REJECTED and found[-1][1] == seq - 1:
                found[-1] = (found[-1][0], seq, REJECTED)
            else:
                found.append((seq, seq, REJECTED))
            start = seq + 1
        if last >= start:
            found.append((start, last, NOT_RECEIVED))
    return found


def plan_series(
    state: AppState,
    stages: Sequence[StageRecord],
    covered: Mapping[str, int],
    *,
    payloads: bool = True,
) -> SeriesPlan:
    """The series of every stage and device, as of checkpoints covering ``covered`` blocks
    of each chain (origin -> checkpoint size); without ``payloads`` its readings carry no
    entry bytes (enough for the gaps)."""
    reader = SeriesReader(state.database, covered)
    series: list[dict[str, Any]] = []
    chosen: dict[tuple[str, int], BundleReadingPlan] = {}
    floors: dict[str, bytes] = {}
    gaps: list[Gap] = []
    for k, stage in enumerate(stages):
        devices = list(dict.fromkeys(stage.device_ids))  # a device listed twice: one series
        for run in reader.runs(devices, stage.start_ms, stage.end_ms, payloads=payloads):
            run_gaps = _gaps(run)
            series.append(
                {
                    "stage_index": k,
                    "device_id": run.device_id,
                    "first_seq": run.first_seq,
                    "last_seq": run.last_seq,
                    "lower": "boundary" if run.lower_boundary else "device-start",
                    "upper": run.upper,
                    "gaps": [{"first_seq": a, "last_seq": b, "cause": c} for a, b, c in run_gaps],
                }
            )
            gaps.extend(Gap(stage.name, run.device_id, a, b, c) for a, b, c in run_gaps)
            if run.floor is not None and any(c == DROPPED for _, _, c in run_gaps):
                floors[run.device_id] = run.floor.payload
            previous: int | None = None
            for reading in run.readings:
                key = (run.device_id, reading.seq)
                inside = _inside(stage, reading.timestamp_ms)
                back = went_backwards(previous, reading.timestamp_ms)
                previous = reading.timestamp_ms
                known = chosen.get(key)
                if known is None or (known.boundary and inside):
                    chosen[key] = BundleReadingPlan(
                        reading, run.device_id, stage.name, not inside, back
                    )
    readings = [chosen[key] for key in sorted(chosen)]
    return SeriesPlan(series, readings, floors, gaps)


def lot_gaps(state: AppState, stages: Sequence[StageRecord]) -> list[Gap]:
    """The gaps of a lot's series as of each chain's latest checkpoint (for the page)."""
    covered = {}
    for origin in state.origins():
        # Fresh, not the reader's copy of up to a second ago: the page is kept until the next
        # commit (state.answers), so it must be as of that commit.
        checkpoint = state.chain(origin).latest_checkpoint(fresh=True)
        if checkpoint is not None:
            covered[origin] = checkpoint.size
    return plan_series(state, stages, covered, payloads=False).gaps
