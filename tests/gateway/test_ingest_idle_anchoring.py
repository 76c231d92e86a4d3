"""Lot events are anchored while no reading flows: two real ``farmtrace gateway`` processes on
one database, Mosquitto, and the API; nothing is published. Each event the API accepts is
sealed into a block by one of the gateways' idle sweeps within a few batch ages (waited for,
never timed), its inclusion proof is served, and no entry is integrated twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select
from support.ingest import GatewayProcess, make_device, wait_for
from support.mosquitto import Mosquitto

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.store.engine import normalize_url
from farmtrace.store.models import Base

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GTIN, LOT = "09506000134352", "LOT-IDLE"
BATCH_AGE_S = 0.2
EVENTS = 6
ENTRIES = Base.metadata.tables["entries"]
BLOCKS = Base.metadata.tables["blocks"]


def lot_body() -> dict[str, Any]:
    return {
        "gtin": GTIN,
        "lot": LOT,
        "product_name": "Butterhead lettuce",
        "product_class": "lettuce",
        "farm": "Greenacre",
        "origin_region": "Shouguang",
        "stages": [
            {
                "kind": "room",
                "name": "Cold room 1",
                "start": "2024-06-10T06:13:20Z",
                "end": "2024-06-10T08:00:00Z",
                "device_ids": [make_device("IDLE-1").device_id],
            }
        ],
    }


def event_body(n: int) -> dict[str, str]:
    return {
        "kind": "storing",
        "time": f"2024-06-10T07:{n:02d}:00Z",
        "read_point": "urn:epc:id:sgln:9506000.00001.0",
        "actor": "Cold room team",
    }


def test_events_are_anchored_with_no_readings_flowing(
    db_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    gateways = [
        GatewayProcess(
            mosquitto.url,
            db_url,
            tmp_path / f"gw{n}",
            extra=["--batch-age", str(BATCH_AGE_S), "--origin", f"farmtrace.example/idle-{n}"],
        )
        for n in (1, 2)
    ]
    for gateway in gateways:
        gateway.start().wait_connected()
    try:
        app = create_app(
            Settings(db_url=db_url, state_dir=tmp_path / "api", rate_per_s=1000, rate_burst=1000)
        )
        key = create_key(app.state.farmtrace.database, "test", ["lots:write", "events:write"])
        auth = {"Authorization": f"Bearer {key}"}
        with TestClient(app) as client:
            created = client.post("/v1/lots", json=lot_body(), headers=auth)
            assert created.status_code == 201, created.text
            accepted = []
            for n in range(EVENTS):
                response = client.post(
                    f"/v1/lots/{GTIN}/{LOT}/events", json=event_body(n), headers=auth
                )
                assert response.status_code == 201, response.text
                assert response.json()["status"] == "pending-anchoring"
                accepted.append(response.json())

            def events() -> list[dict[str, Any]]:
                lot = client.get(f"/v1/lots/{GTIN}/{LOT}")
                assert lot.status_code == 200, lot.text
                found: list[dict[str, Any]] = lot.json()["events"]
                return found

            # A few batch ages would do; the bound only keeps a broken sweep from hanging CI.
            wait_for(
                lambda: all(e["status"] == "anchored" for e in events()),
                60,
                "every event anchored by an idle sweep",
            )
            anchored = events()
            assert [(e["signer"], e["seq"]) for e in anchored] == [
                (e["signer"], e["seq"]) for e in accepted
            ]
            origins = {f"farmtrace.example/idle-{n}" for n in (1, 2)}
            for event in anchored:
                assert event["origin"] in origins
                chain = quote(event["origin"])
                proof = client.get(f"/v1/chains/{chain}/readings/{event['global_index']}/proof")
                assert proof.status_code == 200, proof.text
                body = proof.json()
                assert body["global_index"] == event["global_index"]
                assert body["origin"] == event["origin"]
    finally:
        codes = [gateway.stop() for gateway in gateways]
    for gateway, code in zip(gateways, codes, strict=True):
        log = gateway.log()
        assert code == 0, log[-3000:]
        assert "cannot seal the pending entries" not in log, log[-3000:]
        report = json.loads(gateway.report_path.read_text())
        assert report["received"] == 0  # nothing was published: only sweeps sealed blocks
    engine = create_engine(normalize_url(db_url))
    try:
        with engine.connect() as conn:
            # The lot's declaration and its events, each on one chain, once.
            keys = conn.execute(select(ENTRIES.c.device_id, ENTRIES.c.seq)).all()
            blocks = conn.execute(select(func.count()).select_from(BLOCKS)).scalar_one()
    finally:
        engine.dispose()
    assert len(keys) == len(set(keys)) == EVENTS + 1
    assert 1 <= blocks <= EVENTS + 1
