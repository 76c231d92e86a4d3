"""Answers computed from many tables (a lot's page and bundle), kept until the next commit.

A lot's page or bundle reads the lot, its readings, series, proofs and checkpoints: tens of
queries for an answer that stays the same until something is committed to the database.
:class:`AnswerCache` keeps the answer's bytes under the database's data version
(:class:`farmtrace.store.data_version.DataVersion`) and the request's own key, so a repeated
request costs a dictionary look-up until the next commit; then it is computed again. When the
data version is unknown nothing is cached.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

from farmtrace.store.cache import LRU
from farmtrace.store.data_version import DataVersion

__all__ = ["AnswerCache"]

_A = TypeVar("_A")


class AnswerCache:
    """At most ``capacity`` answers, by ``(data version, key)``; thread-safe."""

    def __init__(self, version: DataVersion, capacity: int = 64) -> None:
        self.version = version
        self._answers: LRU[tuple[str, Hashable], object] = LRU(capacity)

    def get(self, key: Hashable, make: Callable[[], _A]) -> _A:
        """The answer cached under ``key`` at the current data version, else ``make()``'s
        (cached). The version is read before ``make`` runs (see DataVersion)."""
        version = self.version.token()
        if version is None:
            return make()
        found = self._answers.get((version, key))
        if found is not None:
            return found  # type: ignore[return-value]  # stored by make() under this key
        made = make()
        self._answers.put((version, key), made)
        return made
