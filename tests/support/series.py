"""A lot whose series have every edge of the complete-series rule (``docs/bundle.md``).

Two chains in one database, five devices, three stages (the last one still open):

* ``dev-a`` watches "Field north" (window 5.5 s-12.5 s after ``BASE_TIME_MS``) and "Cold room 1"
  (12.6 s-30.5 s): its seq 13 bounds the first stage and lies inside the second; its seq 20 was
  signed with a clock gone back to 3 s (inside the cold room's run, outside its window).
* ``dev-b`` (field): seq 9 never arrived (a gap "not-received").
* ``dev-c`` (cold room): seqs 14-16 dropped by the device (signed drop floor 16); seqs 17-40
  are on the second chain.
* ``dev-d`` and ``dev-e`` watch the open "Truck 1" stage (from 40.5 s): ``dev-d`` is complete up
  to its newest stored reading (45), its seq 43 refused by the gateway (a signed rejection in the
  quarantine); ``dev-e`` stored up to 44 and signed a drop floor of 50.

Readings are signed at ``BASE_TIME_MS + seq * 1000`` unless said otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.store.dropfloors import record_floors
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading, QuarantineItem, StoredFloor
from farmtrace.wire.protocol import Measurement, Reading, sign
from support.api import lot_body
from support.readings import BASE_TIME_MS, SimDevice

__all__ = ["GTIN", "LOT", "SeriesLot", "iso", "serve_series_lot", "stages"]

GTIN = "09506000134352"
LOT = "LOT-SERIES"
ORIGINS = ("farmtrace.example/series-1", "farmtrace.example/series-2")
T = BASE_TIME_MS


@dataclass
class SeriesLot:
    client: TestClient
    db_url: str
    vkeys: list[str]
    devices: dict[str, SimDevice]
    tmp: Path
    key: str

    def bundle(self, lot: str = LOT) -> dict[str, Any]:
        response = self.client.get(f"/v1/lots/{GTIN}/{lot}/bundle")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _reading(device: SimDevice, seq: int, ts: int | None = None) -> PendingReading:
    ts = T + seq * 1000 if ts is None else ts
    payload = sign(
        Reading(
            device.device_id,
            seq,
            ts,
            "farm-1/series",
            "",
            (Measurement("Temperature", 2.0 + seq / 100, "CEL"),),
        ),
        device.key,
    )
    return PendingReading(device.device_id, seq, ts, payload, ts / 1000 + 0.05)


def _stage(kind: str, name: str, start: int, end: int | None, devices: list[str]) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "start": iso(start),
        "end": None if end is None else iso(end),
        "device_ids": devices,
    }


def stages() -> list[dict[str, Any]]:
    return [
        _stage("field", "Field north", T + 5500, T + 12500, ["dev-a", "dev-b"]),
        _stage("room", "Cold room 1", T + 12600, T + 30500, ["dev-a", "dev-c"]),
        _stage("truck", "Truck 1", T + 40500, None, ["dev-d", "dev-e"]),
    ]


@contextmanager
def serve_series_lot(db_url: str, tmp: Path) -> Iterator[SeriesLot]:
    """The API over the two chains of the module docstring, with the lot ``LOT`` created."""
    devs = {name: SimDevice.make(name) for name in ("dev-a", "dev-b", "dev-c", "dev-d", "dev-e")}
    a, b, c, d, e = devs.values()
    first = [_reading(a, s, T + 3000 if s == 20 else None) for s in range(1, 36)]
    first += [_reading(b, s) for s in range(1, 21) if s != 9]
    first += [_reading(c, s) for s in range(1, 14)]
    first += [_reading(d, s) for s in range(1, 46) if s != 43]
    first += [_reading(e, s) for s in range(1, 45)]
    refused = _reading(d, 43)
    vkeys = []
    with Ledger.open(db_url, tmp / "gw-1", ORIGINS[0]) as ledger:
        ledger.register_devices({x.device_id: x.public_key for x in devs.values()})
        for at in range(0, len(first), 40):
            ledger.append_batch(first[at : at + 40])
        topic = "farm/series/dev-d/reading"
        item = QuarantineItem(
            refused.received_at, "future-timestamp", "a test refusal", topic, refused.payload,
            d.device_id, 43, signed_rejection=True,
        )  # fmt: skip
        assert ledger.quarantine([item]) == 1
        vkeys.append(ledger.verifier_key)
    with Ledger.open(db_url, tmp / "gw-2", ORIGINS[1]) as ledger:
        ledger.append_batch([_reading(c, s) for s in range(17, 41)])
        vkeys.append(ledger.verifier_key)
    engine = create_db_engine(db_url)
    try:
        floors = [
            StoredFloor(c.device_id, 16, c.drop_floor(16, T + 17000), T / 1000),
            StoredFloor(e.device_id, 50, e.drop_floor(50, T + 51000), T / 1000),
        ]
        assert record_floors(engine, floors) == 2
    finally:
        engine.dispose()
    app = create_app(
        Settings(db_url=db_url, state_dir=tmp / "api", rate_per_s=1000, rate_burst=1000)
    )
    key = create_key(app.state.farmtrace.database, "test", ["lots:write", "events:write"])
    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {key}"}
        for lot, lot_stages in ((LOT, stages()), ("LOT-EARLY", [_early()])):
            body = {**lot_body([]), "lot": lot, "stages": lot_stages}
            response = client.post("/v1/lots", json=body, headers=auth)
            assert response.status_code == 201, response.text
        yield SeriesLot(client, db_url, vkeys, devs, tmp, key)


def _early() -> dict[str, Any]:
    """A stage of another lot holding ``dev-a``'s first readings (foreign to ``LOT``)."""
    return _stage("room", "Early room", T + 500, T + 3500, ["dev-a"])
