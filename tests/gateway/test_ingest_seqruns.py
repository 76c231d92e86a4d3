"""SeqRuns: the committed-seq bookkeeping behind commit watermarks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.fast import examples

from farmtrace.gateway.ingest.seqruns import SeqRuns


def contiguous(seqs: set[int]) -> int:
    w = 0
    while w + 1 in seqs:
        w += 1
    return w


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(st.integers(1, 60), max_size=80))
def test_watermark_is_the_contiguous_prefix_whatever_the_order(seqs: list[int]) -> None:
    runs = SeqRuns()
    for seq in seqs:
        before = runs.watermark
        moved = runs.add(seq)
        assert moved == (runs.watermark != before)
    present = set(seqs)
    assert runs.watermark == contiguous(present)
    assert runs.high == max(present, default=0)
    assert runs.missing == runs.high - len(present)
    for seq in range(1, 62):
        assert (seq in runs) == (seq in present)
    flat = [s for a, b in runs.runs for s in range(a, b + 1)]
    assert flat == sorted(s for s in present if s > runs.watermark)


@settings(max_examples=examples(100), deadline=None)
@given(st.sets(st.integers(1, 40), max_size=30), st.integers(0, 45))
def test_drop_floor_counts_exactly_the_seqs_never_committed(seqs: set[int], floor: int) -> None:
    runs = SeqRuns()
    for seq in sorted(seqs, reverse=True):
        runs.add(seq)
    before = runs.watermark
    lost = runs.drop_through(floor)
    if floor <= before:
        assert lost == 0 and runs.watermark == before
    else:
        assert lost == sum(1 for s in range(before + 1, floor + 1) if s not in seqs)
        assert runs.watermark == contiguous(seqs | set(range(1, floor + 1)))


def test_runs_given_at_start_merge_and_are_absorbed() -> None:
    runs = SeqRuns(0, [(3, 4), (1, 2), (7, 9), (8, 12)])
    assert runs.watermark == 4
    assert runs.runs == [(7, 12)]
    assert runs.missing == 2


def test_seq_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        SeqRuns().add(0)
