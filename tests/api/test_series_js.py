"""The browser verifier's complete-series rule (verify/series.js through page/bundle.js) holds
the same verdict as ``farmtrace verify``, word for word, on the series lot of
``support.series`` and each tampered copy of ``support.series_tamper``: the cases are made
fresh here by the Python reference and judged by ``node --test tests/js/series.test.mjs``."""

from __future__ import annotations

import base64
import copy
import json
import os
import random
import subprocess
from base64 import b64decode
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from support.series import SeriesLot, serve_series_lot
from support.series_tamper import find, rule_verdict, series_cases
from test_js_verifier import REPO_ROOT, require_node

from farmtrace.api.services.verify import BundleError, verify_bundle

pytestmark = pytest.mark.slow  # runs node


@pytest.fixture
def lot(tmp_path: Path) -> Iterator[SeriesLot]:
    with serve_series_lot(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


def python_verdict(bundle: dict[str, Any], vkeys: list[str]) -> dict[str, Any]:
    try:
        report = verify_bundle(json.dumps(bundle).encode(), vkeys, say=lambda _line: None)
    except BundleError as error:
        return {"ok": False, "first": str(error)}
    gaps = [[g.device_id, g.first_seq, g.last_seq, g.cause] for g in report.gaps]
    return {"ok": True, "lot_readings": report.lot_readings, "gaps": gaps}


def random_cases(good: dict[str, Any], rng: random.Random, count: int = 80) -> list[dict[str, Any]]:
    """Small random changes to the series and windows (the rule's edges: off by one seq, a gap
    moved, a bound changed, a window shifted by a millisecond); the rule alone judges them, in
    Python first (``rule``), and node must agree word for word."""
    found = []
    for n in range(count):
        bundle = copy.deepcopy(good)
        item = rng.choice(bundle["series"])
        what = rng.choice(["first", "last", "lower", "upper", "gap", "window", "drop", "swap"])
        if what in ("first", "last"):
            item[f"{what}_seq"] += rng.choice([-2, -1, 1, 2])
        elif what == "lower":
            item["lower"] = rng.choice(["boundary", "device-start", "gone"])
        elif what == "upper":
            item["upper"] = rng.choice(["boundary", "newest-stored", "drop-floor"])
        elif what == "gap":
            item["gaps"].append(
                {"first_seq": item["last_seq"] - 1, "last_seq": item["last_seq"] - 1,
                 "cause": rng.choice(["not-received", "dropped-by-device"])}
            )  # fmt: skip
        elif what == "window":
            stage = rng.choice(bundle["lot"]["stages"])
            key = rng.choice(["start", "end"])
            if stage[key] is not None:
                moved = datetime.fromisoformat(stage[key]) + timedelta(
                    milliseconds=rng.choice([-4000, -501, -1, 1, 499, 4000])
                )
                stage[key] = moved.isoformat()
        elif what == "drop":
            del bundle["readings"][rng.randrange(len(bundle["readings"]))]
        else:
            i = rng.randrange(len(bundle["readings"]) - 1)
            r = bundle["readings"]
            r[i], r[i + 1] = r[i + 1], r[i]
        found.append(
            {"name": f"random {n}: {what}", "bundle": bundle, "rule": rule_verdict(bundle)}
        )
    return found


def test_js_and_python_agree_on_series(lot: SeriesLot) -> None:
    good, early = lot.bundle(), lot.bundle("LOT-EARLY")
    foreign = early["readings"][find(early, "dev-a", 2)]
    cases: list[dict[str, Any]] = [
        {"name": "good", "bundle": good},
        {"name": "another lot, a clock gone back into its window", "bundle": early},
    ]
    for c in series_cases(foreign):
        bundle = c.apply(good)
        # The series rule alone too (node calls verify/series.js directly for these).
        cases.append({"name": c.name, "bundle": bundle, "rule": rule_verdict(bundle)})
    floors = good["drop_floors"]
    for name, floor in (
        ("drop floor truncated", floors["dev-c"][:-8]),
        ("drop floor not base64", "%%"),
        ("another device's drop floor", floors["dev-e"]),
        ("drop floor with a trailing byte", base64.b64encode(b64decode(floors["dev-c"]) + b"\0")),
    ):
        bundle = copy.deepcopy(good)
        bundle["drop_floors"]["dev-c"] = floor if isinstance(floor, str) else floor.decode()
        cases.append({"name": name, "bundle": bundle})
    cases += random_cases(good, random.Random(12))
    for case in cases:
        case["vkeys"] = lot.vkeys
        case["want"] = python_verdict(case["bundle"], lot.vkeys)
    fixed = [c for c in cases if not c["name"].startswith("random ")]
    assert [c["want"]["ok"] for c in fixed] == [True, True] + [False] * (len(fixed) - 2)
    path = lot.tmp / "series-cases.json"
    path.write_text(json.dumps({"cases": cases}))
    done = subprocess.run(
        [require_node(), "--test", "tests/js/series.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "SERIES_CASES": str(path)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"# pass {len(cases) + 1}" in done.stdout, done.stdout[-3000:]
