"""The fast tier's smaller property runs (docs/testing.md).

``make test-fast`` sets ``FARMTRACE_TEST_TIER=fast``: property tests then run a tenth of their
examples (at least 10), through :func:`examples` for the counts a test states and through the
``fast`` hypothesis profile (``tests/conftest.py``) for the rest. Without the variable, as in
``make test``, every test runs its full count.
"""

from __future__ import annotations

import os

__all__ = ["FAST", "examples"]

FAST = os.environ.get("FARMTRACE_TEST_TIER") == "fast"


def examples(full: int) -> int:
    """``full`` hypothesis examples, or a tenth of them (at least 10) in the fast tier."""
    return max(10, full // 10) if FAST else full
