"""UN/ECE Recommendation 20 common codes the API may emit (a checked subset).

Every ``uom`` in an EPCIS document must be a real Rec 20 code, not just three capitals; this is
the list of codes for the quantities farm sensors report (Rec 20, revision 17, annexes II/III).
"""

from __future__ import annotations

__all__ = ["REC20", "is_rec20"]

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
