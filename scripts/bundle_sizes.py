"""Bytes of the demo lots' bundles, and where they go: ``.venv/bin/python scripts/bundle_sizes.py``.

Builds, in a temporary SQLite database, what ``farmtrace demo`` stores for its sample lots
(``farmtrace.demo.lots``): the small-farm scenario's devices reading at their intervals with
the simulator's sensors, sealed one block per simulated minute (the demo's gateway closes a
batch each wall-clock second at ``--speed 60``), the two lots and their events created through
the real API, then a block anchoring the events. It prints, per lot, the bundle's size as the
API serves it, its readings (all, and the lot's: inside a stage window), bytes per lot reading
and the bytes of each part. Deterministic for a ``--seed``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from farmtrace.api.auth import create_key
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.demo.lots import sample_lots
from farmtrace.sim.scenario import load
from farmtrace.sim.sensors.kinds import KINDS
from farmtrace.sim.world import build_environments
from farmtrace.store.ledger import Ledger
from farmtrace.store.records import PendingReading
from farmtrace.wire.protocol import Measurement, Reading, decode, sign

START = datetime(2026, 4, 17, 6, tzinfo=UTC)


def _readings(minutes: int, seed: int) -> tuple[dict[str, bytes], list[list[PendingReading]]]:
    """Device keys, and the readings of each simulated minute."""
    scenario = load("small-farm")
    environments = build_environments(scenario, seed)
    keys, blocks = {}, [[] for _ in range(minutes)]
    start_s = START.timestamp()
    for spec in scenario.devices:
        seed_bytes = hashlib.sha256(f"bundle-sizes/{spec.device_id}".encode()).digest()
        key = Ed25519PrivateKey.from_private_bytes(seed_bytes)
        keys[spec.device_id] = key.public_key().public_bytes_raw()
        rng = random.Random(f"{seed}:{spec.device_id}")
        sensor = KINDS[spec.kind][1](environments[spec.environment], rng)
        t, seq = rng.uniform(0, spec.interval), 0
        while t < minutes * 60:
            values = sensor.measure(start_s + t)
            if values is not None:
                seq += 1
                ts = round((start_s + t) * 1000)
                reading = Reading(
                    spec.device_id,
                    seq,
                    ts,
                    spec.site,
                    spec.lot,
                    tuple(Measurement(k, v, u) for k, v, u in values),
                )
                payload = sign(reading, key)
                blocks[int(t // 60)].append(PendingReading(spec.device_id, seq, ts, payload, ts))
            t += spec.interval
    return keys, blocks


def _parts(bundle: dict[str, Any]) -> dict[str, int]:
    def size(value: Any) -> int:
        return len(json.dumps(value, separators=(",", ":")))

    readings = bundle["readings"]
    entries = sum(size(r["entry"]) for r in readings)
    proofs = sum(size(r["inclusion_proof"]) for r in readings)
    blocks = size(bundle["blocks"])
    series = size(bundle.get("series", [])) + size(bundle.get("drop_floors", {}))
    total = size(bundle)
    return {
        "entries": entries,
        "inclusion proofs": proofs,
        "blocks": blocks,
        "series": series,
        "rest": total - entries - proofs - blocks - series,
    }


def _long_lot(lettuce: Any, hours: float) -> Any:
    """The lettuce's cold room stage alone, ``hours`` long, as another lot (no events)."""
    room = next(s for s in lettuce.body["stages"] if s["kind"] == "room")
    end = START.timestamp() + hours * 3600
    stage = {
        **room,
        "start": START.isoformat(),
        "end": datetime.fromtimestamp(end, UTC).isoformat(),
    }
    body = {**lettuce.body, "lot": "LOT-LONG", "stages": [stage]}
    return type(lettuce)(body, [])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=120, help="simulated minutes stored")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--long-hours",
        type=float,
        default=0.0,
        help="also a long lot: coldroom-1's devices over this many hours (stores as much more)",
    )
    args = parser.parse_args(argv)
    args.minutes = max(args.minutes, int(args.long_hours * 60) + 30)
    with tempfile.TemporaryDirectory(prefix="bundle-sizes-") as tmp_dir:
        tmp = Path(tmp_dir)
        db_url = f"sqlite:///{tmp / 'chain.db'}"
        keys, blocks = _readings(args.minutes, args.seed)
        with Ledger.open(db_url, tmp / "gw", "farmtrace.example/demo") as ledger:
            ledger.register_devices(keys)
            for batch in blocks:
                if batch:
                    ledger.append_batch(sorted(batch, key=lambda r: r.timestamp_ms))
            settings = Settings(
                db_url=db_url, state_dir=tmp / "api", rate_per_s=1e6, rate_burst=1e6
            )
            app = create_app(settings)
            token = create_key(
                app.state.farmtrace.database, "sizes", ["lots:write", "events:write"]
            )
            auth = {"Authorization": f"Bearer {token}"}
            lots = sample_lots(START)
            if args.long_hours:
                lots.append(_long_lot(lots[0], args.long_hours))
            with TestClient(app) as client:
                for lot in lots:
                    assert client.post("/v1/lots", json=lot.body, headers=auth).status_code == 201
                    for event in lot.events:
                        path = f"/v1/lots/{lot.gtin}/{lot.lot}/events"
                        assert client.post(path, json=event, headers=auth).status_code == 201
                ledger.append_batch([])  # anchors the events (and any lot declarations)
                print(
                    f"{'lot':<16} {'bytes':>9} {'readings':>8} {'in lot':>6} {'B/lot rdg':>9}  parts"
                )
                for lot in lots:
                    response = client.get(f"/v1/lots/{lot.gtin}/{lot.lot}/bundle")
                    bundle = response.json()
                    readings = bundle["readings"]
                    in_lot = sum(1 for r in readings if not r.get("boundary"))
                    size = len(response.content)
                    parts = ", ".join(f"{k} {v}" for k, v in _parts(bundle).items())
                    devices = {decode(base64.b64decode(r["entry"])).device_id for r in readings}
                    print(
                        f"{lot.lot:<16} {size:>9} {len(readings):>8} {in_lot:>6} "
                        f"{size / max(in_lot, 1):>9.0f}  {parts}; {len(devices)} devices"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
