"""The device-health report file: the JSON of the written time, the silent devices and each
device's figures (``HealthMonitor.report``), one device a line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from farmtrace.gateway.ingest.device_state import DeviceState
from farmtrace.gateway.ingest.health import HealthMonitor
from farmtrace.gateway.ingest.housekeeping import Housekeeping
from farmtrace.gateway.ingest.metrics import GatewayMetrics
from farmtrace.gateway.ingest.seqruns import SeqRuns


@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_report_is_the_json_of_every_devices_figures(tmp_path: Path, count: int) -> None:
    states = {
        f"dev-é-{n}": DeviceState(f"dev-é-{n}", SeqRuns(n + 2, [(n + 5, n + 6)]))
        for n in range(count)
    }
    for n, state in enumerate(states.values()):
        state.farm = None if n == 1 else f"farm-{n}"
        state.duplicates = n
    health = HealthMonitor(GatewayMetrics(), 3.0, 10.0)
    path = tmp_path / "device-health.json"
    housekeeping = Housekeeping(None, states, health, path, shared=False, connected=lambda: True)  # type: ignore[arg-type]
    housekeeping.write_report()
    text = path.read_text(encoding="utf-8")
    report: dict[str, Any] = json.loads(text)
    assert set(report) == {"written_at", "silent", "devices"}
    assert report["silent"] == sorted(health.silent)
    expected = json.loads(json.dumps(health.report(states.values())))
    for row in expected:  # figures of time since: taken later, so compared by presence
        row.pop("silent_for_s")
    for row in report["devices"]:
        row.pop("silent_for_s")
    assert report["devices"] == expected
    assert len(text.splitlines()) == (1 if count == 0 else count + 2)  # one device a line
    assert not path.with_name(path.name + ".tmp").exists()
