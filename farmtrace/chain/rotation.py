"""The key-rotation line of a hand-over checkpoint (``docs/chain.md``, "Rotating the checkpoint
key"): ``farmtrace/key-rotation <verifier key>``, an extension line after the root naming the key
that signs the chain's checkpoints from this one on.

Plain Python (no Rust), so that ``farmtrace verify`` can follow hand-overs.
"""

from __future__ import annotations

from farmtrace.chain.errors import ChainError
from farmtrace.tlog.checkpoint import Checkpoint
from farmtrace.tlog.errors import NoteError
from farmtrace.tlog.note import Verifier

__all__ = ["ROTATION_LINE", "rotation_line", "rotation_successor"]

ROTATION_LINE = "farmtrace/key-rotation"
"""First word of the extension line naming the key that signs from this checkpoint on."""


def rotation_line(successor: Verifier) -> str:
    """The extension line naming ``successor``."""
    return f"{ROTATION_LINE} {successor.vkey}"


def rotation_successor(checkpoint: Checkpoint) -> Verifier | None:
    """The key a hand-over checkpoint names, or ``None`` if it names none.

    Raises :class:`ChainError` for a malformed line, several of them, or a key of another log;
    the message is a fixed phrase (the browser's verifier words it the same way).
    """
    lines = [e for e in checkpoint.extensions if e.startswith(ROTATION_LINE + " ")]
    if not lines:
        return None
    if len(lines) > 1:
        raise ChainError(f"names {len(lines)} successor keys")
    try:
        successor = Verifier.from_vkey(lines[0][len(ROTATION_LINE) + 1 :])
    except NoteError:
        raise ChainError("names a malformed successor key") from None
    if successor.name != checkpoint.origin:
        raise ChainError(f"names a successor key of another log ('{successor.name}')")
    return successor
