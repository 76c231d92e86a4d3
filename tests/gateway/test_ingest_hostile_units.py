"""The hostile corpus through the gateway's real judging path, in process; and a fuzz of that
path: any topic and any bytes end accepted, as a duplicate, or quarantined with a known reason,
never in another exception."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.judging import JudgingPath

from farmtrace.bench.hostile import (
    STORED_CLOCK_BACKWARDS,
    STORED_SEQUENCE_SKIP,
    Corpus,
    build_corpus,
)
from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.judge import ACCEPTED, DUPLICATE_OUTCOME, QUARANTINED
from farmtrace.wire import topics
from farmtrace.wire.protocol import MAX_PAYLOAD, Measurement, Reading, sign

FARM = "hostilefarm"
NOW = time.time()
CORPUS = build_corpus(FARM, int(NOW * 1000))
# Every stable reason code the gateway documents (reasons.DESCRIPTIONS), malformed:* apart.
KNOWN_REASONS = {r for r in reasons.DESCRIPTIONS if not r.startswith(reasons.MALFORMED_PREFIX)}
WIRE_REASONS = {
    "oversized", "truncated", "bad-magic", "unsupported-version", "empty-field",
    "field-too-long", "bad-device-id", "bad-utf8", "bad-text", "no-measurements",
    "too-many-measurements", "bad-measurement-type", "bad-unit", "duplicate-type",
    "non-finite-value", "trailing-bytes",
}  # fmt: skip


def gateway_after_prelude(corpus: Corpus = CORPUS) -> JudgingPath:
    """A judging path whose store holds the corpus's prelude, watermarks announced long ago."""
    path = JudgingPath(corpus.registered, NOW, revoked=[corpus.revoked], replay_grace=0.5)
    verdicts = path.run(corpus.prelude)
    assert Counter(v.outcome for v in verdicts) == {ACCEPTED: 6, "control": 1}
    path.publish_watermarks(age=10.0)
    return path


def test_the_corpus_has_at_least_25_kinds_each_named_once() -> None:
    kinds = [c.kind for c in CORPUS.cases]
    assert len(kinds) == len(set(kinds)) >= 25
    assert len(CORPUS.by_message()) == len(kinds)
    assert len({c.expect for c in CORPUS.cases}) >= 25  # distinct outcomes, not one reason 25x


def test_every_case_gets_its_outcome_one_by_one() -> None:
    path = gateway_after_prelude()
    for case in CORPUS.cases:
        [verdict] = path.run([(case.topic, case.payload)])
        if case.quarantined:
            assert (verdict.outcome, verdict.reason) == (QUARANTINED, case.expect), case.kind
        else:
            assert verdict.outcome == ACCEPTED, case.kind
        # A second copy: quarantined the same way, or a duplicate of what was just stored.
        [again] = path.run([(case.topic, case.payload)])
        expected_again = case.expect if case.quarantined else DUPLICATE_OUTCOME
        assert again.label == expected_again, case.kind
    _assert_no_floor_moved(path)


def _assert_no_floor_moved(path: JudgingPath) -> None:
    """The prelude's signed floor 4 is the only one believed: no forged floor moved anything."""
    anchor = path.judge.state(CORPUS.devices["anchor"].device_id)
    assert (anchor.drop_floor, anchor.committed.watermark) == (4, 5)
    for role in ("jumper", "drifter", "revoked", "stranger"):
        assert path.judge.state(CORPUS.devices[role].device_id).drop_floor == 0, role


def test_every_case_gets_its_outcome_in_one_mixed_batch() -> None:
    path = gateway_after_prelude()
    cases = [c for c in CORPUS.cases for _ in range(2)]
    verdicts = path.run((c.topic, c.payload) for c in cases)
    seen: set[str] = set()
    for case, verdict in zip(cases, verdicts, strict=True):
        if case.quarantined:
            assert verdict.label == case.expect, case.kind
        else:
            first = case.kind not in seen
            assert verdict.outcome == (ACCEPTED if first else DUPLICATE_OUTCOME), case.kind
            seen.add(case.kind)
    flagged = {c.expect for c in CORPUS.cases if not c.quarantined}
    assert flagged == {STORED_SEQUENCE_SKIP, STORED_CLOCK_BACKWARDS}
    _assert_no_floor_moved(path)


def test_drop_floor_kinds_are_in_the_corpus() -> None:
    kinds = {c.kind: c for c in CORPUS.cases if c.topic.endswith("/dropped")}
    assert {
        "drop-floor-unsigned-ascii", "drop-floor-forged", "drop-floor-forged-2^64-1",
        "drop-floor-another-devices-key", "drop-floor-other-device",
    } <= set(kinds)  # fmt: skip
    assert all(c.quarantined for c in kinds.values())


def test_without_the_prelude_history_cases_are_not_what_they_claim() -> None:
    """The prelude matters: the corpus's expectations are not true of any gateway state."""
    path = JudgingPath(CORPUS.registered, NOW, revoked=[CORPUS.revoked])
    by_kind = {c.kind: c for c in CORPUS.cases}
    for kind in ("altered-after-signing", "replay-of-stored", "seq-declared-dropped"):
        case = by_kind[kind]
        assert case.needs_prelude
        [verdict] = path.run([(case.topic, case.payload)])
        assert verdict.label != case.expect, kind


def test_corpus_never_touches_honest_devices() -> None:
    honest = Ed25519PrivateKey.from_private_bytes(bytes(32))
    device = "urn:epc:id:giai:4012345.HONEST-1"
    keys = {**CORPUS.registered, device: honest.public_key().public_bytes_raw()}
    path = JudgingPath(keys, NOW, revoked=[CORPUS.revoked])
    path.run(CORPUS.prelude)
    stream = [(topics.reading_topic(FARM, device), _honest(honest, device, s)) for s in (1, 2, 3)]
    mixed = [stream[0], *[(c.topic, c.payload) for c in CORPUS.cases], *stream[1:]]
    verdicts = path.run(mixed)
    assert [verdicts[0], *verdicts[-2:]] == [verdicts[0]] * 3
    assert verdicts[0].outcome == ACCEPTED
    assert path.judge.state(device).committed.watermark == 3


def _honest(key: Ed25519PrivateKey, device: str, seq: int) -> bytes:
    measurements = (Measurement("Temperature", 4.0, "CEL"),)
    return sign(Reading(device, seq, int(NOW * 1000) - 5000 + seq, "s", "", measurements), key)


# -- fuzz -----------------------------------------------------------------------------------------

VALID = [p for t, p in CORPUS.prelude if t.endswith("/reading")] + [
    c.payload for c in CORPUS.cases if c.expect not in {"bad-topic"} and len(c.payload) < 2048
]
TOPICS = [c.topic for c in CORPUS.cases] + [t for t, _ in CORPUS.prelude]


@st.composite
def mutations(draw: st.DrawFn) -> bytes:
    """A corpus or prelude payload, bit-flipped, overwritten, truncated, spliced or padded."""
    payload = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "splice", "insert", "pad"]))
        at = draw(st.integers(0, max(len(payload) - 1, 0)))
        if op == "flip" and payload:
            payload[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and payload:
            payload[at] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "truncate":
            del payload[at:]
        elif op == "splice":
            other = draw(st.sampled_from(VALID))
            cut = draw(st.integers(0, len(other)))
            payload[at:] = other[cut:]
        elif op == "insert":
            payload[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            payload += bytes(draw(st.integers(1, MAX_PAYLOAD)))
    return bytes(payload)


_TOPIC_TEXT = st.text(alphabet=st.sampled_from("farm/+#.-_:aZ9 \u00e9\x00"), max_size=40)
FUZZ_TOPICS = st.one_of(st.sampled_from(TOPICS), _TOPIC_TEXT)
FUZZ_PAYLOADS = st.one_of(mutations(), st.binary(max_size=2 * MAX_PAYLOAD))
FUZZ_PATH = gateway_after_prelude()


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(FUZZ_TOPICS, FUZZ_PAYLOADS, st.booleans()), min_size=1, max_size=6))
def test_fuzz_any_topic_and_bytes_end_in_a_known_outcome(
    messages: list[tuple[str, bytes, bool]],
) -> None:
    path = FUZZ_PATH
    for dup in (False, True):
        verdicts = path.run([(t, p) for t, p, d in messages if d == dup], dup=dup)
        for verdict in verdicts:
            if verdict.outcome != QUARANTINED:
                assert verdict.reason is None
                continue
            reason = verdict.reason
            assert reason is not None
            if reason.startswith(reasons.MALFORMED_PREFIX):
                assert reason.removeprefix(reasons.MALFORMED_PREFIX) in WIRE_REASONS, reason
            else:
                assert reason in KNOWN_REASONS, reason
