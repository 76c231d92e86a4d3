"""A lot's excursions: each series of its readings judged by its stage's rule (the product class's
cold-chain band in rooms and trucks, its field rules in the field: ``coldchain.stages``)."""

from __future__ import annotations

from dataclasses import dataclass

from farmtrace.api.services.coldchain import (
    ColdChainError,
    Excursion,
    Severity,
    compute_excursions,
)
from farmtrace.api.services.lots.series import Series, lot_series
from farmtrace.api.services.lots.stage_rules import series_rules
from farmtrace.api.services.lots.store import LotRecord, LotStore, StoredAck

__all__ = ["LotExcursion", "ack_for", "lot_excursions"]


@dataclass(frozen=True, slots=True)
class LotExcursion:
    """One excursion (spikes within the grace period are left out) and the series it is in."""

    series: Series
    excursion: Excursion


def lot_excursions(store: LotStore, record: LotRecord) -> list[LotExcursion]:
    """Every excursion of the lot's series, by start time."""
    found: list[LotExcursion] = []
    all_series = lot_series(store.readings(record))
    rules = series_rules(record.product_class, record.stages, all_series)
    for series, rule in zip(all_series, rules, strict=True):
        if rule is None:
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
