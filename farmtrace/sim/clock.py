"""Simulated time: a clock that can run faster than the wall clock.

Readings carry simulated timestamps; the network (keep-alives, back-off, time-outs) runs on the
wall clock. ``SimClock`` maps one onto the other: with ``speed=60`` a simulated hour passes in
a wall-clock minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SimClock:
    """Simulated UTC seconds since 1970 as a linear function of ``time.monotonic()``."""

    start: float
    speed: float = 1.0
    _mono0: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError("speed must be positive")

    def now(self) -> float:
        """Current simulated time, UTC seconds."""
        return self.start + (time.monotonic() - self._mono0) * self.speed

    def at(self, mono: float) -> float:
        """Simulated time at monotonic instant ``mono``."""
        return self.start + (mono - self._mono0) * self.speed

    def mono_for(self, sim: float) -> float:
        """Monotonic instant at which simulated time reaches ``sim``."""
        return self._mono0 + (sim - self.start) / self.speed

    def elapsed(self) -> float:
        """Simulated seconds since the clock started."""
        return (time.monotonic() - self._mono0) * self.speed

    def restart(self) -> None:
        """Start counting from now again (after set-up that should not cost simulated time)."""
        self._mono0 = time.monotonic()
