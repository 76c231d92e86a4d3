"""Which rule judges a measurement: the stage decides, not the product class alone.

A product class's cold-chain bands (:mod:`farmtrace.api.services.coldchain.rules`) hold only
where the product is in the cold chain: rooms, trucks and display cases (:data:`COLD_STAGES`).
In the field the same lettuce stands in 12 °C air at 85 %RH, which is normal growing weather,
not an excursion: field stages are judged by the class's *field rules* (frost and heat stress
of the air, soil moisture between wilting point and saturation), read from
``data/rules/field.json`` next to this module, each with its source. A class or measurement
without a field rule is shown without a band. Any other stage kind has no band either.

Field air-temperature rules judge air sensors only: a device that also reports soil moisture
is a soil probe, and its temperature is the soil's (damped, lagging the air), shown unjudged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from farmtrace.api.services.coldchain.errors import ColdChainError
from farmtrace.api.services.coldchain.rules import PRODUCT_CLASSES, Rule

__all__ = [
    "COLD_STAGES",
    "FIELD_STAGES",
    "SOIL_MOISTURE",
    "FieldRule",
    "field_rules",
    "stage_rule",
]

COLD_STAGES = frozenset({"room", "truck", "display"})
"""Stage kinds where the product is in the cold chain."""
FIELD_STAGES = frozenset({"field"})
"""Stage kinds where the product grows."""
SOIL_MOISTURE = "VolumeFraction"
"""The EPCIS measurement type of soil water content (% VWC)."""

_RULE_FIELDS = ("low", "high", "ideal_low", "ideal_high")


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A field rule and what it applies to: ``air`` (weather sensors) or ``soil`` (probes)."""

    rule: Rule
    applies_to: Literal["air", "soil"]


def _load(text: str) -> dict[str, tuple[FieldRule, ...]]:
    data = json.loads(text)
    out: dict[str, tuple[FieldRule, ...]] = {}
    for cls, items in data["classes"].items():
        rules = []
        for item in items:
            rules.append(_field_rule(cls, item))
        out[cls] = tuple(rules)
    return out


def _field_rule(cls: str, item: dict[str, Any]) -> FieldRule:
    where = f"field rule {cls}/{item.get('measurement')!r}"
    applies_to = item.get("what")
    if applies_to not in ("air", "soil"):
        raise ColdChainError(f"{where}: 'what' must be 'air' or 'soil', got {applies_to!r}")
    if not item.get("source"):
        raise ColdChainError(f"{where}: names no source")
    limit = {k: None if item.get(k) is None else float(item[k]) for k in _RULE_FIELDS}
    rule = Rule(
        rule_id=f"{cls}/field/{item['measurement']}@1",
        measurement=str(item["measurement"]),
        unit=str(item["unit"]),
        low=limit["low"],
        high=limit["high"],
        ideal_low=limit["ideal_low"],
        ideal_high=limit["ideal_high"],
        grace_min=float(item["grace_min"]),
        consecutive_min=float(item["consecutive_min"]),
        cumulative_min=float(item["cumulative_min"]),
        window_h=float(item["window_h"]),
        source=str(item["source"]),
    )
    return FieldRule(rule, applies_to)


@cache
def field_rules() -> dict[str, tuple[FieldRule, ...]]:
    """Every product class's field rules, from ``data/rules/field.json`` (read once)."""
    path = resources.files(__package__).joinpath("data", "rules", "field.json")
    return _load(path.read_text(encoding="utf-8"))


def stage_rule(
    product_class: str, stage_kind: str, measurement: str, unit: str, *, soil_device: bool = False
) -> Rule | None:
    """The rule judging ``measurement`` in ``unit`` during a stage of kind ``stage_kind``.

    Cold stages: the class's cold-chain rule. Field stages: the class's field rule for the
    measurement, if any, and for ``Temperature`` only from an air sensor (``soil_device``
    False). None (shown without a band) for anything else, an unknown class, or a rule in
    another unit than the series'.
    """
    rule: Rule | None = None
    if stage_kind in COLD_STAGES:
        klass = PRODUCT_CLASSES.get(product_class)
        rule = None if klass is None else klass.rule_for(measurement)
    elif stage_kind in FIELD_STAGES:
        for candidate in field_rules().get(product_class, ()):
            if candidate.rule.measurement != measurement:
                continue
            if measurement != SOIL_MOISTURE and (candidate.applies_to == "soil") != soil_device:
                continue
            rule = candidate.rule
            break
    return rule if rule is not None and rule.unit == unit else None
