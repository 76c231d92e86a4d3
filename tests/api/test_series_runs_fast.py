"""``SeriesReader.runs`` (bounds of a device in one statement, readings, floors and refused seqs
of all the devices in one query each) agrees with ``runs_reference`` (the rule step by step,
a query per bound), over the series lot's every edge (two chains, a clock gone back, gaps,
drop floors, a refused seq, an open window) and windows, devices and checkpoints drawn at
random; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.series import ORIGINS, SeriesLot, T, serve_series_lot

from farmtrace.store.database import open_database
from farmtrace.store.series import SeriesReader

DEVICES = ("dev-a", "dev-b", "dev-c", "dev-d", "dev-e", "dev-unknown")


@pytest.fixture(params=["sqlite", "postgresql"])
def lot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeriesLot]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'chain.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    with serve_series_lot(url, tmp_path) as found:
        yield found


@pytest.mark.slow
def test_runs_agree_with_the_reference(lot: SeriesLot) -> None:
    draw = random.Random(18)
    database = open_database(lot.db_url)
    uppers: set[str] = set()
    seen = {"lower boundary": False, "refused": False, "floor": False, "readings": False}
    try:
        for case in range(120):
            covered: dict[str, int] = {}
            if draw.random() < 0.9:
                covered[ORIGINS[0]] = draw.randint(0, 6)
            if draw.random() < 0.6:
                covered[ORIGINS[1]] = draw.randint(0, 2)
            if draw.random() < 0.1:
                covered["farmtrace.example/no-such-chain"] = 3
            start = T + draw.randint(-2_000, 50_000)
            end = None if draw.random() < 0.3 else start + draw.randint(0, 30_000)
            devices = draw.sample(DEVICES, draw.randint(0, 4))
            if devices and draw.random() < 0.2:
                devices.append(devices[0])  # a device listed twice
            payloads = draw.random() < 0.5
            reader = SeriesReader(database, covered)
            fast = reader.runs(devices, start, end, payloads=payloads)
            plain = reader.runs_reference(devices, start, end, payloads=payloads)
            assert fast == plain, (case, covered, start - T, end, devices, payloads)
            for run in fast:
                uppers.add(run.upper)
                seen["lower boundary"] |= run.lower_boundary
                seen["refused"] |= bool(run.rejected)
                seen["floor"] |= run.floor is not None
                seen["readings"] |= bool(run.readings)
        # The whole lot as the bundle sees it (every chain's newest checkpoint).
        everything = SeriesReader(database, {ORIGINS[0]: 10**6, ORIGINS[1]: 10**6})
        for start, end in ((T + 5_500, T + 12_500), (T + 12_600, T + 30_500), (T + 40_500, None)):
            fast = everything.runs(list(DEVICES), start, end)
            assert fast == everything.runs_reference(list(DEVICES), start, end)
            assert any(run.readings for run in fast)
    finally:
        database.close()
    # The draws reached every edge the rule has.
    assert uppers == {"boundary", "newest-stored", "drop-floor"}
    assert all(seen.values()), seen
