"""``farmtrace bench proofs`` on a tiny chain: it builds the database in blocks of the asked
sizes, counts what is stored, and times both proof paths (no wall-clock asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farmtrace.bench import proofs

pytestmark = pytest.mark.slow


def test_bench_proofs_reports_both_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--state", str(tmp_path), "--readings", "300", "--block-size", "20..40",
            "--devices", "7", "--seconds", "0.2", "--threads", "2", "--repeats", "2", "--json"]  # fmt: skip
    assert proofs.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    storage = report["storage"]
    assert storage["readings_stored"] == storage["entries_stored"] == 300
    assert 300 / 40 <= storage["blocks"] <= 300 / 20 + 1
    assert storage["block_hashes_bytes"] > 0
    assert storage["bytes_per_reading_without_block_hashes"] < storage["bytes_per_reading"]
    assert storage["log_tiles_bytes"] <= 2 * 4096  # empty: fewer than 256 blocks
    assert storage["bytes_per_reading_without_stored_hashes"] < storage["bytes_per_reading"]
    for mode in ("rebuild", "stored"):
        rounds = report["in_process"][mode]["rounds"]
        assert len(rounds) == 2 and all(r["proofs"] > 0 for r in rounds)
        assert report["in_process"][mode]["cpu_us_per_proof"]["low"] > 0
    # Reused on a second run, not built again.
    assert proofs.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["storage"] == storage
