"""The witness's judgement of an ``add-checkpoint`` request (c2sp.org/tlog-witness).

Checks, in this order, each with the answer the specification gives:

====  =========================================================================================
400   the body breaks the request format (``old`` line, at most 63 base64 hashes, empty line),
      or the checkpoint note or its body is malformed, or the old size exceeds the new size
404   the checkpoint's origin is not a log this witness trusts
403   no signature by a trusted key of that log, or a trusted key's signature fails
409   the old size is not the size of the latest checkpoint cosigned for the origin (0 if none);
      body: that size and a line feed, ``Content-Type: text/x.tlog.size``
422   a size-0 checkpoint whose root is not the empty tree's; a non-empty proof from size 0;
      a consistency proof that does not verify; the same size with another root
200   one ``cosignature/v1`` line; the new size and root are stored (durably) before it is sent
====  =========================================================================================

The 409 check and the update run in one transaction (:meth:`WitnessState.advance`), so two
requests racing for one origin can never roll its size back.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from farmtrace.store.witness_state import Witnessed, WitnessState
from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint
from farmtrace.tlog.cosignature import Cosigner
from farmtrace.tlog.errors import (
    InvalidNoteSignature,
    MalformedCheckpoint,
    MalformedNote,
    UnverifiedNote,
)
from farmtrace.tlog.merkle import EMPTY_ROOT, verify_consistency
from farmtrace.tlog.note import Note, Verifier
from farmtrace.tlog.witness_protocol import (
    SIZE_CONTENT_TYPE,
    AddCheckpoint,
    MalformedRequest,
    encode_size,
)

__all__ = ["Answer", "Witness"]

log = logging.getLogger("farmtrace.witness")

_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, body and content type."""

    status: int
    body: bytes
    content_type: str = _TEXT


class _Refused(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


class _SplitView(_Refused):
    """The log signed another root at a size already cosigned."""


def _refuse(status: int, why: str) -> _Refused:
    return _Refused(Answer(status, why.encode("utf-8") + b"\n"))


class Witness:
    """Cosigns checkpoints of the trusted ``logs`` (origin → keys) with ``cosigner``."""

    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, list[Verifier]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cosigner = cosigner
        self.logs = {origin: list(keys) for origin, keys in logs.items()}
        self.state = state
        self._clock = clock
        self._by_hash = {hashlib.sha256(o.encode()).hexdigest(): o for o in self.logs}

    def add_checkpoint(self, body: bytes) -> Answer:
        """Judge one request body; the answer to send. Never raises for bad input."""
        try:
            return self._add(body)
        except _Refused as refused:
            return refused.answer

    def _add(self, body: bytes) -> Answer:
        try:
            request = AddCheckpoint.parse(body)
            note = Note.parse(request.checkpoint)
        except (MalformedRequest, MalformedNote) as exc:
            raise _refuse(400, f"malformed request: {exc}") from None
        origin = note.text.split("\n", 1)[0]
        keys = self.logs.get(origin)
        if keys is None:
            raise _refuse(404, f"unknown log origin {origin[:100]!r}")
        try:
            signed = open_checkpoint(request.checkpoint, keys, origin)
        except (UnverifiedNote, InvalidNoteSignature) as exc:
            raise _refuse(
                403, f"checkpoint not signed by a trusted key of {origin}: {exc}"
            ) from None
        except (MalformedCheckpoint, MalformedNote) as exc:
            raise _refuse(400, f"malformed checkpoint: {exc}") from None
        checkpoint = signed.checkpoint
        if request.old_size > checkpoint.size:
            raise _refuse(
                400, f"old size {request.old_size} exceeds the checkpoint size {checkpoint.size}"
            )
        if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
            raise _refuse(422, "a checkpoint of size 0 must have the empty tree's root")
        text = signed.note.text
        log_lines = "".join(sig.line() for sig in signed.note.verified)

        def decide(current: Witnessed | None) -> tuple[Witnessed, str]:
            return self._decide(current, request, checkpoint, text, log_lines)

        try:
            line = self.state.advance(origin, decide)
        except _SplitView as split:
            # Kept outside the refused transaction: the two signed notes prove the split view.
            note_text = request.checkpoint.decode("utf-8")
            self.state.record_conflict(origin, checkpoint.size, note_text, self._clock())
            raise split
        return Answer(200, line.encode("utf-8"))

    def _decide(
        self,
        current: Witnessed | None,
        request: AddCheckpoint,
        checkpoint: Checkpoint,
        text: str,
        log_lines: str,
    ) -> tuple[Witnessed, str]:
        known = 0 if current is None else current.size
        if request.old_size != known:
            raise _Refused(Answer(409, encode_size(known), SIZE_CONTENT_TYPE))
        if request.old_size == 0:
            if request.proof:
                raise _refuse(422, "a consistency proof from size 0 must be empty")
        elif current is not None and not verify_consistency(
            current.size, checkpoint.size, request.proof, current.root, checkpoint.root
        ):
            if current.size == checkpoint.size and current.root != checkpoint.root:
                log.error(
                    "%s: two different checkpoints of size %d (a split view?)",
                    checkpoint.origin,
                    checkpoint.size,
                )
                why = f"size {checkpoint.size} was cosigned with another root\n"
                raise _SplitView(Answer(422, why.encode("utf-8")))
            raise _refuse(
                422, f"the consistency proof from size {current.size} to {checkpoint.size} fails"
            )
        # Strictly increasing timestamps per witness would need state; whole seconds suffice.
        timestamp = max(1, int(self._clock()))
        line = self.cosigner.cosign(text, timestamp).line()
        stored = Witnessed(
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=checkpoint.root,
            note=text + "\n" + log_lines + line,
            updated_at=self._clock(),
        )
        return stored, line

    def monitored(self, origin_hash: str) -> Answer:
        """``GET <prefix>/<hex SHA-256 of origin>/checkpoint``: the latest cosigned checkpoint."""
        origin = self._by_hash.get(origin_hash)
        found = None if origin is None else self.state.latest(origin)
        if found is None:
            return Answer(404, b"this witness has cosigned no checkpoint of that log\n")
        return Answer(200, found.note.encode("utf-8"))
