"""The demo's sample lots, created through the real write API (``POST /v1/lots`` and events).

Lettuce is harvested in the North field (the simulator's ``field-north``), cooled, packed and
stored in Cold room 1 (``coldroom-1``) and shipped in Truck 1 (``truck-1``), which delivers it
at its first drop; tomatoes come from the South field (``field-south``). Stages carry the names
people read and the places' SGLNs; they name the simulator's devices of each place and time
windows on the simulator's clock, counted from the demo's simulated start (06:00 UTC). The
lettuce's windows keep it in the cold chain before the truck's first drop (its doors open
from about 06:52 UTC), so a normal run is a normal lot: no excursion.
Creating is idempotent: an existing lot (409) is kept, and an event is only recorded when the
lot has none of that kind yet, so a second run duplicates nothing.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from farmtrace.demo.errors import DemoError
from farmtrace.sim.scenario import load

__all__ = ["SampleLot", "create_sample_lots", "request", "sample_lots", "sample_stage"]

_TIMEOUT_S = 30.0
# The farm's places: (SGLN, name people read). Company prefix 4012345, as the simulator's
# device IDs; the truck has no fixed location, so no SGLN.
_FIELD_NORTH = ("urn:epc:id:sgln:4012345.00001.0", "North field")
_FIELD_SOUTH = ("urn:epc:id:sgln:4012345.00002.0", "South field")
_PACKHOUSE = ("urn:epc:id:sgln:4012345.00010.0", "Greenacre packhouse")
_COLDROOM = ("urn:epc:id:sgln:4012345.00011.0", "Cold room 1")
_DOCK = ("urn:epc:id:sgln:4012345.00012.0", "Loading dock")
_TRUCK = ("", "Truck 1")
_MARKET = ("urn:epc:id:sgln:9506000.00001.0", "Fresh market DC")


@dataclass(frozen=True)
class SampleLot:
    """A lot's creation body and its events (``POST /v1/lots/{gtin}/{lot}/events`` bodies)."""

    body: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def gtin(self) -> str:
        return str(self.body["gtin"])

    @property
    def lot(self) -> str:
        return str(self.body["lot"])

    @property
    def path(self) -> str:
        return f"/01/{self.gtin}/10/{self.lot}"


def _devices_of(place: str) -> list[str]:
    scenario = load("small-farm")
    found = [d.device_id for d in scenario.devices if d.environment == place]
    if not found:
        raise DemoError(f"the small-farm scenario has no devices in {place!r}")
    return found


def _at(start: datetime, minutes: float) -> str:
    return (start + timedelta(minutes=minutes)).isoformat()


def _event(
    kind: str, start: datetime, minutes: float, place: tuple[str, str], actor: str
) -> dict[str, Any]:
    read_point, name = place
    return {
        "kind": kind,
        "time": _at(start, minutes),
        "read_point": read_point,
        "place_name": name,
        "actor": actor,
    }


def sample_lots(start: datetime) -> list[SampleLot]:
    """The two sample lots with windows counted from the simulated start ``start`` (UTC)."""
    lettuce = SampleLot(
        {
            "gtin": "04012345000016",
            "lot": "LOT-2026-0417",
            "product_name": "Butterhead lettuce",
            "product_class": "lettuce",
            "farm": "Greenacre Farm",
            "origin_region": "Gelderland, NL",
            "stages": [
                sample_stage("field", _FIELD_NORTH, "field-north", start, 0, 15),
                sample_stage("room", _COLDROOM, "coldroom-1", start, 15, 35),
                sample_stage("truck", _TRUCK, "truck-1", start, 35, 50),
            ],
        },
        [
            _event("harvest", start, 10, _FIELD_NORTH, "Greenacre harvest crew"),
            _event("cooling", start, 16, _COLDROOM, "Greenacre cold store"),
            _event("packing", start, 25, _PACKHOUSE, "Greenacre packhouse"),
            _event("storing", start, 28, _COLDROOM, "Greenacre cold store"),
            _event("shipping", start, 35, _DOCK, "Greenacre logistics"),
            _event("receiving", start, 50, _MARKET, "Fresh market DC"),
        ],
    )
    tomatoes = SampleLot(
        {
            "gtin": "04012345000023",
            "lot": "HARVEST-2026-S",
            "product_name": "Vine tomatoes",
            "product_class": "tomatoes",
            "farm": "Greenacre Farm",
            "origin_region": "Gelderland, NL",
            "stages": [sample_stage("field", _FIELD_SOUTH, "field-south", start, 0, 45)],
        },
        [
            _event("harvest", start, 40, _FIELD_SOUTH, "Greenacre harvest crew"),
            _event("packing", start, 45, _PACKHOUSE, "Greenacre packhouse"),
        ],
    )
    return [lettuce, tomatoes]


def sample_stage(
    kind: str,
    place: tuple[str, str],
    environment: str,
    start: datetime,
    begin: float,
    end: float,
) -> dict[str, Any]:
    """A stage of ``kind`` at ``place`` naming the simulator's devices in ``environment``,
    from ``begin`` to ``end`` minutes after ``start``."""
    place_id, name = place
    stage = {
        "kind": kind,
        "name": name,
        "start": _at(start, begin),
        "end": _at(start, end),
        "device_ids": _devices_of(environment),
    }
    if place_id:
        stage["place_id"] = place_id
    return stage


def create_sample_lots(base_url: str, api_key: str, start: datetime) -> list[SampleLot]:
    """Create the sample lots and their missing events through the API at ``base_url``."""
    lots = sample_lots(start)
    for sample in lots:
        status, answer = request(base_url, "POST", "/v1/lots", api_key, sample.body)
        if status not in (201, 409):
            raise DemoError(f"creating lot {sample.lot}: HTTP {status}: {answer}")
        status, answer = request(base_url, "GET", f"/v1/lots/{sample.gtin}/{sample.lot}")
        if status != 200:
            raise DemoError(f"reading lot {sample.lot}: HTTP {status}: {answer}")
        recorded = {event["kind"] for event in answer.get("events", [])}
        for event in sample.events:
            if event["kind"] in recorded:
                continue
            path = f"/v1/lots/{sample.gtin}/{sample.lot}/events"
            status, answer = request(base_url, "POST", path, api_key, event)
            if status != 201:
                raise DemoError(
                    f"recording {event['kind']} of {sample.lot}: HTTP {status}: {answer}"
                )
    return lots


def request(
    base_url: str, method: str, path: str, api_key: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """``(status, JSON answer)`` of one API request (with ``api_key`` as a Bearer token);
    :class:`DemoError` only when no answer came."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if api_key is not None:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")
        try:
            return exc.code, json.loads(detail)
        except ValueError:
            return exc.code, detail
    except (urllib.error.URLError, OSError) as exc:
        raise DemoError(f"{method} {base_url}{path}: {exc}") from exc
