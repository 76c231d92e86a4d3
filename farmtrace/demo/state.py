"""The demo's state directory and ``demo.json``, which lets a second run resume the first.

Layout: ``broker/`` (configuration, Mosquitto's persistence), ``sim/`` (device keys, outbox),
``gateway/`` (the chain's key and origin, the MQTT client ID), ``api/`` (the event key, the farm key),
``farmtrace.db`` (SQLite), ``logs/`` (one file per process), ``demo.json`` (mode 0600: the
demo's API keys, the simulated start and how much simulated time has passed), ``wallets/``
(the simulated backers' wallet keys) and ``campaign.json`` (the pledges the farm confirmed).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from farmtrace.demo.errors import DemoError

__all__ = ["DemoState", "default_state_dir"]

_FILE = "demo.json"


def default_state_dir() -> Path:
    """``./farmtrace-demo``."""
    return Path("farmtrace-demo")


@dataclass
class DemoState:
    """What the demo keeps between runs."""

    sim_start: str  # ISO 8601 UTC: the simulated time of the first run's start
    sim_elapsed_s: float = 0.0  # simulated seconds run so far, over every run
    api_key: str | None = None  # lots:write, events:write
    farm_api_key: str | None = None  # campaigns:write, coupons:redeem (the harvest campaign)

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.sim_start)

    @property
    def resume_at(self) -> datetime:
        """Where the simulator's clock continues from."""
        return self.start + timedelta(seconds=self.sim_elapsed_s)

    @classmethod
    def load_or_new(cls, directory: Path) -> tuple[DemoState, bool]:
        """The saved state, or a new one starting this morning at 06:00 UTC; ``(state, resumed)``."""
        path = directory / _FILE
        if path.exists():
            try:
                data = json.loads(path.read_text("utf-8"))
                return cls(**data), True
            except (OSError, ValueError, TypeError) as exc:
                raise DemoError(f"{path} is unreadable ({exc}); remove it to start over") from exc
        now = datetime.now(UTC)
        # A working morning: harvest at 06:00 today (yesterday if it is earlier than that).
        start = now.replace(hour=6, minute=0, second=0, microsecond=0)
        if start > now:
            start -= timedelta(days=1)
        return cls(sim_start=start.isoformat()), False

    def save(self, directory: Path) -> None:
        path = directory / _FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(tmp, path)
