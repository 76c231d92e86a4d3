"""C2SP transparency-log checkpoints (c2sp.org/tlog-checkpoint), in plain Python.

A checkpoint is a signed note whose text is::

    <origin>
    <tree size>
    <base64 root hash>
    [extension lines]

Parsing is strict: the origin is non-empty; the size is ASCII decimal without sign or leading
zeros (``0`` for the empty tree) and at most 2**64 - 1; the root is the canonical standard
base64 of exactly 32 bytes; extension lines, if any, are non-empty. :meth:`Checkpoint.body`
produces exactly what :meth:`Checkpoint.parse` accepts.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

from farmtrace.tlog.errors import MalformedCheckpoint
from farmtrace.tlog.note import Signer, VerifiedNote, Verifier, open_note, sign_note

__all__ = ["Checkpoint", "SignedCheckpoint", "open_checkpoint", "sign_checkpoint"]

_DECIMAL = re.compile("0|[1-9][0-9]*")
_MAX_SIZE = 2**64 - 1
_HASH_SIZE = 32


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head: its origin, tree size and root hash, plus optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin or "\n" in self.origin:
            raise MalformedCheckpoint("checkpoint origin must be a non-empty single line")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedCheckpoint("checkpoint size must be an int")
        if not 0 <= self.size <= _MAX_SIZE:
            raise MalformedCheckpoint(f"checkpoint size {self.size} is not in [0, 2**64 - 1]")
        if not isinstance(self.root, bytes) or len(self.root) != _HASH_SIZE:
            raise MalformedCheckpoint("checkpoint root must be 32 bytes")
        for line in self.extensions:
            if not isinstance(line, str) or not line or "\n" in line:
                raise MalformedCheckpoint("checkpoint extension lines must be non-empty lines")

    def body(self) -> str:
        """The note text of this checkpoint, ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note *text* (no signatures); raise :class:`MalformedCheckpoint`."""
        if not isinstance(text, str) or not text.endswith("\n"):
            raise MalformedCheckpoint("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpoint(
                f"checkpoint needs origin, size and root lines, got {len(lines)} line(s)"
            )
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise MalformedCheckpoint("checkpoint origin line is empty")
        if _DECIMAL.fullmatch(size_text) is None or int(size_text) > _MAX_SIZE:
            raise MalformedCheckpoint(
                f"checkpoint size {size_text!r} is not a decimal below 2**64 without leading zeros"
            )
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raise MalformedCheckpoint(f"checkpoint root {root_text!r} is not base64") from None
        if len(root) != _HASH_SIZE or base64.b64encode(root).decode("ascii") != root_text:
            raise MalformedCheckpoint(
                f"checkpoint root {root_text!r} is not the canonical base64 of 32 bytes"
            )
        if any(not line for line in extensions):
            raise MalformedCheckpoint("checkpoint extension lines must not be empty")
        return cls(origin, int(size_text), root, tuple(extensions))


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint whose note was verified, with the note exactly as received."""

    checkpoint: Checkpoint
    note: VerifiedNote
    text: str


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note of ``checkpoint``; the key name SHOULD equal the origin, and must here."""
    if signer.name != checkpoint.origin:
        raise MalformedCheckpoint(
            f"key name {signer.name!r} does not match checkpoint origin {checkpoint.origin!r}"
        )
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[Verifier], origin: str | None = None
) -> SignedCheckpoint:
    """Verify a signed checkpoint note and parse its body.

    Raises the errors of :func:`farmtrace.tlog.note.open_note` for a bad signature,
    :class:`MalformedCheckpoint` for a malformed body, or one whose origin is not ``origin``
    (when given).
    """
    verified = open_note(note, verifiers)
    checkpoint = Checkpoint.parse(verified.text)
    if origin is not None and checkpoint.origin != origin:
        raise MalformedCheckpoint(
            f"checkpoint origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    text = note if isinstance(note, str) else bytes(note).decode("utf-8")
    return SignedCheckpoint(checkpoint, verified, text)
