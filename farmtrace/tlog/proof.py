"""C2SP transparency-log proofs (c2sp.org/tlog-proof@v1), in plain Python.

A ``.tlog-proof`` file shows that one entry is in a log, offline::

    c2sp.org/tlog-proof@v1
    extra <base64>                (optional, unauthenticated application data)
    index <0-based leaf index>
    <base64 hash>                 zero or more lines: the RFC 9162 inclusion proof, sibling first
    ...
                                  (an empty line)
    <the checkpoint note, verbatim, with its signatures>

The index is ASCII decimal without leading zeros; each hash the canonical base64 of 32 bytes;
the extra data, when present, non-empty canonical base64. :func:`verify_tlog_proof` checks the
checkpoint's signature, then the inclusion of the entry's leaf hash with the reference RFC 9162
verifier of :mod:`farmtrace.tlog.merkle`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import MalformedProof, ProofMismatch
from farmtrace.tlog.merkle import leaf_hash, verify_inclusion
from farmtrace.tlog.note import Verifier

__all__ = ["PROOF_HEADER", "TlogProof", "build_tlog_proof", "verify_tlog_proof"]

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
"""First line of every tlog-proof."""

_DECIMAL = re.compile("0|[1-9][0-9]*")
_MAX_INDEX = 2**64 - 2
_MAX_PROOF_HASHES = 64
_HASH_SIZE = 32


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof; ``checkpoint`` is the checkpoint note text, still unverified."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int):
            raise MalformedProof("proof index must be an int")
        if not 0 <= self.index <= _MAX_INDEX:
            raise MalformedProof(f"proof index {self.index} out of range")
        if len(self.hashes) > _MAX_PROOF_HASHES:
            raise MalformedProof(f"proof has more than {_MAX_PROOF_HASHES} hashes")
        if any(not isinstance(h, bytes) or len(h) != _HASH_SIZE for h in self.hashes):
            raise MalformedProof("every proof hash must be 32 bytes")
        if self.extra is not None and (not isinstance(self.extra, bytes) or not self.extra):
            raise MalformedProof("extra data, when present, must be non-empty bytes")
        if not isinstance(self.checkpoint, str) or not self.checkpoint:
            raise MalformedProof("proof needs a checkpoint note")

    def encode(self) -> str:
        """The proof as text."""
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {_b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(_b64(h) for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def parse(cls, text: str | bytes) -> TlogProof:
        """Parse a tlog-proof; raise :class:`MalformedProof` saying which line is wrong."""
        if isinstance(text, bytes | bytearray | memoryview):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedProof("proof is not valid UTF-8") from None
        if not isinstance(text, str):
            raise TypeError(f"a proof must be str or bytes, not {type(text).__name__}")
        head, sep, checkpoint = text.partition("\n\n")
        if not sep:
            raise MalformedProof("proof has no empty line before its checkpoint")
        lines = head.split("\n")
        if lines[0] != PROOF_HEADER:
            raise MalformedProof(f"proof must start with the line {PROOF_HEADER!r}")
        pos = 1
        extra = None
        if pos < len(lines) and lines[pos].startswith("extra "):
            extra = _parse_b64(lines[pos][len("extra ") :], "extra data")
            if not extra:
                raise MalformedProof("extra data line is empty")
            pos += 1
        if pos >= len(lines) or not lines[pos].startswith("index "):
            raise MalformedProof(f"line {pos + 1} of the proof must be 'index <N>'")
        index_text = lines[pos][len("index ") :]
        if _DECIMAL.fullmatch(index_text) is None or int(index_text) > _MAX_INDEX:
            raise MalformedProof(f"proof index {index_text!r} is not a decimal without leading 0")
        hashes = []
        for number, line in enumerate(lines[pos + 1 :], start=pos + 2):
            value = _parse_b64(line, f"hash on line {number}")
            if len(value) != _HASH_SIZE:
                raise MalformedProof(f"hash on line {number} is not 32 bytes")
            hashes.append(value)
        return cls(int(index_text), tuple(hashes), checkpoint, extra)


def verify_tlog_proof(
    proof: str | bytes | TlogProof,
    entry: bytes,
    verifiers: Iterable[Verifier],
    origin: str,
) -> SignedCheckpoint:
    """Check that ``entry`` is at the proof's index in the log ``origin``; return the checkpoint.

    ``entry`` is the log entry's bytes (its leaf hash is computed here). Raises the note and
    checkpoint errors for a checkpoint that is not validly signed by one of ``verifiers`` or is
    for another origin, :class:`MalformedProof` for a malformed proof and :class:`ProofMismatch`
    when the inclusion proof does not lead from the entry to the checkpoint's root.
    """
    parsed = proof if isinstance(proof, TlogProof) else TlogProof.parse(proof)
    signed = open_checkpoint(parsed.checkpoint, verifiers, origin)
    tree = signed.checkpoint
    if parsed.index >= tree.size:
        raise ProofMismatch(f"proof index {parsed.index} is not below checkpoint size {tree.size}")
    if not verify_inclusion(leaf_hash(entry), parsed.index, tree.size, parsed.hashes, tree.root):
        raise ProofMismatch(
            f"inclusion proof of entry {parsed.index} does not match the root of the "
            f"checkpoint of size {tree.size}"
        )
    return signed


def build_tlog_proof(index: int, hashes: Sequence[bytes], checkpoint_note: str) -> str:
    """The text of a tlog-proof for leaf ``index`` with audit path ``hashes`` and a signed note."""
    return TlogProof(index, tuple(hashes), checkpoint_note).encode()


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _parse_b64(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise MalformedProof(f"{what} {text[:60]!r} is not base64") from None
    if _b64(value) != text:
        raise MalformedProof(f"{what} is not canonical base64")
    return value
