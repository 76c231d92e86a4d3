"""The API over a real ledger with real signed readings, a lot and a key (``tests/api``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.store.ledger import Ledger
from support.readings import BASE_TIME_MS, SimDevice, batch, devices

__all__ = ["GTIN", "LOT", "ORIGIN", "Served", "lot_body", "serve"]

GTIN = "09506000134352"
LOT = "LOT-1"
ORIGIN = "farmtrace.example/api-test"


@dataclass
class Served:
    client: TestClient
    db_url: str
    ledger_vkey: str
    devices: list[SimDevice]
    key: str
    tmp: Path


def lot_body(device_ids: list[str]) -> dict[str, object]:
    return {
        "gtin": GTIN,
        "lot": LOT,
        "product_name": "Butterhead lettuce",
        "product_class": "lettuce",
        "farm": "Greenacre",
        "origin_region": "Shouguang, Shandong",
        "details": {
            "grower": "Li Wei",
            "method": "greenhouse, drip irrigation",
            "certifications": ["GLOBALG.A.P. 4063061000005"],
            "time_zone": "Asia/Shanghai",
        },
        "stages": [
            {
                "kind": "room",
                "name": "Cold room 1",
                "start": "2024-06-10T06:13:20Z",
                "end": "2024-06-10T06:15:00Z",
                "device_ids": device_ids,
            }
        ],
    }


@contextmanager
def serve(db_url: str, tmp_path: Path) -> Iterator[Served]:
    """An API over a chain of 3 blocks (3 devices x 20 readings) at ``db_url``, and one lot."""
    devs = devices(3)
    with Ledger.open(db_url, tmp_path / "gw", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in devs})
        for seqs in (range(1, 8), range(8, 15), range(15, 21)):
            ledger.append_batch(batch(devs, seqs))
        vkey = ledger.verifier_key
    assert BASE_TIME_MS == 1_718_000_000_000  # the lot's stage window below is built on it
    app = create_app(
        Settings(db_url=db_url, state_dir=tmp_path / "api", rate_per_s=1000, rate_burst=1000)
    )
    key = create_key(app.state.farmtrace.database, "test", ["lots:write", "events:write"])
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}
        response = client.post("/v1/lots", json=lot_body([d.device_id for d in devs]), headers=auth)
        assert response.status_code == 201, response.text
        yield Served(client, db_url, vkey, devs, key, tmp_path)
