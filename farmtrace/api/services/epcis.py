"""A lot as an EPCIS 2.0 JSON-LD document.

* Each recorded event becomes an ``ObjectEvent`` on the lot's class (``quantityList`` with the
  Digital Link URI as ``epcClass``): harvest is ``commissioning`` with action ``ADD``; the others
  ``OBSERVE`` with their CBV business step.
* Each stage's readings become one ``sensor_reporting`` ``ObjectEvent`` whose
  ``sensorElementList`` has, per device, the minimum, maximum and mean of each measurement, and
  an ``ALARM_CONDITION`` report per excursion the stage's rule finds: the product class's
  cold-chain band in rooms and trucks, its field rules (frost, heat, soil moisture) in the
  field, none elsewhere (``farmtrace.api.services.coldchain.stages``).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from farmtrace.api.schemas.lots import BIZ_STEPS
from farmtrace.api.services.coldchain import Rule, Severity, compute_excursions
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.series import Series, lot_series
from farmtrace.api.services.lots.stage_rules import series_rules
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.uom import is_rec20
from farmtrace.api.state import AppState

__all__ = ["CONTEXT", "lot_document"]

CONTEXT = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld"
CBV_MEASUREMENTS = frozenset(
    [
        "Temperature",
        "RelativeHumidity",
        "VolumeFraction",
        "Conductivity",
        "Illuminance",
        "Pressure",
        "Voltage",
    ]
)
_VOC = "https://farmtrace.example/voc/"


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _event_id(seed: str) -> str:
    return "ni:///sha-256;" + hashlib.sha256(seed.encode()).hexdigest() + "?ver=CBV2.0"


def _measurement_type(name: str) -> str:
    return name if name in CBV_MEASUREMENTS else _VOC + "measurement/" + name.replace(":", "-")


def _device_uri(device_id: str) -> str:
    return device_id if device_id.startswith("urn:") else _VOC + "device/" + device_id


def lot_document(state: AppState, link: DigitalLink, record: LotRecord) -> dict[str, Any]:
    """The EPCIS document of a lot (JSON-ready)."""
    epc_class = link.canonical_uri
    events: list[dict[str, Any]] = []
    for stored in record.events:
        body = stored.entry.body
        event: dict[str, Any] = {
            "type": "ObjectEvent",
            "eventTime": body["eventTime"],
            "eventTimeZoneOffset": body["eventTimeZoneOffset"],
            "eventID": _event_id(stored.entry.payload.hex()),
            "action": "ADD" if body["kind"] == "harvest" else "OBSERVE",
            "bizStep": BIZ_STEPS[body["kind"]],
            "quantityList": [{"epcClass": epc_class}],
            "readPoint": {"id": body["readPoint"]},
        }
        if "bizLocation" in body:
            event["bizLocation"] = {"id": body["bizLocation"]}
        events.append(event)
    series = lot_series(state.lots.readings(record))
    rule_of = dict(
        zip(map(id, series), series_rules(record.product_class, record.stages, series), strict=True)
    )
    for stage in record.stages:
        mine = [s for s in series if s.stage == stage.name]
        if not mine:
            continue
        end = max(s.samples[-1].time_ms for s in mine)
        start = min(s.samples[0].time_ms for s in mine)
        elements = []
        for device in sorted({s.device_id for s in mine}):
            reports = [
                r for s in mine if s.device_id == device for r in _reports(s, rule_of[id(s)])
            ]
            elements.append(
                {
                    "sensorMetadata": {
                        "deviceID": _device_uri(device),
                        "startTime": _iso(start),
                        "endTime": _iso(end),
                    },
                    "sensorReport": reports,
                }
            )
        events.append(
            {
                "type": "ObjectEvent",
                "eventTime": _iso(end),
                "eventTimeZoneOffset": "+00:00",
                "eventID": _event_id(f"{epc_class}|{stage.name}|{start}|{end}"),
                "action": "OBSERVE",
                "bizStep": "sensor_reporting",
                "quantityList": [{"epcClass": epc_class}],
                "readPoint": {"id": _VOC + "place/" + _slug(stage.name)},
                "sensorElementList": elements,
            }
        )
    events.sort(key=lambda e: str(e["eventTime"]))
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _iso(int(datetime.now(UTC).timestamp() * 1000)),
        "epcisBody": {"eventList": events},
    }


def _reports(series: Series, rule: Rule | None) -> list[dict[str, Any]]:
    values = [s.value for s in series.samples]
    summary: dict[str, Any] = {
        "type": _measurement_type(series.measurement),
        "minValue": min(values),
        "maxValue": max(values),
        "meanValue": round(sum(values) / len(values), 6),
    }
    if is_rec20(series.uom):
        summary["uom"] = series.uom
    reports = [summary]
    if rule is not None and rule.unit == series.uom:
        for excursion in compute_excursions(series.samples, rule):
            if excursion.severity is Severity.SPIKE:
                continue  # a door or defrost spike within the grace period is no alarm
            alarm: dict[str, Any] = {
                "type": summary["type"],
                "exception": "ALARM_CONDITION",
                "time": _iso(excursion.start_ms),
                "value": excursion.peak,
                "minValue": rule.low,
                "maxValue": rule.high,
                "bizRules": _VOC + "rule/" + rule.rule_id,
            }
            alarm = {k: v for k, v in alarm.items() if v is not None}
            if "uom" in summary:
                alarm["uom"] = series.uom
            reports.append(alarm)
    return reports


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-._" else "-" for ch in name)
