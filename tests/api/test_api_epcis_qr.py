"""EPCIS 2.0 export against the official JSON Schema (URI formats checked) and QR codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import zxingcpp
from jsonschema import Draft7Validator, FormatChecker
from PIL import Image
from support.api import GTIN, LOT, Served

from farmtrace.api.services.uom import is_rec20

SCHEMA = Path(__file__).resolve().parents[1] / "vectors" / "epcis" / "EPCIS-JSON-Schema.json"


def validator() -> Draft7Validator:
    checker = FormatChecker()
    # rfc3987 must be installed, or jsonschema silently skips "format": "uri".
    assert not checker.conforms("not a uri", "uri")
    return Draft7Validator(json.loads(SCHEMA.read_text()), format_checker=checker)


def test_epcis_document_is_valid_with_alarms(served: Served) -> None:
    auth = {"Authorization": f"Bearer {served.key}"}
    for kind in ("harvest", "cooling", "shipping"):
        event = {
            "kind": kind,
            "time": "2024-06-10T14:00:00+08:00",
            "read_point": "urn:epc:id:sgln:9506000.00001.0",
            "biz_location": "urn:epc:id:sgln:9506000.00002.0",
            "actor": "Li Wei",
        }
        assert (
            served.client.post(
                f"/v1/lots/{GTIN}/{LOT}/events", json=event, headers=auth
            ).status_code
            == 201
        )
    response = served.client.get(f"/v1/lots/{GTIN}/{LOT}/epcis")
    assert response.headers["content-type"].startswith("application/ld+json")
    document = response.json()
    errors = sorted(validator().iter_errors(document), key=str)
    assert not errors, [e.message for e in errors[:5]]
    events = document["epcisBody"]["eventList"]
    steps = [e["bizStep"] for e in events]
    assert steps.count("commissioning") == 1 and "sensor_reporting" in steps
    assert next(e for e in events if e["bizStep"] == "commissioning")["action"] == "ADD"
    sensing = next(e for e in events if e["bizStep"] == "sensor_reporting")
    reports = [r for el in sensing["sensorElementList"] for r in el["sensorReport"]]
    # The test readings hold 4.0 °C against lettuce's 3 °C limit: every device alarms.
    alarms = [r for r in reports if r.get("exception") == "ALARM_CONDITION"]
    assert len(alarms) == 3 and all(a["value"] == 4.0 and a["maxValue"] == 3 for a in alarms)
    assert all(is_rec20(r["uom"]) for r in reports)


def test_schema_catches_a_broken_document(served: Served) -> None:
    document = served.client.get(f"/v1/lots/{GTIN}/{LOT}/epcis").json()
    document["epcisBody"]["eventList"][0]["readPoint"]["id"] = "not a uri"
    assert list(validator().iter_errors(document))


def test_qr_codes_decode_to_the_digital_link(served: Served) -> None:
    want = f"https://127.0.0.1:8000/01/{GTIN}/10/{LOT}"
    png = served.client.get(f"/v1/lots/{GTIN}/{LOT}/qr.png")
    assert png.headers["content-type"] == "image/png"
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))
    assert [b.text for b in found] == [want]
    svg = served.client.get(f"/v1/lots/{GTIN}/{LOT}/qr.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and want in svg.text
    assert served.client.get(f"/v1/lots/{GTIN}/NOPE/qr.png").status_code == 404
