"""The sequence rule: is a validly signed reading new, a duplicate, a replay, or a conflict?

Applied to readings whose signature verified, in arrival order, before the other checks, so
that a copy of a stored reading is recognised as such whatever else has changed since (the
device revoked, its timestamp now outside the window). For device ``d`` and seq ``s``:

1. An accepted reading with the same ``(d, s)`` earlier in the same batch: identical bytes are a
   duplicate, different bytes a ``seq-conflict``.
2. ``(d, s)`` stored (by any gateway): identical bytes are a duplicate, acknowledged and counted,
   unless the copy is a **replay** (below); different bytes are a ``seq-conflict``.
3. ``(d, s)`` a **signed rejection** (earlier in the batch or in the quarantine: the device's
   key signed it and its content was rejected, :data:`farmtrace.gateway.ingest.reasons.CONTENT`):
   identical bytes are rejected again for the same reason (``REJECTED_AGAIN``: the decision
   stands, even if the clock has since made a future timestamp acceptable); different bytes
   are a ``seq-conflict``.
4. Not settled and ``s`` at or below the device's commit watermark: ``stale-seq`` (every seq up
   to the watermark is stored, rejected or was declared dropped by the device, so a conforming
   device never sends it).
5. Not settled, above the watermark but below the highest settled seq: accepted, filling a gap
   (a reading the broker lost and the device's outbox resent).
6. Above every settled seq: accepted.

**Replay or redelivery.** A replayed reading is byte for byte a reading the device sent before,
exactly like a legitimate resend (a broker redelivery of a message we had not acknowledged, or a
device resending its outbox above the watermark it knows). They are told apart by what the
device could know: a byte-identical copy of stored ``(d, s)`` is a ``replay`` when

* the broker did not mark it as a redelivery (MQTT DUP flag clear), and
* this gateway process published a commit watermark ``>= s`` for the device at least
  ``replay_grace`` seconds before the copy arrived.

A device following the protocol prunes its outbox once it sees that watermark and never sends
``s`` again, and the broker only redelivers what we have not acknowledged, which it marks DUP.
Either way the stored reading is untouched and the copy is acknowledged: the rule only decides
whether the copy is counted as a duplicate or quarantined as a replay.
"""

from __future__ import annotations

from farmtrace.gateway.ingest import reasons
from farmtrace.gateway.ingest.device_state import DeviceState

__all__ = ["DUPLICATE", "GAP_FILL", "NEW", "REJECTED_AGAIN", "judge_sequence"]

NEW = "new"
GAP_FILL = "gap-fill"
DUPLICATE = "duplicate"
REJECTED_AGAIN = "rejected-again"


def judge_sequence(
    state: DeviceState,
    seq: int,
    payload: bytes,
    earlier: bytes | None,
    stored: bytes | None,
    redelivered: bool,
    now_mono: float,
    replay_grace: float,
    rejected: tuple[bytes, str] | None = None,
) -> tuple[str, str]:
    """``(outcome, detail)``: NEW, GAP_FILL, DUPLICATE, REJECTED_AGAIN or a quarantine reason.

    ``earlier`` is the payload accepted for the same ``(device, seq)`` earlier in this batch,
    ``stored`` the payload stored for it, ``rejected`` the payload and reason of its signed
    rejection (each ``None`` when there is none). After REJECTED_AGAIN the caller rejects the
    copy with ``rejected``'s reason; ``detail`` says so.
    """
    if earlier is not None:
        if earlier == payload:
            return DUPLICATE, "repeated within the batch"
        return reasons.SEQ_CONFLICT, f"seq {seq} arrived earlier in this batch with other bytes"
    if stored is not None:
        if stored != payload:
            return reasons.SEQ_CONFLICT, f"seq {seq} is stored with other bytes"
        if not redelivered:
            told = state.told_watermark(now_mono, replay_grace)
            if seq <= told:
                return reasons.REPLAY, (
                    f"seq {seq} is stored and watermark {told} was published more than "
                    f"{replay_grace:g} s ago; not marked as a redelivery"
                )
        return DUPLICATE, "already stored"
    if rejected is not None:
        if rejected[0] != payload:
            return reasons.SEQ_CONFLICT, f"seq {seq} was rejected earlier with other bytes"
        return REJECTED_AGAIN, f"a copy of seq {seq}, rejected earlier as {rejected[1]}"
    committed = state.committed
    if seq <= committed.watermark:
        return reasons.STALE_SEQ, (
            f"seq {seq} is neither stored nor rejected but at or below the commit watermark "
            f"{committed.watermark} (drop floor {state.drop_floor})"
        )
    if seq < committed.high:
        return GAP_FILL, f"fills a gap below seq {committed.high}"
    return NEW, ""
