"""A lot's excursions: each series of its readings judged by its product class's rule."""

from __future__ import annotations

from dataclasses import dataclass

from farmtrace.api.services.coldchain import (
    PRODUCT_CLASSES,
    ColdChainError,
    Excursion,
    Severity,
    compute_excursions,
)
from farmtrace.api.services.lots.series import Series, lot_series
from farmtrace.api.services.lots.store import LotRecord, LotStore, StoredAck

__all__ = ["LotExcursion", "ack_for", "lot_excursions"]


@dataclass(frozen=True, slots=True)
class LotExcursion:
    """One excursion (spikes within the grace period are left out) and the series it is in."""

    series: Series
    excursion: Excursion


def lot_excursions(store: LotStore, record: LotRecord) -> list[LotExcursion]:
    """Every excursion of the lot's series, by start time."""
    klass = PRODUCT_CLASSES.get(record.product_class)
    if klass is None:
        return []
    found: list[LotExcursion] = []
    for series in lot_series(store.readings(record)):
        rule = klass.rule_for(series.measurement)
        if rule is None or rule.unit != series.uom:
            continue
        try:
            excursions = compute_excursions(series.samples, rule)
        except ColdChainError:
            continue
        found.extend(
            LotExcursion(series, e) for e in excursions if e.severity is not Severity.SPIKE
        )
    found.sort(key=lambda x: (x.excursion.start_ms, x.series.device_id, x.series.measurement))
    return found


def ack_for(item: LotExcursion, acks: tuple[StoredAck, ...]) -> StoredAck | None:
    """The acknowledgement of ``item``, if one was recorded."""
    for stored in acks:
        a = stored.ack
        if (
            a.device == item.series.device_id
            and a.start_ms == item.excursion.start_ms
            and a.rule == item.excursion.rule.canonical()
        ):
            return stored
    return None
