"""The rule for each of a lot's series, chosen by the kind of stage it was measured in.

One place for the page, the EPCIS export and the excursion list, so the three never disagree
about what counts as an excursion (:func:`farmtrace.api.services.coldchain.stages.stage_rule`).
"""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.api.services.coldchain import Rule
from farmtrace.api.services.coldchain.stages import SOIL_MOISTURE, stage_rule
from farmtrace.api.services.lots.series import Series
from farmtrace.store.lots import StageRecord

__all__ = ["series_rules", "stage_kinds"]


def stage_kinds(stages: Sequence[StageRecord]) -> dict[str, str]:
    """Stage name -> kind (``field``, ``room``, ``truck``...)."""
    return {s.name: s.kind for s in stages}


def series_rules(
    product_class: str, stages: Sequence[StageRecord], series: Sequence[Series]
) -> list[Rule | None]:
    """The rule judging each of ``series`` (same order), None where none applies.

    A device that reports soil moisture in a stage is taken for a soil probe there: its
    temperature is the soil's and no air rule judges it.
    """
    kinds = stage_kinds(stages)
    soil = {(s.stage, s.device_id) for s in series if s.measurement == SOIL_MOISTURE}
    return [
        stage_rule(
            product_class,
            kinds.get(s.stage, ""),
            s.measurement,
            s.uom,
            soil_device=(s.stage, s.device_id) in soil,
        )
        for s in series
    ]
