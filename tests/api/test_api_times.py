"""Every time accepted over HTTP (creating a lot, revising it, recording an event) stays in the
range the store and the views can hold.

A time is accepted from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z once its UTC offset
is applied (``farmtrace.api.schemas.lots``), a date from 1970-01-01 to 9998-12-31. Anything else
answers 422 naming the field, and nothing is stored. The landed API answered 500 for a stage
time outside years 1-9999 after its offset, and stored the lot, which then answered 500 on every
read.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.api import GTIN, ORIGIN, lot_body
from support.fast import examples
from support.readings import batch, devices

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.store.ledger import Ledger

EVENT = {"kind": "harvest", "read_point": "urn:epc:id:sgln:9506000.00001.0", "actor": "Li Wei"}
EDGES = [
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "1970-01-01T00:00:00Z",
    "1970-01-01T00:00:00+00:01",
    "1969-12-31T23:59:59.999Z",
    "8999-12-31T23:59:59.999999-23:59",
    "9998-12-31T23:59:59.999+14:00",
    "9998-12-31T23:59:59.999-14:00",
    "2024-06-10T06:13:20+08:00",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp: Path = tmp_path_factory.mktemp("times")
    url = f"sqlite:///{tmp / 'times.db'}"
    devs = devices(2)
    with Ledger.open(url, tmp / "gw", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        ledger.append_batch(batch(devs, range(1, 6)))
    created = create_app(
        Settings(db_url=url, state_dir=tmp / "api", rate_per_s=1e6, rate_burst=1_000_000)
    )
    key = create_key(created.state.farmtrace.database, "t", ["lots:write", "events:write"])
    with TestClient(created) as client:
        client.device_ids = [d.device_id for d in devs]  # type: ignore[attr-defined]
        yield client, {"Authorization": f"Bearer {key}"}


_lots = itertools.count()


def _lot(stage: dict[str, Any], **facts: Any) -> dict[str, Any]:
    body = lot_body([])
    body["lot"] = f"T-{next(_lots)}"
    body["stages"] = [{**body["stages"][0], **stage}]  # type: ignore[index]
    return {**body, **facts}


def _reads_back(client: TestClient, lot: str) -> None:
    base = f"/v1/lots/{GTIN}/{lot}"
    for path, accept in (
        (base, "application/json"),
        (f"{base}/bundle", "application/json"),
        (f"{base}/epcis", "application/json"),
        (f"{base}/excursions", "application/json"),
        (f"/01/{GTIN}/10/{lot}", "text/html"),
        (f"/01/{GTIN}/10/{lot}", "application/json"),
    ):
        response = client.get(path, headers={"Accept": accept})
        assert response.status_code == 200, (path, response.status_code, response.text[:300])


def test_a_stage_time_out_of_range_is_422_naming_it_and_stores_nothing(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = app
    body = _lot({"start": "0001-01-01T00:00:00+14:00"})
    response = client.post("/v1/lots", json=body, headers=auth)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "stages", 0, "start"], error
    assert "years 1-9999" in error["msg"], error
    assert client.get(f"/v1/lots/{GTIN}/{body['lot']}").status_code == 404


def test_an_event_time_out_of_range_is_422_naming_it(
    app: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = app
    body = _lot({})
    assert client.post("/v1/lots", json=body, headers=auth).status_code == 201
    path = f"/v1/lots/{GTIN}/{body['lot']}"
    late = {**EVENT, "time": "9999-12-31T23:59:59-14:00"}
    response = client.post(f"{path}/events", json=late, headers=auth)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "time"]]
    assert client.get(path).json()["events"] == []
    _reads_back(client, body["lot"])


def _times() -> st.SearchStrategy[str]:
    offsets = st.sampled_from(["Z", "+14:00", "-14:00", "+00:00", "-12:00", "+23:59", "-23:59"])
    offsets |= st.builds(
        lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    )
    built = st.builds(
        lambda y, mo, d, h, mi, s, frac, off: (
            f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{off}"
        ),
        # Edges, years a lot may really have (so that many lots are stored and read back), any.
        st.sampled_from([1, 2, 1969, 1970, 1971, 2024, 8999, 9998, 9999])
        | st.integers(1970, 2100)
        | st.integers(1, 9999),
        st.integers(1, 12),
        st.sampled_from([1, 28]) | st.integers(1, 28),
        st.sampled_from([0, 23]) | st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
        st.sampled_from(["", ".999", ".999999", ".5"]),
        offsets,
    )
    return st.one_of(st.sampled_from(EDGES), built, built)  # a third edges, two thirds built


@settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    start=_times(),
    end=st.none() | _times(),
    event=_times(),
    harvest=st.none() | st.dates(date(1970, 1, 1), date(2100, 1, 1)) | st.dates(),
    pack=st.none() | st.dates(date(1970, 1, 1), date(2100, 1, 1)) | st.dates(),
)
def test_time_fields_never_answer_5xx_and_stored_lots_read_back(
    app: tuple[TestClient, dict[str, str]],
    start: str,
    end: str | None,
    event: str,
    harvest: Any,
    pack: Any,
) -> None:
    client, auth = app
    stage = {"start": start, "end": end, "device_ids": client.device_ids}  # type: ignore[attr-defined]
    facts = {
        "harvest_date": None if harvest is None else harvest.isoformat(),
        "pack_date": None if pack is None else pack.isoformat(),
    }
    body = _lot(stage, **facts)
    created = client.post("/v1/lots", json=body, headers=auth)
    hypothesis.event(
        f"lot answered {created.status_code}"
    )  # --hypothesis-show-statistics: both kinds
    assert created.status_code < 500, created.text
    lot = body["lot"]
    if created.status_code != 201:
        assert created.status_code in (400, 422), created.text
        assert client.get(f"/v1/lots/{GTIN}/{lot}").status_code == 404
        return
    recorded = client.post(
        f"/v1/lots/{GTIN}/{lot}/events", json={**EVENT, "time": event}, headers=auth
    )
    assert recorded.status_code in (201, 422), recorded.text
    if recorded.status_code == 422:
        assert recorded.json()["detail"][0]["loc"] == ["body", "time"], recorded.text
    # A revision (PUT) takes the same times: the event's as the stage's new start.
    revised = {**body, "stages": [{**body["stages"][0], "start": event, "end": None}]}
    answer = client.put(f"/v1/lots/{GTIN}/{lot}", json=revised, headers=auth)
    assert answer.status_code in (200, 400, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["detail"][0]["loc"] == ["body", "stages", 0, "start"], answer.text
    _reads_back(client, lot)
