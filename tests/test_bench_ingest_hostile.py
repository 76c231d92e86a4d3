"""``farmtrace bench ingest --hostile-share``: the mixed pool is what it claims (offline), and a
small run end to end reconciles the honest readings in both gateway runs and stores no hostile
message beyond the two kinds stored and flagged. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.mosquitto import require_mosquitto

from farmtrace.bench.hostile import build_corpus
from farmtrace.bench.ingest_hostile import write_hostile_pool
from farmtrace.bench.ingest_load import read_pool, write_pool
from farmtrace.bench.ingest_pool import FARM

ROOT = Path(__file__).resolve().parents[1]


def test_the_mixed_pool_keeps_the_honest_stream_and_has_the_share(tmp_path: Path) -> None:
    topics = [f"farm/{FARM}/dev-{i}/reading" for i in range(3)]
    honest = [(i % 3, b"honest-%d" % i) for i in range(2700)]
    write_pool(tmp_path / "clean.bin", topics, iter(honest))
    mix = write_hostile_pool(tmp_path / "clean.bin", tmp_path / "mixed.bin", "t1", 0.1)
    mixed_topics, mixed = read_pool(tmp_path / "mixed.bin")
    assert mix.honest == 2700 and mix.hostile == 300 and mix.messages == len(mixed) == 3007
    named = [(mixed_topics[i], p) for i, p in mixed]
    assert [m for m in named if m[1].startswith(b"honest-")] == [(topics[i], p) for i, p in honest]
    corpus = mix.corpus
    assert named[: len(corpus.prelude)] == corpus.prelude
    by_message = corpus.by_message()
    hostile = [(n, by_message[m]) for n, m in enumerate(named[7:]) if m in by_message]
    assert len(hostile) == 300
    assert mix.left_out == ["oversized-256k"]
    assert len({c.kind for _, c in hostile}) == mix.kinds == len(corpus.cases) - 1
    half = next(n for n, m in enumerate(named) if m[1] == b"honest-1349")
    assert all(n + 7 > half for n, c in hostile if c.needs_prelude)
    assert sum(mix.expected.values()) == 300
    assert mix.expected["duplicate"] == sum(1 for _, c in hostile if not c.quarantined) - 2


def test_the_corpus_devices_follow_the_run_tag() -> None:
    one, two = build_corpus(FARM, 0, "aa"), build_corpus(FARM, 0, "bb")
    assert not set(one.registered) & set(two.registered)


@pytest.mark.integration
def test_small_hostile_run_reconciles_and_stores_no_hostile_message(tmp_path: Path) -> None:
    require_mosquitto()
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "bench", "ingest", "--devices", "20",
         "--seconds", "1", "--rate", "2000", "--batch-size", "500", "--batch-age", "0.2",
         "--skip-bare", "--hostile-share", "0.2", "--json"],
        capture_output=True, text=True, timeout=280, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["lost"] == 0 and report["duplicated"] == 0
    [round_] = report["rounds"]
    clean, hostile = round_, round_["hostile"]
    for run in (clean, hostile):
        assert run["reconcile"] == {"stored": 2000, "distinct": 2000, "devices_complete": 20}
        assert run["gateway"]["accepted_per_s"] > 0
        # Latency of the honest readings from their publish time, in both runs.
        from_publish = run["gateway"]["publish_to_commit_s"]
        assert from_publish["p50"] <= from_publish["p99"] <= from_publish["max"]
    mix = report["hostile_mix"]
    assert mix["honest"] == 2000 and mix["hostile"] == 500 and mix["stored_hostile"] == 0
    gateway = hostile["gateway"]["report"]
    assert gateway["received"] == mix["messages"]
    # Every hostile message: quarantined, a copy of a flagged reading, or that reading stored.
    quarantined = sum(gateway["rejected"].values())
    prelude_readings = 6
    stored_flagged = gateway["accepted"] - 2000 - prelude_readings
    assert stored_flagged == 2
    assert quarantined + gateway["duplicates"] + stored_flagged == mix["hostile"]
    # Replays inside --replay-grace are duplicates (docs/gateway.md): the rest is as expected.
    expected = Counter(mix["expected"])
    shifted = expected.pop("replay", 0)
    got = Counter(gateway["rejected"])
    got_replays = got.pop("replay", 0)
    assert got_replays <= shifted
    assert {k: v for k, v in got.items()} == {
        k: v for k, v in expected.items() if not k.startswith(("stored:", "duplicate"))
    }
    names = [t["name"] for t in report["targets"]]
    assert "hostile mix: honest rate / clean" in names
    assert next(t for t in report["targets"] if t["name"] == "hostile messages stored")["passed"]
