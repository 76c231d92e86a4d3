"""The hostile mix of ``farmtrace bench ingest --hostile-share``: the honest pool with the hostile
corpus (:mod:`farmtrace.bench.hostile`) spread evenly through it.

The honest messages keep their order and count; ``share`` of the mixed stream is hostile. The
corpus's prelude (the readings its history kinds refer to) comes first, then the honest stream
with the cases cycled through in corpus order, so every kind appears about equally often, except
that the kinds needing the prelude stored wait for the second half of the stream (a drop floor
takes effect when its batch commits, so a seq it covers arriving in the same batch is a gap
fill, stored). The
publisher is paced so that the honest readings are offered at the clean run's rate: the junk
comes on top, as an attacker's would.

Cases larger than a pool record holds (65,535 bytes: the 256 KiB ``oversized-256k``) are left
out; the 1,025-byte ``oversized-1025`` stays. What each hostile message must become is in
``expected``; copies of a stored reading within ``--replay-grace`` of its watermark are
duplicates, not replays (docs/gateway.md), so with the default 30 s grace most
``replay-of-stored`` copies of a short run are counted as duplicates.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from farmtrace.bench.hostile import Corpus, HostileCase, build_corpus
from farmtrace.bench.ingest_load import read_pool, write_pool
from farmtrace.bench.ingest_pool import FARM
from farmtrace.gateway.ingest import reasons
from farmtrace.wire.protocol import ProtocolError, decode

__all__ = ["POOL_RECORD_LIMIT", "HostileMix", "write_hostile_pool"]

POOL_RECORD_LIMIT = 65535
"""The largest payload a pool record holds (a 2-byte length)."""


@dataclass
class HostileMix:
    """What the hostile pool holds: message counts, the corpus, and the expected outcomes."""

    corpus: Corpus
    messages: int = 0
    honest: int = 0
    hostile: int = 0
    kinds: int = 0
    left_out: list[str] = field(default_factory=list)
    expected: Counter[str] = field(default_factory=Counter)
    fill_bytes: int = 0
    """With ``--hostile-fill``: the size of each junk message of the disk-fill attack."""

    @property
    def registered(self) -> dict[str, bytes]:
        return self.corpus.registered

    @property
    def revoked(self) -> list[str]:
        return [self.corpus.revoked]

    @property
    def stored_extra(self) -> int:
        """Readings the mix stores besides the honest ones: the prelude and the flagged kinds."""
        if self.fill_bytes:
            return 0
        flagged = {c.kind for c in self.corpus.cases if not c.quarantined}
        return self.corpus.prelude_readings + len(flagged)


def write_hostile_pool(
    clean: Path, out: Path, tag: str, share: float, fill_bytes: int = 0
) -> HostileMix:
    """Write ``out``: the messages of the pool ``clean`` with hostile ones making ``share`` of
    the whole (``0 < share < 1``); return what it holds. With ``fill_bytes`` the hostile
    messages are a disk-fill attack instead of the corpus (:func:`_fill`)."""
    if not 0 < share < 1:
        raise ValueError(f"hostile share {share}: must be above 0 and below 1")
    corpus = build_corpus(FARM, int(time.time() * 1000), tag)
    topics, honest = read_pool(clean)
    if fill_bytes:
        return _fill(corpus, topics, honest, out, share, fill_bytes)
    cases = [c for c in corpus.cases if len(c.payload) <= POOL_RECORD_LIMIT]
    early = [c for c in cases if not c.needs_prelude]
    late = [c for c in cases if c.needs_prelude] + early
    taken = [0, 0]  # cases taken from early, from late
    mix = HostileMix(corpus, honest=len(honest), kinds=len(cases))
    mix.left_out = [c.kind for c in corpus.cases if len(c.payload) > POOL_RECORD_LIMIT]
    wanted = round(len(honest) * share / (1 - share))
    index_of: dict[str, int] = {t: i for i, t in enumerate(topics)}

    def topic_index(topic: str) -> int:
        if topic not in index_of:
            index_of[topic] = len(topics)
            topics.append(topic)
        return index_of[topic]

    stream = [(topic_index(t), p) for t, p in corpus.prelude]
    sent: list[HostileCase] = []
    for position, message in enumerate(honest, start=1):
        stream.append(message)
        while len(sent) < wanted * position // len(honest):
            phase = 0 if 2 * position < len(honest) else 1
            turn = (early, late)[phase]
            case = turn[taken[phase] % len(turn)]
            taken[phase] += 1
            stream.append((topic_index(case.topic), case.payload))
            sent.append(case)
    stored_once: set[str] = set()
    for case in sent:
        if case.quarantined:
            mix.expected[case.expect] += 1
        elif case.kind in stored_once:
            mix.expected["duplicate"] += 1
        else:
            mix.expected[case.expect] += 1
            stored_once.add(case.kind)
    mix.hostile = len(sent)
    mix.messages = write_pool(out, topics, iter(stream))
    return mix


def _fill(
    corpus: Corpus,
    topics: list[str],
    honest: list[tuple[int, bytes]],
    out: Path,
    share: float,
    size: int,
) -> HostileMix:
    """The disk-fill attack: junk of ``size`` bytes (each different, so no layer can dedupe it)
    spread evenly through the honest stream, half on the honest devices' own topics (each
    device's quarantine bucket) and half on topics naming ever new devices (the overall one)."""
    if not 0 < size <= POOL_RECORD_LIMIT:
        raise ValueError(f"hostile fill {size}: must be 1..{POOL_RECORD_LIMIT} bytes")
    wanted = round(len(honest) * share / (1 - share))
    honest_topics = len(topics)
    mix = HostileMix(corpus, honest=len(honest), kinds=1, fill_bytes=size)
    filler = bytes(range(256)) * (size // 256 + 1)
    try:
        decode(b"JUNK" + filler[: size - 4])
        reason = "accepted"
    except ProtocolError as exc:
        reason = reasons.malformed(exc.reason)

    stream: list[tuple[int, bytes]] = []
    sent = 0
    for position, message in enumerate(honest, start=1):
        stream.append(message)
        while sent < wanted * position // len(honest):
            if sent % 2 and honest_topics:
                topic = sent // 2 % honest_topics
            else:
                topic = len(topics)
                topics.append(f"farm/{FARM}/urn:epc:id:giai:4012345.FILL{sent}/reading")
            junk = b"JUNK" + sent.to_bytes(8, "big") + filler[: max(0, size - 12)]
            stream.append((topic, junk[:size]))
            sent += 1
    mix.hostile = sent
    mix.messages = write_pool(out, topics, iter(stream))
    mix.expected[reason] = mix.hostile
    return mix
