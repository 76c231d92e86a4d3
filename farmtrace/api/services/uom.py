"""UN/ECE Recommendation 20 common codes the API may emit (a checked subset).

Every ``uom`` in an EPCIS document must be a real Rec 20 code, not just three capitals; this is
the list of codes for the quantities farm sensors report (Rec 20, revision 17, annexes II/III).
"""

from __future__ import annotations

__all__ = ["DISPLAY", "REC20", "display_symbol", "is_rec20", "to_display"]

REC20: dict[str, str] = {
    "CEL": "degree Celsius",
    "FAH": "degree Fahrenheit",
    "KEL": "kelvin",
    "P1": "percent",
    "D10": "siemens per metre",
    "H61": "millisiemens per centimetre",
    "LUX": "lux",
    "KPA": "kilopascal",
    "PAL": "pascal",
    "HPA": "hectopascal",
    "MBR": "millibar",
    "59": "part per million",
    "61": "part per billion",
    "VLT": "volt",
    "2Z": "millivolt",
    "AMP": "ampere",
    "MTR": "metre",
    "MMT": "millimetre",
    "MTS": "metre per second",
    "KGM": "kilogram",
    "GRM": "gram",
    "LTR": "litre",
    "SEC": "second",
    "MIN": "minute [unit of time]",
    "HUR": "hour",
    "C62": "one",
    "H87": "piece",
    "KMH": "kilometre per hour",
    "WTT": "watt",
    "D54": "watt per square metre",
}


def is_rec20(code: str) -> bool:
    """Whether ``code`` is one of the Rec 20 common codes above."""
    return code in REC20


DISPLAY: dict[str, tuple[str, float]] = {
    # code: (symbol people read, factor from the code's unit to the symbol's)
    "CEL": ("°C", 1.0),
    "FAH": ("°F", 1.0),
    "KEL": ("K", 1.0),
    "P1": ("%", 1.0),
    "D10": ("dS/m", 10.0),  # soil EC is read in dS/m: 1 S/m = 10 dS/m
    "H61": ("dS/m", 1.0),  # 1 mS/cm = 1 dS/m
    "LUX": ("lx", 1.0),
    "KPA": ("kPa", 1.0),
    "PAL": ("Pa", 1.0),
    "HPA": ("hPa", 1.0),
    "MBR": ("mbar", 1.0),
    "59": ("ppm", 1.0),
    "61": ("ppb", 1.0),
    "VLT": ("V", 1.0),
    "2Z": ("mV", 1.0),
    "AMP": ("A", 1.0),
    "MTR": ("m", 1.0),
    "MMT": ("mm", 1.0),
    "MTS": ("m/s", 1.0),
    "KMH": ("km/h", 1.0),
    "WTT": ("W", 1.0),
    "D54": ("W/m²", 1.0),
}
"""How people read a Rec 20 code: its symbol, and the factor to that symbol's unit."""


def display_symbol(code: str) -> str:
    """The symbol of a code (``CEL`` -> ``°C``, ``59`` -> ``ppm``); empty for an unknown code,
    so a bare code never reaches a reader as if it were a unit."""
    return DISPLAY[code][0] if code in DISPLAY else ""


def to_display(code: str, value: float) -> float:
    """``value`` in ``code`` converted to :func:`display_symbol`'s unit (S/m -> dS/m)."""
    return value * DISPLAY[code][1] if code in DISPLAY else value
