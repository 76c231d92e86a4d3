"""Which sequence numbers of one device are committed: a watermark plus runs above it.

The watermark ``W`` is the device's highest contiguous committed seq (``docs/wire-format.md``):
every seq in ``1..W`` is stored, or at or below the device's drop floor. Seqs committed above a
gap are kept as sorted, disjoint, inclusive runs, so memory grows with the number of gaps, not
with the number of readings, and the usual case (the next seq) costs O(1).
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["SeqRuns"]


class SeqRuns:
    """Committed seqs of one device. Seqs start at 1; ``watermark`` 0 means none yet."""

    __slots__ = ("_runs", "watermark")

    def __init__(self, watermark: int = 0, runs: list[tuple[int, int]] | None = None) -> None:
        self.watermark = watermark
        self._runs: list[list[int]] = []
        for start, end in sorted(runs or ()):
            for seq in (start, end):
                if seq < 1:
                    raise ValueError(f"sequence numbers start at 1, got {seq}")
            self._add_run(start, end)

    @property
    def high(self) -> int:
        """The highest committed seq (0 if none)."""
        return self._runs[-1][1] if self._runs else self.watermark

    @property
    def runs(self) -> list[tuple[int, int]]:
        """The committed runs above the watermark, ``(first, last)`` inclusive, ascending."""
        return [(a, b) for a, b in self._runs]

    @property
    def missing(self) -> int:
        """How many seqs between the watermark and ``high`` are not committed."""
        return self.high - self.watermark - sum(b - a + 1 for a, b in self._runs)

    def __contains__(self, seq: int) -> bool:
        if seq <= self.watermark:
            return True
        i = bisect_right(self._runs, [seq, 2**64]) - 1
        return i >= 0 and self._runs[i][0] <= seq <= self._runs[i][1]

    def add(self, seq: int) -> bool:
        """Record ``seq`` as committed; return whether the watermark moved."""
        if seq < 1:
            raise ValueError(f"sequence numbers start at 1, got {seq}")
        if seq <= self.watermark:
            return False
        runs = self._runs
        if runs and seq == runs[-1][1] + 1:  # the common case: the next seq above a gap
            runs[-1][1] = seq
            return False
        if not runs and seq == self.watermark + 1:  # the commonest: the next seq, no gap
            self.watermark = seq
            return True
        before = self.watermark
        self._add_run(seq, seq)
        return self.watermark != before

    def drop_through(self, floor: int) -> int:
        """Advance over seqs ``<= floor`` the device gave up on; return how many were lost.

        Lost seqs are those at or below ``floor`` that were not committed.
        """
        if floor <= self.watermark:
            return 0
        lost = floor - self.watermark
        kept: list[list[int]] = []
        for a, b in self._runs:
            if b <= floor:
                lost -= b - a + 1
            elif a <= floor:
                lost -= floor - a + 1
                kept.append([floor + 1, b])
            else:
                kept.append([a, b])
        self._runs = kept
        self.watermark = floor
        self._absorb()
        return lost

    def _add_run(self, start: int, end: int) -> None:
        if end <= self.watermark:
            return
        start = max(start, self.watermark + 1)
        runs = self._runs
        i = bisect_right(runs, [start, 2**64])
        # Merge with the run before (if it touches) and every run the new one touches after.
        if i > 0 and runs[i - 1][1] >= start - 1:
            i -= 1
            start = runs[i][0]
            end = max(end, runs[i][1])
        j = i
        while j < len(runs) and runs[j][0] <= end + 1:
            end = max(end, runs[j][1])
            j += 1
        runs[i:j] = [[start, end]]
        self._absorb()

    def _absorb(self) -> None:
        runs = self._runs
        if runs and runs[0][0] == self.watermark + 1:
            self.watermark = runs.pop(0)[1]
