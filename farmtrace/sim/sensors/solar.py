"""Where the sun is: day length, sunrise and elevation from latitude, longitude and UTC time.

Cooper's declination formula and local solar time from longitude; good to a few minutes, which
is all a day curve for air temperature and light needs.
"""

from __future__ import annotations

import math

DAY = 86400.0


def day_index(t: float, longitude: float) -> int:
    """Local solar day number (days since 1970 at the site)."""
    return int((t + longitude / 15.0 * 3600.0) // DAY)


def solar_hour(t: float, longitude: float) -> float:
    """Local solar time of day in hours, 0-24 (12 is solar noon)."""
    return ((t + longitude / 15.0 * 3600.0) % DAY) / 3600.0


def declination(t: float) -> float:
    """Solar declination in radians."""
    day_of_year = (
        t / DAY + 1.0
    ) % 365.25  # close enough: the walk of the year matters, not leap days
    return math.radians(23.44) * math.sin(2.0 * math.pi * (284.0 + day_of_year) / 365.0)


def day_length(t: float, latitude: float) -> float:
    """Hours between sunrise and sunset, clamped away from polar day and night."""
    cos_hour_angle = -math.tan(math.radians(latitude)) * math.tan(declination(t))
    cos_hour_angle = min(0.97, max(-0.97, cos_hour_angle))
    return 2.0 * math.degrees(math.acos(cos_hour_angle)) / 15.0


def sin_elevation(t: float, latitude: float, longitude: float) -> float:
    """Sine of the sun's elevation (negative at night)."""
    phi = math.radians(latitude)
    delta = declination(t)
    hour_angle = math.radians(15.0 * (solar_hour(t, longitude) - 12.0))
    return math.sin(phi) * math.sin(delta) + math.cos(phi) * math.cos(delta) * math.cos(hour_angle)
