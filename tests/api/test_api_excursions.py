"""Excursions computed from a lot's readings; acknowledging one needs a key and is signed."""

from __future__ import annotations

import json

import pytest
from support.api import GTIN, LOT, ORIGIN, Served

from farmtrace.api.auth import create_key
from farmtrace.cli import main
from farmtrace.store.ledger import Ledger

URL = f"/v1/lots/{GTIN}/{LOT}/excursions"


def test_excursions_and_signed_acknowledgement(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    found = served.client.get(URL).json()
    # The test readings hold 4.0 °C against lettuce's 3 °C limit: one excursion per device.
    assert len(found) == 3
    first = found[0]
    assert first["direction"] == "high" and first["peak"] == 4.0 and first["limit"] == 3
    assert first["acknowledgement"] is None
    body = {
        "device_id": first["device_id"],
        "measurement": "Temperature",
        "start_ms": first["start_ms"],
        "comment": "Door left open during loading; product re-checked at 2.1 °C.",
    }
    assert served.client.post(f"{URL}/ack", json=body).status_code == 401
    plain = {"Authorization": f"Bearer {served.key}"}
    assert served.client.post(f"{URL}/ack", json=body, headers=plain).status_code == 403
    database = served.client.app.state.farmtrace.database  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {create_key(database, 'qa-lead', ['excursions:ack'])}"}
    done = served.client.post(f"{URL}/ack", json=body, headers=auth)
    assert done.status_code == 201, done.text
    ack = done.json()["acknowledgement"]
    assert ack["by"] == "qa-lead" and ack["status"] == "pending-anchoring"
    assert served.client.post(f"{URL}/ack", json=body, headers=auth).status_code == 409
    wrong = body | {"start_ms": first["start_ms"] + 1}
    assert served.client.post(f"{URL}/ack", json=wrong, headers=auth).status_code == 404
    with Ledger.open(served.db_url, served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    listed = served.client.get(URL).json()[0]["acknowledgement"]
    # The block holds the lot's declaration (queued when it was created), then the record.
    assert listed["status"] == "anchored" and listed["global_index"] == 61
    bundle = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle").json()
    assert bundle["acknowledgements"][0]["status"] == "anchored"
    path = served.tmp / "bundle.json"
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 0
    assert "1 excursion acknowledgements signed by the API's key: 1 anchored" in (
        capsys.readouterr().out
    )
    # A changed comment breaks the signature, and the verifier says which record.
    entry = bundle["acknowledgements"][0]["entry"]
    bundle["acknowledgements"][0]["entry"] = (
        entry[:40] + ("A" if entry[40] != "A" else "B") + entry[41:]
    )
    path.write_text(json.dumps(bundle))
    assert main(["verify", str(path), "--key", served.ledger_vkey]) == 1
    assert "FAIL  acknowledgement 0" in capsys.readouterr().out
    assert main(["audit", "--db", served.db_url, "--state", str(served.tmp / "gw")]) == 0


def test_key_names_are_tokens(served: Served) -> None:
    database = served.client.app.state.farmtrace.database  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no spaces"):
        create_key(database, "qa lead", ["excursions:ack"])
