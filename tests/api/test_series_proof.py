# ruff: noqa: RUF001  (the page's Chinese uses full-width punctuation, ranges an en dash)
"""Complete series (docs/bundle.md): the bundle proves it holds every reading of each device
inside each stage's window, and ``farmtrace verify`` fails, naming the device and the seq, for a
reading removed, added or reordered, a forged drop floor, or a changed stage window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.api import lot_body
from support.series import GTIN, LOT, SeriesLot, serve_series_lot, stages
from support.series_tamper import find, rule_verdict, series_cases

from farmtrace.api.services.series_proof import _gaps
from farmtrace.api.services.verify import BundleError, verify_bundle
from farmtrace.cli import main
from farmtrace.store.database import open_database
from farmtrace.store.records import StoredFloor
from farmtrace.store.series import DeviceRun, RunReading, SeriesReader


@pytest.fixture(params=["sqlite", "postgresql"])
def lot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeriesLot]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with serve_series_lot(url, tmp_path) as found:
        yield found


@pytest.fixture
def sqlite_lot(tmp_path: Path) -> Iterator[SeriesLot]:
    with serve_series_lot(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


def verdict(bundle: dict[str, Any], vkeys: list[str]) -> str:
    try:
        verify_bundle(json.dumps(bundle).encode(), vkeys, say=lambda _line: None)
    except BundleError as error:
        return str(error)
    return "ok"


def series(bundle: dict[str, Any]) -> dict[tuple[int, str], dict[str, Any]]:
    return {(s["stage_index"], s["device_id"]): s for s in bundle["series"]}


def test_series_bounds_gaps_and_shared_readings(lot: SeriesLot) -> None:
    bundle = lot.bundle()
    found = series(bundle)
    assert found[(0, "dev-a")] | {"gaps": None} == {
        "stage_index": 0,
        "device_id": "dev-a",
        "first_seq": 5,
        "last_seq": 13,
        "lower": "boundary",
        "upper": "boundary",
        "gaps": None,
    }
    assert found[(0, "dev-b")]["gaps"] == [{"first_seq": 9, "last_seq": 9, "cause": "not-received"}]
    # dev-c's seqs 14-16 were dropped by the device; 17-31 come from the second chain.
    assert (found[(1, "dev-c")]["first_seq"], found[(1, "dev-c")]["last_seq"]) == (12, 31)
    assert found[(1, "dev-c")]["gaps"] == [
        {"first_seq": 14, "last_seq": 16, "cause": "dropped-by-device"}
    ]
    assert (found[(2, "dev-d")]["last_seq"], found[(2, "dev-d")]["upper"]) == (45, "newest-stored")
    assert found[(2, "dev-d")]["gaps"] == [
        {"first_seq": 43, "last_seq": 43, "cause": "rejected-by-gateway"}
    ]
    assert (found[(2, "dev-e")]["last_seq"], found[(2, "dev-e")]["upper"]) == (50, "drop-floor")
    assert found[(2, "dev-e")]["gaps"] == [
        {"first_seq": 45, "last_seq": 50, "cause": "dropped-by-device"}
    ]
    assert sorted(bundle["drop_floors"]) == ["dev-c", "dev-e"]
    assert len(bundle["chains"]) == 2
    readings = bundle["readings"]
    # Seq 13 bounds the field stage and lies inside the cold room's window: held once, not a
    # boundary; seq 20's clock went back to before both windows: a boundary reading.
    thirteen, twenty = readings[find(bundle, "dev-a", 13)], readings[find(bundle, "dev-a", 20)]
    assert thirteen["stage"] == "Cold room 1" and "boundary" not in thirteen
    assert twenty.get("boundary") is True and twenty["clock_backwards"] is True
    assert readings[find(bundle, "dev-a", 5)].get("boundary") is True
    report = verify_bundle(json.dumps(bundle).encode(), lot.vkeys, say=lambda _line: None)
    assert report.readings == len(readings) == 62
    # Field: a 6-12, b 6-12 but 9; room: a 13-30 but 20, c 13 and 17-30; truck: d 41-45 but
    # 43, e 41-44.
    assert report.lot_readings == 7 + 6 + 17 + 15 + 4 + 4
    assert [(g.device_id, g.first_seq, g.last_seq, g.cause) for g in report.gaps] == [
        ("dev-b", 9, 9, "not-received"),
        ("dev-c", 14, 16, "dropped-by-device"),
        ("dev-d", 43, 43, "rejected-by-gateway"),
        ("dev-e", 45, 50, "dropped-by-device"),
    ]


def test_verify_prints_each_series_and_its_bounds(
    sqlite_lot: SeriesLot, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sqlite_lot.tmp / "bundle.json"
    path.write_text(json.dumps(sqlite_lot.bundle()))
    keys = [arg for vkey in sqlite_lot.vkeys for arg in ("--key", vkey)]
    assert main(["verify", str(path), *keys]) == 0
    out = capsys.readouterr().out
    assert (
        "stage 'Truck 1', device dev-d: seqs 40-45: from seq 40, signed before the window "
        "to complete up to the newest stored reading, seq 45" in out
    )
    assert "the device's signed drop floor, seq 50" in out
    assert "gap: dev-c seqs 14-16 dropped-by-device" in out


@pytest.mark.parametrize("case", [c.name for c in series_cases({})])
def test_tampered_series_fails_naming_device_and_seq(sqlite_lot: SeriesLot, case: str) -> None:
    early = sqlite_lot.bundle("LOT-EARLY")
    foreign = early["readings"][find(early, "dev-a", 2)]
    chosen = next(c for c in series_cases(foreign) if c.name == case)
    good = sqlite_lot.bundle()
    assert verdict(good, sqlite_lot.vkeys) == "ok"
    tampered = chosen.apply(good)
    message = verdict(tampered, sqlite_lot.vkeys)
    assert message != "ok"
    if chosen.window:
        # The signed lot declaration may catch a changed window first; the series rule on
        # its own must still see that the readings do not fit it.
        message = rule_verdict(tampered)
    assert all(words in message for words in chosen.expect), message


def test_runs_see_only_what_the_checkpoints_cover(sqlite_lot: SeriesLot) -> None:
    """Without the second chain (no checkpoint covers it), dev-c's later readings are not in
    its run: the run ends at its drop floor, the dropped seqs as a gap."""
    database = open_database(sqlite_lot.db_url)
    try:
        only_first = SeriesReader(database, {"farmtrace.example/series-1": 4})
        start, end = 1_718_000_012_600, 1_718_000_030_500
        (run,) = only_first.runs(["dev-c"], start, end)
    finally:
        database.close()
    assert (run.first_seq, run.last_seq, run.upper) == (12, 16, "drop-floor")
    assert [r.seq for r in run.readings] == [12, 13]


def test_page_shows_the_gaps_with_their_cause(sqlite_lot: SeriesLot) -> None:
    html = sqlite_lot.client.get(f"/01/{GTIN}/10/{LOT}?lang=en").text
    assert "Gaps in the readings" in html
    assert (
        'data-device="dev-b" data-first-seq="9" data-last-seq="9" data-cause="not-received"' in html
    )
    assert "reading 9: not yet received" in html
    assert "readings 14–16 (3): dropped by the sensor" in html
    assert "reading 43: refused by the gateway" in html
    zh = sqlite_lot.client.get(f"/01/{GTIN}/10/{LOT}?lang=zh").text
    assert "读数缺口" in zh and "第 14–16 号读数（3 条）" in zh


def test_device_listed_twice_in_a_stage_has_one_series(sqlite_lot: SeriesLot) -> None:
    stage = {**stages()[2], "device_ids": ["dev-d", "dev-d"]}
    body = {**lot_body([]), "lot": "LOT-TWICE", "stages": [stage]}
    auth = {"Authorization": f"Bearer {sqlite_lot.key}"}
    assert sqlite_lot.client.post("/v1/lots", json=body, headers=auth).status_code == 201
    bundle = sqlite_lot.bundle("LOT-TWICE")
    assert [s["device_id"] for s in bundle["series"]] == ["dev-d"]
    assert verdict(bundle, sqlite_lot.vkeys) == "ok"


def test_gap_causes_split_at_the_floor_and_around_refused_seqs() -> None:
    held = tuple(RunReading("o", s, s, s, b"") for s in (1, 2, 10, 20))
    floor = StoredFloor("dev", 4, b"", 0.0)
    run = DeviceRun("dev", 1, False, 20, "newest-stored", held, floor, frozenset({6, 7, 12, 30}))
    assert _gaps(run) == [
        (3, 4, "dropped-by-device"),
        (5, 5, "not-received"),
        (6, 7, "rejected-by-gateway"),
        (8, 9, "not-received"),
        (11, 11, "not-received"),
        (12, 12, "rejected-by-gateway"),
        (13, 19, "not-received"),
    ]
