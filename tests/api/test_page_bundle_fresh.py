"""A lot's page and bundle, once asked for (and kept), show what the chain gained since: a new
block with a reading in a stage still open (a new checkpoint, the run one seq longer) and a
new event of the lot. The kept answers and the series statements kept per shape must not
serve what was true before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.series import GTIN, LOT, ORIGINS, SeriesLot, _reading, serve_series_lot

from farmtrace.store.ledger import Ledger

HTML = {"Accept": "text/html"}
EVENT = {
    "kind": "shipping",
    "time": "2024-06-10T14:13:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Li Wei",
}


@pytest.fixture
def lot(tmp_path: Path) -> Iterator[SeriesLot]:
    with serve_series_lot(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


def _truck_run(bundle: dict[str, object], device: str) -> dict[str, object]:
    (found,) = [
        s
        for s in bundle["series"]  # type: ignore[attr-defined]
        if s["stage_index"] == 2 and s["device_id"] == device
    ]
    return dict(found)


def _unmade(page: str) -> str:
    """The page without the minute it says it was made (the one part a minute changes)."""
    return re.sub(r"Page made [^<]*", "Page made", page)


@pytest.mark.slow
def test_a_new_block_and_a_new_event_show_after_the_answers_were_kept(lot: SeriesLot) -> None:
    page_path = f"/01/{GTIN}/10/{LOT}?lang=en"
    before = lot.bundle()
    assert lot.bundle() == before  # kept: the same answer while nothing is committed
    page_before = lot.client.get(page_path, headers=HTML).text
    assert _truck_run(before, "dev-d")["last_seq"] == 45
    size_before = before["chains"][0]["checkpoint"]

    # dev-d's seq 46, signed inside the truck's open window, in a new block of the first chain.
    with Ledger.open(lot.db_url, lot.tmp / "gw-1", ORIGINS[0]) as ledger:
        assert ledger.append_batch([_reading(lot.devices["dev-d"], 46)]).block is not None
    after = lot.bundle()
    assert after["chains"][0]["checkpoint"] != size_before  # the new checkpoint
    assert _truck_run(after, "dev-d")["last_seq"] == 46
    assert any(r["global_index"] not in {x["global_index"] for x in before["readings"]}
               for r in after["readings"])  # fmt: skip
    assert _unmade(lot.client.get(page_path, headers=HTML).text) != _unmade(page_before)

    auth = {"Authorization": f"Bearer {lot.key}"}
    posted = lot.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=EVENT, headers=auth)
    assert posted.status_code == 201, posted.text
    events = lot.bundle()["events"]
    assert len(events) == len(after["events"]) + 1
    assert events[-1]["status"] == "pending-anchoring"
    assert "Li Wei" in lot.client.get(page_path, headers=HTML).text
