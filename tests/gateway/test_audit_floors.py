"""``farmtrace audit`` and stored drop floors, on SQLite and PostgreSQL: each floor's signed
statement is checked with its device's registered key, the seqs it explains are counted as
lost by the device, and a stored floor that does not verify fails the audit."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from support.readings import SimDevice, devices
from support.tamper import flip_byte, update_row

from farmtrace.cli import main
from farmtrace.store.dropfloors import StoredFloor, record_floors
from farmtrace.store.ledger import Ledger

ORIGIN = "farmtrace.example/gw-1"
A, B, C = devices(3)


def audit(db_url: str) -> tuple[int, dict[str, Any], str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["audit", "--db", db_url, "--json"])
    return code, json.loads(out.getvalue()), err.getvalue()


@pytest.fixture
def floored(db_url: str, tmp_path: Path) -> str:
    """A stores 1, 3, 5, 6 and gave up through 4; B stores 1-3 and no floor; C stored nothing
    and gave up through 2."""
    with Ledger.open(db_url, tmp_path / "state", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in (A, B, C)})
        ledger.append_batch([A.reading(s) for s in (1, 3, 5, 6)] + [B.reading(s) for s in (1, 2)])
        ledger.append_batch([B.reading(3)])
        floors = [(A, 3), (A, 4), (C, 2)]
        written = record_floors(
            ledger.engine, [StoredFloor(d.device_id, f, d.drop_floor(f), 1.0) for d, f in floors]
        )
        assert written == 3
    return db_url


def by_device(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["device_id"]: d for d in report["devices"]}


def test_floors_verify_and_explain_the_lost_seqs(floored: str) -> None:
    code, report, _ = audit(floored)
    assert code == 0 and report["ok"], report["failure"]
    devs = by_device(report)
    a, b, c = devs[A.device_id], devs[B.device_id], devs[C.device_id]
    # Seqs 2 and 4 are missing: still gaps, and explained by the floor.
    assert (a["drop_floor"], a["lost_by_floor"], a["gaps"]) == (4, 2, [[2, 2], [4, 4]])
    assert (b["drop_floor"], b["lost_by_floor"]) == (0, 0)
    assert (c["drop_floor"], c["lost_by_floor"], c["readings"]) == (2, 2, 0)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", "--db", floored]) == 0
    assert f"{A.device_id}: floor 4, 2 lost by the device" in out.getvalue()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p: flip_byte(p, 15), "signature does not verify"),  # the timestamp
        (lambda p: flip_byte(p, 10), "says floor 5 of"),  # the floor, unlike the row's column
        (lambda p: flip_byte(p, len(p) - 1), "signature does not verify"),  # the signature
        (lambda p: p[:-1], "malformed"),
        (lambda _p: SimDevice(A.device_id, B.key).drop_floor(4), "signature does not verify"),
        (lambda _p: B.drop_floor(4), "says floor 4 of 'dev-0001'"),
    ],
    ids=[
        "timestamp-byte",
        "floor-byte",
        "signature-byte",
        "truncated",
        "other-key",
        "other-device",
    ],
)
def test_a_tampered_floor_fails_the_audit(floored: str, change: Any, reason: str) -> None:
    original = A.drop_floor(4)
    where = {"device_id": A.device_id, "floor": 4}
    assert update_row(floored, "drop_floors", where, {"payload": change(original)}) == 1
    code, report, err = audit(floored)
    assert code != 0 and not report["ok"]
    assert report["failure"]["item"] == f"drop floor 4 of device {A.device_id}"
    assert reason in report["failure"]["reason"]
    assert f"farmtrace audit: drop floor 4 of device {A.device_id}: " in err
