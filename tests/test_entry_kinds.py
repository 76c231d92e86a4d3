"""``kind_of`` (one look-up of an entry's first 3 bytes, then the longer prefixes) names the
same kind as the plain rule: the first kind in ``KIND_PREFIXES`` whose prefix the entry starts
with."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from farmtrace.chain.entry import KIND_PREFIXES, kind_of


def plain_kind_of(entry: bytes) -> str | None:
    for kind, prefix in KIND_PREFIXES.items():
        if entry.startswith(prefix):
            return kind
    return None


prefixes = st.sampled_from([b"", *KIND_PREFIXES.values()])


@given(prefix=prefixes, cut=st.integers(0, 40), rest=st.binary(max_size=8))
def test_kind_of_agrees_with_the_plain_rule(prefix: bytes, cut: int, rest: bytes) -> None:
    entry = prefix[: len(prefix) - cut % (len(prefix) + 1)] + rest  # whole or cut, then noise
    assert kind_of(entry) == plain_kind_of(entry)


def test_every_kind_is_found_by_its_prefix() -> None:
    for kind, prefix in KIND_PREFIXES.items():
        assert kind_of(prefix + b"x") == kind
        assert kind_of(prefix[:-1]) is None
