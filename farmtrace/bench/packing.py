"""Packing entries for ``rust_core``'s buffer APIs (kept apart so the memory probe stays light)."""

from __future__ import annotations

import sys
from array import array


def little_endian_offsets(count: int, entry_size: int) -> bytes:
    """The ``count + 1`` offsets of entries of ``entry_size`` bytes laid back to back, as the
    little-endian ``uint64`` bytes that ``from_buffer`` reads in place."""
    offsets = array("Q", range(0, count * entry_size + 1, entry_size))
    if sys.byteorder == "big":
        offsets.byteswap()
    return offsets.tobytes()
