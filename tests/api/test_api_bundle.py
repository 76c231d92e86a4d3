"""The lot bundle verifies with ``farmtrace verify``; altering a stored reading is caught."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.api import GTIN, LOT, Served
from support.tamper import alter_reading_value

from farmtrace.cli import main

EVENT = {
    "kind": "packing",
    "time": "2024-06-10T15:00:00+08:00",
    "read_point": "urn:epc:id:sgln:9506000.00001.0",
    "actor": "Packhouse 2",
}


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def fetch(served: Served, name: str = "bundle.json") -> Path:
    response = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle")
    assert response.status_code == 200
    path = served.tmp / name
    path.write_bytes(response.content)
    return path


def test_bundle_verifies_offline(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    auth = {"Authorization": f"Bearer {served.key}"}
    assert (
        served.client.post(f"/v1/lots/{GTIN}/{LOT}/events", json=EVENT, headers=auth).status_code
        == 201
    )
    path = fetch(served)
    bundle = json.loads(path.read_bytes())
    assert len(bundle["readings"]) == 60 and len(bundle["blocks"]) == 3
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 0
    out = capsys.readouterr().out
    assert "60 readings" in out and "1 pending anchoring" in out
    assert "signature verifies with the given key" in out


def test_wrong_key_fails(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    from farmtrace.tlog.note import Signer

    other = Signer.generate("farmtrace.example/api-test").verifier.vkey
    assert main(["verify", str(fetch(served)), "--key", other]) == 1
    assert "FAIL  checkpoint of chain farmtrace.example/api-test" in capsys.readouterr().out


def test_altered_reading_is_named(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    # Change the temperature's last byte: the payload still decodes, the signature no longer holds.
    alter_reading_value(served.db_url, 25)
    path = fetch(served, "tampered.json")
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 1
    out = capsys.readouterr().out
    assert "FAIL  reading 25 (device" in out and "device signature does not verify" in out


def test_swapped_entry_fails_inclusion(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = json.loads(fetch(served).read_bytes())
    first, second = bundle["readings"][0], bundle["readings"][1]
    first["entry"], second["entry"] = second["entry"], first["entry"]
    path = served.tmp / "swapped.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 1
    assert "batch inclusion proof does not match" in capsys.readouterr().out


def test_verify_uses_no_rust(served: Served) -> None:
    path = fetch(served)
    # The verifier module on its own (farmtrace's CLI also loads other commands that use Rust).
    code = (
        "import sys, pathlib; from farmtrace.api.services.verify import verify_bundle; "
        "verify_bundle(pathlib.Path(sys.argv[1]).read_bytes(), [sys.argv[2]]); "
        "assert 'rust_core' not in sys.modules, 'rust_core was imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), served.ledger_vkey],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
