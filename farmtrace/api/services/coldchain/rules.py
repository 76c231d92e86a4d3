"""Cold-chain rules: the band a measurement must stay in, and when leaving it is a breach.

Bands come from the US FDA Food Code, EU quick-frozen food rules, China GB/T 24616-2019 and
produce storage bands (docs/consumer-page.md lists each band with its source). A :class:`Rule` applies to one measurement type
(EPCIS ``Temperature`` in ``CEL``, ``RelativeHumidity`` in ``P1``) and says:

* ``low`` / ``high``: the alarm limits; a value below ``low`` or above ``high`` is *outside*.
  Either may be ``None`` (no limit on that side). Limits are inclusive: ``high`` itself is in.
* ``grace_min``: an excursion shorter than this that *returns* to the band (a door opening, a
  defrost cycle) is a ``spike``: counted and shown, never a breach on its own.
* ``consecutive_min``: an excursion lasting at least this long is a ``breach``.
* ``cumulative_min`` within ``window_h``: if the time outside the band (spikes included) in any
  window of ``window_h`` hours reaches ``cumulative_min``, that is a cumulative breach.
* ``gap_factor``: two samples further apart than ``gap_factor`` times the series' usual interval
  bound a gap: *no data*, never counted as in range.

Produce bands are storage optima. Sensors are ±0.3-1 °C and compressors swing 0.5-1.5 °C, so an
alarm exactly at the optimum would fire all day: each class keeps its optimum (``ideal_low`` /
``ideal_high``, shown to people) and sets alarm limits a stated tolerance outside it, never past
the point of damage (freezing below, chilling injury for chill-sensitive produce).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from farmtrace.api.services.coldchain.errors import ColdChainError

__all__ = [
    "PRODUCT_CLASSES",
    "ProductClass",
    "Rule",
    "product_class",
]

TEMPERATURE = "Temperature"
HUMIDITY = "RelativeHumidity"
_UNITS = {TEMPERATURE: "CEL", HUMIDITY: "P1"}


@dataclass(frozen=True, slots=True)
class Rule:
    """How one measurement of one product class is judged (see the module docstring).

    ``rule_id`` names the rule and its version (``lettuce/Temperature@1``); it is stored with
    every excursion and acknowledgement, so a changed rule must get a new id.
    """

    rule_id: str
    measurement: str
    unit: str
    low: float | None
    high: float | None
    ideal_low: float | None
    ideal_high: float | None
    grace_min: float
    consecutive_min: float
    cumulative_min: float
    window_h: float
    gap_factor: float = 3.0
    source: str = ""

    def __post_init__(self) -> None:
        if not self.rule_id or any(ch.isspace() for ch in self.rule_id):
            raise ColdChainError(f"rule id {self.rule_id!r} must be non-empty without spaces")
        if self.low is None and self.high is None:
            raise ColdChainError(f"rule {self.rule_id} has neither a low nor a high limit")
        values = [self.low, self.high, self.ideal_low, self.ideal_high]
        if any(v is not None and not math.isfinite(v) for v in values):
            raise ColdChainError(f"rule {self.rule_id} has a limit that is not a finite number")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ColdChainError(f"rule {self.rule_id}: low {self.low} is above high {self.high}")
        durations = {
            "grace_min": self.grace_min,
            "consecutive_min": self.consecutive_min,
            "cumulative_min": self.cumulative_min,
            "window_h": self.window_h,
        }
        for name, value in durations.items():
            if not math.isfinite(value) or value < 0:
                raise ColdChainError(f"rule {self.rule_id}: {name} {value} must be >= 0")
        if self.window_h == 0 or self.consecutive_min == 0:
            raise ColdChainError(f"rule {self.rule_id}: window_h and consecutive_min must be > 0")
        if self.grace_min > self.consecutive_min:
            raise ColdChainError(
                f"rule {self.rule_id}: grace {self.grace_min} min exceeds the consecutive "
                f"limit {self.consecutive_min} min"
            )
        if not math.isfinite(self.gap_factor) or self.gap_factor < 1:
            raise ColdChainError(f"rule {self.rule_id}: gap_factor {self.gap_factor} must be >= 1")

    def is_outside(self, value: float) -> bool:
        """Whether ``value`` is outside the alarm limits (the limits themselves are inside)."""
        return (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        )

    def direction(self, value: float) -> str:
        """``"low"``, ``"high"`` or ``"in"`` for a value."""
        if self.low is not None and value < self.low:
            return "low"
        if self.high is not None and value > self.high:
            return "high"
        return "in"

    def canonical(self) -> str:
        """One line that fixes every parameter, for signed records: ``id k=v k=v ...``."""
        fields = [
            ("measurement", self.measurement),
            ("unit", self.unit),
            ("low", _num(self.low)),
            ("high", _num(self.high)),
            ("grace_min", _num(self.grace_min)),
            ("consecutive_min", _num(self.consecutive_min)),
            ("cumulative_min", _num(self.cumulative_min)),
            ("window_h", _num(self.window_h)),
            ("gap_factor", _num(self.gap_factor)),
        ]
        return self.rule_id + "".join(f" {k}={v}" for k, v in fields)


def _num(value: float | None) -> str:
    return "none" if value is None else repr(float(value))


@dataclass(frozen=True, slots=True)
class ProductClass:
    """A kind of product with its rules, one per measurement type it is judged on."""

    name: str
    title_en: str
    title_zh: str
    rules: tuple[Rule, ...]
    note: str = ""

    def rule_for(self, measurement: str) -> Rule | None:
        """The rule for a measurement type, or None if the class does not judge it."""
        return next((r for r in self.rules if r.measurement == measurement), None)

    def require(self, measurement: str) -> Rule:
        """The rule for a measurement type; :class:`ColdChainError` if the class has none."""
        rule = self.rule_for(measurement)
        if rule is None:
            judged = ", ".join(r.measurement for r in self.rules)
            raise ColdChainError(
                f"product class {self.name} has no rule for {measurement} ({judged})"
            )
        return rule


def _temp(
    cls: str,
    ideal: tuple[float | None, float | None],
    limits: tuple[float | None, float | None],
    source: str,
    *,
    grace: float = 20,
    consecutive: float = 45,
    cumulative: float = 120,
) -> Rule:
    return Rule(
        rule_id=f"{cls}/{TEMPERATURE}@1",
        measurement=TEMPERATURE,
        unit=_UNITS[TEMPERATURE],
        low=limits[0],
        high=limits[1],
        ideal_low=ideal[0],
        ideal_high=ideal[1],
        grace_min=grace,
        consecutive_min=consecutive,
        cumulative_min=cumulative,
        window_h=24,
        source=source,
    )


def _rh(cls: str, ideal: tuple[float, float], limits: tuple[float, float]) -> Rule:
    # Humidity sensors are ±2-5 %RH and produce tolerates hours of drift: longer limits.
    return Rule(
        rule_id=f"{cls}/{HUMIDITY}@1",
        measurement=HUMIDITY,
        unit=_UNITS[HUMIDITY],
        low=limits[0],
        high=limits[1],
        ideal_low=ideal[0],
        ideal_high=ideal[1],
        grace_min=30,
        consecutive_min=120,
        cumulative_min=360,
        window_h=24,
        source="published produce storage bands; ±5 %RH tolerance for sensor accuracy",
    )


_PRODUCE = "published produce storage bands (USDA Agriculture Handbook 66)"
_TOL = "alarm limits: optimum widened by the stated tolerance"

_CLASSES = (
    ProductClass(
        "lettuce",
        "Lettuce",
        "生菜",
        (
            # Lettuce freezes near -0.2 °C: only 0.5 °C below the optimum; 2 °C above it.
            _temp("lettuce", (0, 1), (-0.5, 3), f"{_PRODUCE}; {_TOL} (-0.5/+2 °C)"),
            _rh("lettuce", (95, 99), (90, 100)),
        ),
        "optimum 0-1 °C at 95-99 %RH; alarms below -0.5 °C (freezing) or above 3 °C",
    ),
    ProductClass(
        "apples",
        "Apples",
        "苹果",
        (
            _temp("apples", (0, 4), (-1, 5), f"{_PRODUCE}; {_TOL} (±1 °C)"),
            _rh("apples", (90, 95), (85, 100)),
        ),
        "optimum 0-4 °C at 90-95 %RH",
    ),
    ProductClass(
        "strawberries",
        "Strawberries",
        "草莓",
        (
            _temp("strawberries", (0, 0), (-0.5, 2), f"{_PRODUCE}; {_TOL} (-0.5/+2 °C)"),
            _rh("strawberries", (90, 95), (85, 100)),
        ),
        "optimum 0 °C at 90-95 %RH; fragile: short limits",
    ),
    ProductClass(
        "tomatoes",
        "Tomatoes",
        "番茄",
        (
            # Chill-sensitive: the lower limit matters as much as the upper one.
            _temp("tomatoes", (13, 21), (12, 22), f"{_PRODUCE}; chill-sensitive; {_TOL} (±1 °C)"),
            _rh("tomatoes", (85, 90), (80, 95)),
        ),
        "optimum 13-21 °C at 85-90 %RH; chilling injury below 12 °C",
    ),
    ProductClass(
        "cucumbers",
        "Cucumbers",
        "黄瓜",
        (
            _temp("cucumbers", (10, 13), (9, 14), f"{_PRODUCE}; chill-sensitive; {_TOL} (±1 °C)"),
            _rh("cucumbers", (90, 95), (85, 100)),
        ),
        "optimum 10-13 °C; chilling injury below 9 °C",
    ),
    ProductClass(
        "bananas",
        "Bananas",
        "香蕉",
        (
            _temp("bananas", (13, 16), (12, 17), f"{_PRODUCE}; chill-sensitive; {_TOL} (±1 °C)"),
            _rh("bananas", (85, 95), (80, 100)),
        ),
        "optimum 13-16 °C; chilling injury below 12 °C",
    ),
    ProductClass(
        "onions",
        "Onions",
        "洋葱",
        (
            _temp("onions", (0, 2), (-1, 4), f"{_PRODUCE}; {_TOL} (-1/+2 °C)"),
            _rh("onions", (60, 70), (55, 75)),
        ),
        "optimum 0-2 °C at 60-70 %RH (dry storage)",
    ),
    ProductClass(
        "chilled",
        "Chilled food",
        "冷藏食品",
        (_temp("chilled", (0, 8), (0, 8), "GB/T 24616-2019: below 8 °C and above freezing"),),
        "GB/T 24616-2019 chilled: 0-8 °C",
    ),
    ProductClass(
        "chilled-fda",
        "Chilled food (FDA)",
        "冷藏食品 (FDA)",
        (_temp("chilled-fda", (0, 5), (0, 5), "US FDA Food Code cold holding ≤ 5 °C (41 °F)"),),
        "US FDA Food Code cold holding: at most 5 °C",
    ),
    ProductClass(
        "frozen",
        "Frozen food",
        "冷冻食品",
        (
            _temp(
                "frozen",
                (None, -18),
                (None, -18),
                "FDA Food Code, EU quick-frozen food, GB/T 24616-2019: ≤ -18 °C",
                grace=15,
                consecutive=30,
                cumulative=90,
            ),
        ),
        "at most -18 °C everywhere",
    ),
)

PRODUCT_CLASSES: dict[str, ProductClass] = {c.name: c for c in _CLASSES}
"""Every known product class by name."""


def product_class(name: str) -> ProductClass:
    """The product class called ``name``; :class:`ColdChainError` naming the known ones if none."""
    try:
        return PRODUCT_CLASSES[name]
    except KeyError:
        known = ", ".join(sorted(PRODUCT_CLASSES))
        raise ColdChainError(f"unknown product class {name!r} (known: {known})") from None
