"""Which key signed which checkpoints, and whether each key hand-over is sound.

The audit verifies every checkpoint with the trusted keys (any of them may have signed it); this
module records, in chain order, which of them did, as runs of sizes, and checks each hand-over
checkpoint (``docs/chain.md``, "Rotating the checkpoint key"): its rotation line is well formed
and names a key of the chain's origin; if that key is trusted, it signed the hand-over; and a
key that signed the checkpoint before it signed the hand-over too, so that the change of keys is
vouched for by the key it replaces. A key change without a hand-over (a rotation made by hand,
before ``farmtrace keys rotate``) is not a failure; the report shows it as such.
"""

from __future__ import annotations

from farmtrace.audit.report import AuditFailure, SignerRun
from farmtrace.chain.errors import ChainError
from farmtrace.chain.rotation import rotation_successor
from farmtrace.tlog.checkpoint import SignedCheckpoint
from farmtrace.tlog.note import Verifier

__all__ = ["KeyTimeline"]


class KeyTimeline:
    """Feed each verified checkpoint in size order with :meth:`observe`; read :attr:`runs`."""

    def __init__(self, origin: str, verifiers: list[Verifier]) -> None:
        self.origin = origin
        self._known = {(v.name, v.key_id): v for v in verifiers}
        self._previous: set[str] = set()
        self.runs: list[SignerRun] = []

    def observe(self, size: int, signed: SignedCheckpoint) -> None:
        """Record checkpoint ``size``; raise :class:`AuditFailure` for an unsound hand-over."""
        signers = {f"{s.name}+{s.key_id:08x}" for s in signed.note.verified}
        handover = self._check_handover(size, signed, signers)
        keys = sorted(signers)
        run = self.runs[-1] if self.runs else None
        if run is not None and not handover and run.keys == keys:
            run.last = size
        else:
            self.runs.append(SignerRun(keys, size, size, handover))
        self._previous = signers

    def _check_handover(self, size: int, signed: SignedCheckpoint, signers: set[str]) -> bool:
        item = f"checkpoint of size {size}"
        try:
            successor = rotation_successor(signed.checkpoint)
        except ChainError as exc:
            raise AuditFailure(self.origin, item, f"key rotation line {exc}") from None
        if successor is None:
            return False
        ref = f"{successor.name}+{successor.key_id:08x}"
        if (successor.name, successor.key_id) in self._known and ref not in signers:
            raise AuditFailure(self.origin, item, f"names successor key {ref} but it did not sign")
        if self._previous and not self._previous & signers:
            raise AuditFailure(
                self.origin,
                item,
                "is a key hand-over not signed by a key that signed the checkpoint before it",
            )
        return True
