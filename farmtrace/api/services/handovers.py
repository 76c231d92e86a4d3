"""A chain's key hand-over checkpoints, which a bundle carries so that a verifier who trusts an
older checkpoint key can follow the rotations to the key that signed the bundle's checkpoint
(``docs/chain.md``, "Rotating the checkpoint key").

The chain's keys (``chain_keys``, oldest first) start signing in that order, and once a key has
signed, no earlier key signs alone again. So the first checkpoint signed by a key ``K`` (or by a
key after it) is found by binary search over the checkpoint sizes, reading O(log n) notes by
primary key; it is a hand-over if it names ``K`` in its rotation line. Signature lines are only
read here, not verified: the verifier checks every hand-over it uses. Found sizes never change
(checkpoints are append-only) and are cached.
"""

from __future__ import annotations

from farmtrace.chain.errors import ChainError
from farmtrace.chain.rotation import rotation_successor
from farmtrace.store.cache import LRU
from farmtrace.store.reader import ChainReader
from farmtrace.tlog.checkpoint import Checkpoint
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Note, Verifier

__all__ = ["handover_notes"]

_FIRST_SIGNED: LRU[tuple[str, int, str], int] = LRU(4096)


def handover_notes(reader: ChainReader, vkeys: list[str], size: int) -> list[str]:
    """The hand-over notes of the chain among its first ``size`` checkpoints, oldest first."""
    keys = [Verifier.from_vkey(v) for v in vkeys]
    notes = []
    for i, key in enumerate(keys[1:], start=1):
        later = {(k.name, k.key_id) for k in keys[i:]}
        first = _first_signed(reader, key, later, size)
        if first is None:
            continue
        note = reader.checkpoint(first).note
        if _names(note, key):
            notes.append(note)
    return notes


def _first_signed(
    reader: ChainReader, key: Verifier, later: set[tuple[str, int]], size: int
) -> int | None:
    cache_key = (str(reader.engine.url), reader.chain_id, key.vkey)
    found = _FIRST_SIGNED.get(cache_key)
    if found is not None:
        return found if found <= size else None
    if size < 1 or not _signed_by(reader.checkpoint(size).note, later):
        return None
    low, high = 1, size  # the answer lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        if _signed_by(reader.checkpoint(middle).note, later):
            high = middle
        else:
            low = middle + 1
    _FIRST_SIGNED.put(cache_key, low)
    return low


def _signed_by(note: str, keys: set[tuple[str, int]]) -> bool:
    try:
        return any((s.name, s.key_id) in keys for s in Note.parse(note).signatures)
    except TlogError:
        return False


def _names(note: str, key: Verifier) -> bool:
    try:
        body = Checkpoint.parse(Note.parse(note).text)
        successor = rotation_successor(body)
    except (TlogError, ChainError):
        return False
    return successor is not None and successor.vkey == key.vkey
