"""Tampering with the series of a bundle (``support.series``'s lot): each case and the words
its failure must hold (the device and seq named), for the Python, node and browser tests."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from farmtrace.api.services.series_rule import BundleReading, SeriesError, check_series
from farmtrace.wire.protocol import decode
from support.readings import SimDevice

__all__ = ["Case", "find", "rule_verdict", "series_cases"]

Bundle = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """A change to a good bundle and words the first failure must contain.

    ``window``: the change is to the lot's stage windows, which the signed lot declaration
    also catches (possibly first); the series rule on its own must still name the device and
    the seq (:func:`rule_verdict`).
    """

    name: str
    change: Callable[[Bundle], None]
    expect: tuple[str, ...]
    window: bool = False

    def apply(self, bundle: Bundle) -> Bundle:
        copied = copy.deepcopy(bundle)
        self.change(copied)
        return copied


def rule_verdict(bundle: Bundle) -> str:
    """The series rule alone (``series_rule.check_series``) on a bundle: "ok" or its message."""
    readings = []
    for item in bundle["readings"]:
        r = decode(base64.b64decode(item["entry"]))
        what = f"reading {item['global_index']} (device {r.device_id} seq {r.seq})"
        readings.append(BundleReading(what, r.device_id, r.seq, r.timestamp_ms))
    keys = {d: base64.b64decode(k) for d, k in bundle["device_keys"].items()}
    try:
        check_series(bundle, readings, keys)
    except SeriesError as error:
        return str(error)
    return "ok"


def find(bundle: Bundle, device: str, seq: int) -> int:
    """The position of ``device``'s reading ``seq`` in the bundle's readings."""
    for i, item in enumerate(bundle["readings"]):
        reading = decode(base64.b64decode(item["entry"]))
        if (reading.device_id, reading.seq) == (device, seq):
            return i
    raise AssertionError(f"no reading {device} seq {seq} in the bundle")


def _remove(device: str, seq: int) -> Callable[[Bundle], None]:
    def change(b: Bundle) -> None:
        del b["readings"][find(b, device, seq)]

    return change


def _swap(device: str, seq: int) -> Callable[[Bundle], None]:
    def change(b: Bundle) -> None:
        i = find(b, device, seq)
        r = b["readings"]
        r[i], r[i + 1] = r[i + 1], r[i]

    return change


def _swap_windows(b: Bundle) -> None:
    first, second = b["lot"]["stages"][0], b["lot"]["stages"][1]
    for key in ("start", "end"):
        first[key], second[key] = second[key], first[key]


def _series_of(b: Bundle, stage: int, device: str) -> dict[str, Any]:
    return next(s for s in b["series"] if (s["stage_index"], s["device_id"]) == (stage, device))


def _claim_dropped(b: Bundle) -> None:
    del b["readings"][find(b, "dev-c", 17)]
    _series_of(b, 1, "dev-c")["gaps"].append(
        {"first_seq": 17, "last_seq": 17, "cause": "dropped-by-device"}
    )


def _forged_floor(b: Bundle) -> None:
    # A floor of 20 for dev-c, signed by another key: it would excuse seqs 17-20.
    b["drop_floors"]["dev-c"] = base64.b64encode(
        SimDevice("dev-c", SimDevice.make("dev-x").key).drop_floor(20)
    ).decode()


def _no_floor_gap(b: Bundle) -> None:
    _series_of(b, 0, "dev-b")["gaps"][0]["cause"] = "dropped-by-device"


def _no_series(b: Bundle) -> None:
    b["series"] = [s for s in b["series"] if s["device_id"] != "dev-d"]


def _end_earlier(b: Bundle) -> None:
    b["lot"]["stages"][1]["end"] = b["lot"]["stages"][1]["end"].replace(":13:50", ":13:40")


def series_cases(foreign: dict[str, Any]) -> list[Case]:
    """The cases; ``foreign`` is a genuine, proven reading item of ``dev-a`` seq 2 (from another
    lot's bundle), in no series of this lot."""
    missing = "is missing (not in the bundle, not a declared gap)"

    def add_foreign(b: Bundle) -> None:
        b["readings"].insert(find(b, "dev-a", 5), copy.deepcopy(foreign))

    return [
        Case("remove first reading", _remove("dev-a", 5), ("device dev-a: seq 5 " + missing,)),
        Case("remove middle reading", _remove("dev-a", 9), ("device dev-a: seq 9 " + missing,)),
        Case("remove last reading", _remove("dev-e", 44), ("device dev-e: seq 44 " + missing,)),
        Case(
            "remove upper boundary reading",
            _remove("dev-a", 31),
            ("stage 'Cold room 1', device dev-a: seq 31 " + missing,),
        ),
        Case("add foreign reading", add_foreign, ("(device dev-a seq 2): in no stage's series",)),
        Case(
            "reorder two readings",
            _swap("dev-a", 9),
            ("(device dev-a seq 9): out of order: after device dev-a seq 10",),
        ),
        Case(
            "forged drop floor",
            _forged_floor,
            ("drop floor of dev-c: device signature does not verify",),
        ),
        Case(
            "removed reading declared dropped",
            _claim_dropped,
            ("device dev-c: seqs 17-17 declared dropped by the device", "drop floor is 16"),
        ),
        Case(
            "gap declared dropped without a floor",
            _no_floor_gap,
            ("device dev-b: seqs 9-9 declared dropped", "holds no drop floor of it"),
        ),
        Case(
            "swapped stage windows",
            _swap_windows,
            ("stage 'Field north', device dev-a: upper boundary seq 13 is not signed after",),
            window=True,
        ),
        Case(
            "stage ends earlier",
            _end_earlier,
            ("stage 'Cold room 1', device dev-a: seq 21 is signed after the stage ends",),
            window=True,
        ),
        Case("series left out", _no_series, ("stage 'Truck 1': device dev-d has no series",)),
    ]
