"""The complete-series rule of a lot bundle (``docs/bundle.md``, "Complete series"), checked.

Plain Python over what :mod:`farmtrace.api.services.verify` already decoded and proved (no
Rust, no network). For each stage of the lot and each of its devices the bundle carries one
``series``: a run of consecutive device seqs ``first_seq..last_seq`` in which every seq is
either a reading of the bundle or inside a declared gap, bounded below by a reading signed
before the stage's window (or by the device's seq 1) and above by a reading signed after it,
the device's newest stored reading, or its signed drop floor. The bundle's readings go by
device, then seq, each once, and each belongs to some series.

Contract: :func:`check_series` returns a :class:`SeriesSummary` or raises :class:`SeriesError`
whose message names the device and the seq (or the series) that broke the rule. The browser
verifier (``farmtrace/api/web/static/verify/series.js``) implements the same rule with the same
messages, in the same order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from farmtrace.wire import dropfloor
from farmtrace.wire.protocol import ProtocolError

__all__ = [
    "CAUSES",
    "LOWER_BOUNDS",
    "UPPER_BOUNDS",
    "BundleReading",
    "Gap",
    "SeriesError",
    "SeriesSummary",
    "check_series",
    "window_ms",
]

LOWER_BOUNDS = ("boundary", "device-start")
UPPER_BOUNDS = ("boundary", "newest-stored", "drop-floor")
# Why seqs of a run are not in the bundle: the device said it gave them up (its signed drop
# floor covers them), the gateway refused them (signed by the device but failing a check, e.g.
# a timestamp out of range: docs/gateway.md), or the store holds none (not received, or not yet).
CAUSES = ("dropped-by-device", "not-received", "rejected-by-gateway")
# JSON numbers a JavaScript verifier reads exactly.
_MAX_SEQ = 2**53 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SeriesError(ValueError):
    """A bundle whose readings do not form the complete series it claims."""


@dataclass(frozen=True, slots=True)
class BundleReading:
    """A reading of the bundle after its signature and inclusion were checked."""

    what: str
    device_id: str
    seq: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Gap:
    """Seqs ``first_seq..last_seq`` of a device missing from a stage's series, and why."""

    stage: str
    device_id: str
    first_seq: int
    last_seq: int
    cause: str


@dataclass
class SeriesSummary:
    """What the rule found: the lot's readings (inside a window), the others (boundaries and
    readings outside their window), the gaps, and a line per series for the report."""

    lot_readings: int = 0
    other_readings: int = 0
    gaps: list[Gap] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def window_ms(value: Any, what: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time with a zone, as the bundle states it."""
    if not isinstance(value, str):
        raise SeriesError(f"{what}: not a time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SeriesError(f"{what}: not a time") from None
    if parsed.tzinfo is None:
        raise SeriesError(f"{what}: not a time")
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class _Stage:
    name: str
    start_ms: int
    end_ms: int | None
    device_ids: tuple[str, ...]


def _stages(lot: Any) -> list[_Stage]:
    stages = lot.get("stages") if isinstance(lot, dict) else None
    if not isinstance(stages, list):
        raise SeriesError("lot: missing or malformed field 'stages'")
    found = []
    for k, stage in enumerate(stages):
        if not isinstance(stage, dict):
            raise SeriesError(f"stage {k}: malformed")
        name = stage.get("name")
        devices = stage.get("device_ids")
        if not isinstance(name, str):
            raise SeriesError(f"stage {k}: missing or malformed field 'name'")
        if not isinstance(devices, list) or not all(isinstance(d, str) for d in devices):
            raise SeriesError(f"stage '{name}': missing or malformed field 'device_ids'")
        start = window_ms(stage.get("start"), f"stage '{name}': start")
        end = None if stage.get("end") is None else window_ms(stage["end"], f"stage '{name}': end")
        found.append(_Stage(name, start, end, tuple(devices)))
    return found


def _int(item: Any, key: str, what: str) -> int:
    value = item.get(key) if isinstance(item, dict) else None
    if type(value) is not int or not 0 <= value <= _MAX_SEQ:
        raise SeriesError(f"{what}: missing or malformed field '{key}'")
    return value


def _str(item: Any, key: str, what: str, allowed: Sequence[str]) -> str:
    value = item.get(key) if isinstance(item, dict) else None
    if value not in allowed:
        raise SeriesError(f"{what}: missing or malformed field '{key}'")
    return str(value)


def _order(readings: Sequence[BundleReading]) -> dict[str, dict[int, BundleReading]]:
    """Index the readings by device and seq; they must go by device, then seq, each once."""
    by_device: dict[str, dict[int, BundleReading]] = {}
    previous: BundleReading | None = None
    for r in readings:
        if previous is not None:
            here, before = (r.device_id, r.seq), (previous.device_id, previous.seq)
            if here == before:
                raise SeriesError(f"{r.what}: held twice")
            if here < before:
                raise SeriesError(
                    f"{r.what}: out of order: after device {previous.device_id} seq "
                    f"{previous.seq} (readings go by device, then seq)"
                )
        by_device.setdefault(r.device_id, {})[r.seq] = r
        previous = r
    return by_device


def _floors(bundle: dict[str, Any], keys: dict[str, bytes]) -> dict[str, dropfloor.SignedDropFloor]:
    raw = bundle.get("drop_floors", {})
    if not isinstance(raw, dict):
        raise SeriesError("bundle: malformed field 'drop_floors'")
    found = {}
    for device, text in raw.items():
        what = f"drop floor of {device}"
        try:
            payload = base64.b64decode(text, validate=True) if isinstance(text, str) else None
        except (binascii.Error, ValueError):
            payload = None
        if payload is None:
            raise SeriesError(f"{what}: not valid base64")
        try:
            signed = dropfloor.decode(payload)
        except ProtocolError as exc:
            raise SeriesError(f"{what}: does not decode ({exc.reason})") from None
        if signed.device_id != device:
            raise SeriesError(f"{what}: the statement is device {signed.device_id}'s")
        key = keys.get(device)
        if key is None or not dropfloor.verify(signed, key):
            raise SeriesError(f"{what}: device signature does not verify")
        found[device] = signed
    return found


def check_series(
    bundle: dict[str, Any], readings: Sequence[BundleReading], device_keys: dict[str, bytes]
) -> SeriesSummary:
    """Check the complete-series rule (module docstring); raise :class:`SeriesError`."""
    by_device = _order(readings)
    stages = _stages(bundle.get("lot"))
    floors = _floors(bundle, device_keys)
    items = bundle.get("series")
    if not isinstance(items, list):
        raise SeriesError("bundle: missing or malformed field 'series'")
    seen: dict[tuple[int, str], int] = {}
    for j, item in enumerate(items):
        what = f"series {j}"
        k = _int(item, "stage_index", what)
        if k >= len(stages):
            raise SeriesError(f"{what}: stage {k} is not in the lot")
        device = item.get("device_id")
        if not isinstance(device, str):
            raise SeriesError(f"{what}: missing or malformed field 'device_id'")
        if device not in stages[k].device_ids:
            raise SeriesError(f"{what}: device {device} is not one of stage '{stages[k].name}''s")
        if (k, device) in seen:
            raise SeriesError(f"stage '{stages[k].name}': device {device} has two series")
        seen[(k, device)] = j
    for k, stage in enumerate(stages):
        for device in stage.device_ids:
            if (k, device) not in seen:
                raise SeriesError(f"stage '{stage.name}': device {device} has no series")
    summary = SeriesSummary()
    in_window: set[tuple[str, int]] = set()
    claimed: set[tuple[str, int]] = set()
    for item in items:
        stage = stages[item["stage_index"]]
        run = _Run(item, stage, by_device.get(item["device_id"], {}), floors, summary)
        run.check()
        in_window.update(run.inside)
        claimed.update(run.members)
    for r in readings:
        if (r.device_id, r.seq) not in claimed:
            raise SeriesError(f"{r.what}: in no stage's series")
    summary.lot_readings = len(in_window)
    summary.other_readings = len(readings) - len(in_window)
    return summary


class _Run:
    """One series item checked against its stage window and the bundle's readings."""

    def __init__(
        self,
        item: dict[str, Any],
        stage: _Stage,
        readings: dict[int, BundleReading],
        floors: dict[str, dropfloor.SignedDropFloor],
        summary: SeriesSummary,
    ) -> None:
        self.device: str = item["device_id"]
        self.stage = stage
        self.what = f"stage '{stage.name}', device {self.device}"
        self.first = _int(item, "first_seq", self.what)
        self.last = _int(item, "last_seq", self.what)
        self.lower = _str(item, "lower", self.what, LOWER_BOUNDS)
        self.upper = _str(item, "upper", self.what, UPPER_BOUNDS)
        self.gaps = self._gaps(item.get("gaps"))
        self.readings = readings
        self.floor = floors.get(self.device)
        self.summary = summary
        self.inside: list[tuple[str, int]] = []
        self.members: list[tuple[str, int]] = []

    def _gaps(self, raw: Any) -> list[tuple[int, int, str]]:
        if not isinstance(raw, list):
            raise SeriesError(f"{self.what}: missing or malformed field 'gaps'")
        gaps: list[tuple[int, int, str]] = []
        for g in raw:
            first, last = _int(g, "first_seq", self.what), _int(g, "last_seq", self.what)
            cause = _str(g, "cause", self.what, CAUSES)
            if first > last or (gaps and first <= gaps[-1][1]):
                raise SeriesError(f"{self.what}: gap {first}-{last} is out of order")
            gaps.append((first, last, cause))
        return gaps

    def check(self) -> None:
        """Bounds, then each seq of the run, then where the run's readings lie in time."""
        self._shape()
        self._cover()
        for first, last, cause in self.gaps:
            if cause == "dropped-by-device":
                self._dropped(first, last)
            self.summary.gaps.append(Gap(self.stage.name, self.device, first, last, cause))
        self._times()
        self.summary.lines.append(self._line())

    def _shape(self) -> None:
        first, last, what = self.first, self.last, self.what
        if first < 1 or last < first - 1:
            raise SeriesError(f"{what}: run {first}-{last} is empty or reversed")
        if last == first - 1 and (self.lower, self.upper) != ("device-start", "newest-stored"):
            raise SeriesError(f"{what}: an empty run must start at seq 1 and end at none stored")
        if self.lower == "device-start" and first != 1:
            raise SeriesError(f"{what}: a run from the device's start begins at seq 1, not {first}")
        if self.upper == "boundary" and self.stage.end_ms is None:
            raise SeriesError(f"{what}: an upper boundary for a stage that has not ended")
        if self.gaps and (self.gaps[0][0] < first or self.gaps[-1][1] > last):
            raise SeriesError(f"{what}: a gap lies outside the run {first}-{last}")
        ends = [(self.lower == "boundary", first), (self.upper != "drop-floor", last)]
        for held, seq in ends:
            if held and last >= first and any(a <= seq <= b for a, b, _ in self.gaps):
                raise SeriesError(f"{what}: seq {seq} bounds the run and cannot be a gap")
        if self.upper == "drop-floor":
            if self.floor is None or self.floor.floor != last:
                raise SeriesError(f"{what}: the run ends at a drop floor {last} it does not hold")
            if not self.gaps or self.gaps[-1][1] != last or self.gaps[-1][2] != CAUSES[0]:
                raise SeriesError(f"{what}: the run ends at its drop floor but not with a gap")

    def _cover(self) -> None:
        """Every seq of the run is a reading or in a gap, never both: the first one that is
        not is named. Walks readings and gaps together, so a long gap costs nothing."""
        held = sorted(s for s in self.readings if self.first <= s <= self.last)
        gaps = self.gaps
        seq, i, g = self.first, 0, 0
        while seq <= self.last:
            if g < len(gaps) and gaps[g][0] <= seq:
                if i < len(held) and held[i] <= gaps[g][1]:
                    raise SeriesError(f"{self.what}: seq {held[i]} is a reading and in a gap")
                seq, g = gaps[g][1] + 1, g + 1
                continue
            if i >= len(held) or held[i] != seq:
                raise SeriesError(
                    f"{self.what}: seq {seq} is missing (not in the bundle, not a declared gap)"
                )
            self.members.append((self.device, seq))
            seq, i = seq + 1, i + 1

    def _dropped(self, first: int, last: int) -> None:
        if self.floor is None:
            raise SeriesError(
                f"{self.what}: seqs {first}-{last} declared dropped by the device, "
                "but the bundle holds no drop floor of it"
            )
        if self.floor.floor < last:
            raise SeriesError(
                f"{self.what}: seqs {first}-{last} declared dropped by the device, "
                f"but its signed drop floor is {self.floor.floor}"
            )

    def _times(self) -> None:
        stage, what = self.stage, self.what
        start, end = stage.start_ms, stage.end_ms
        readings = self.readings
        if self.lower == "boundary" and not readings[self.first].timestamp_ms < start:
            raise SeriesError(
                f"{what}: lower boundary seq {self.first} is not signed before the stage starts"
            )
        if self.upper == "boundary" and not readings[self.last].timestamp_ms > (end or 0):
            raise SeriesError(
                f"{what}: upper boundary seq {self.last} is not signed after the stage ends"
            )
        interior = [
            readings[s]
            for _, s in self.members
            if not (self.lower == "boundary" and s == self.first)
            and not (self.upper == "boundary" and s == self.last)
        ]
        inside = [
            r.seq
            for r in interior
            if start <= r.timestamp_ms and (end is None or r.timestamp_ms <= end)
        ]
        first_in = inside[0] if inside else None
        last_in = inside[-1] if inside else None
        for r in interior:
            # Before the window's first reading (by seq) only readings signed after the window
            # (a clock ahead) may stand; after its last one only readings signed before it.
            if (first_in is None or r.seq < first_in) and r.timestamp_ms < start:
                raise SeriesError(
                    f"{what}: seq {r.seq} is signed before the stage starts, inside the run: "
                    "the run's lower boundary is not the device's last reading before the window"
                )
            if (last_in is None or r.seq > last_in) and end is not None and r.timestamp_ms > end:
                raise SeriesError(
                    f"{what}: seq {r.seq} is signed after the stage ends, inside the run: "
                    "the run's upper boundary is not the device's first reading after the window"
                )
        for r in readings.values():
            outside_run = not self.first <= r.seq <= self.last
            if outside_run and start <= r.timestamp_ms and (end is None or r.timestamp_ms <= end):
                raise SeriesError(
                    f"{what}: seq {r.seq} is signed inside the stage's window but is outside "
                    f"the run {self.first}-{self.last}"
                )
        self.inside = [(self.device, s) for s in inside]

    def _line(self) -> str:
        lower = (
            "the device's first seq"
            if self.lower == "device-start"
            else f"seq {self.first}, signed before the window"
        )
        upper = {
            "boundary": f"seq {self.last}, signed after the window",
            "newest-stored": f"complete up to the newest stored reading, seq {self.last}",
            "drop-floor": f"the device's signed drop floor, seq {self.last}",
        }[self.upper]
        gaps = sum(b - a + 1 for a, b, _ in self.gaps)
        return (
            f"{self.what}: seqs {self.first}-{self.last}: from {lower} to {upper}; "
            f"{len(self.inside)} inside the window, {gaps} in gaps"
        )
