"""Errors of the transparency-log layer (``farmtrace.tlog``).

Every error this package raises on bad input derives from :class:`TlogError`, itself a
:class:`ValueError`, so a caller can catch the whole layer with one ``except`` clause::

    TlogError(ValueError)              anything wrong with data handed to farmtrace.tlog
    ├── MerkleError                    building RFC 9162 trees and proofs (farmtrace.tlog.merkle)
    │   ├── InvalidHashLength          a hash that is not exactly 32 bytes
    │   ├── IndexOutOfRange            a leaf index outside the tree (or negative)
    │   └── InvalidTreeSize            a tree size that is negative or beyond the tree
    ├── NoteError                      C2SP signed notes and keys (farmtrace.tlog.note)
    │   ├── MalformedNote              a note that breaks the signed-note format
    │   ├── InvalidKey                 a verifier or signer key that is malformed or inconsistent
    │   ├── InvalidNoteSignature       a known key's signature on the note does not verify
    │   └── UnverifiedNote             no signature on the note is from a known key
    ├── MalformedCheckpoint            a tlog-checkpoint body that breaks the format
    ├── ProofError                     C2SP tlog-proof files (farmtrace.tlog.proof)
    │   ├── MalformedProof             a proof file that breaks the format
    │   └── ProofMismatch              a well-formed proof that does not prove the entry
    └── TileError                      C2SP tlog-tiles paths and bundles (farmtrace.tlog.tiles)
        └── TileMismatch               a fetched tile that does not hash to what it must

A Merkle proof that does not check is not an error: the ``verify_*`` functions of
:mod:`farmtrace.tlog.merkle` judge untrusted input and return ``False`` for it, whatever is wrong
with it (they raise only ``TypeError``, for a wrong type). ``MerkleError`` is for the caller's own
mistakes when building trees and proofs: a leaf hash that is not 32 bytes, an index beyond the
tree. Notes, checkpoints and tlog-proof files are different: opening one either returns the
verified object or raises, naming what failed.

Further modules of this package (signed notes, checkpoints, proof files) add their own
subclasses of :class:`TlogError` here, so that this file stays the one map of the layer's errors.
"""

from __future__ import annotations

__all__ = [
    "IndexOutOfRange",
    "InvalidHashLength",
    "InvalidKey",
    "InvalidNoteSignature",
    "InvalidTreeSize",
    "MalformedCheckpoint",
    "MalformedNote",
    "MalformedProof",
    "MerkleError",
    "NoteError",
    "ProofError",
    "ProofMismatch",
    "TileError",
    "TileMismatch",
    "TlogError",
    "UnverifiedNote",
]


class TlogError(ValueError):
    """Base of every error raised by ``farmtrace.tlog`` for bad input."""


class MerkleError(TlogError):
    """A Merkle tree operation was given arguments it cannot work with."""


class InvalidHashLength(MerkleError):
    """A leaf hash, node hash or root is not exactly 32 bytes (a SHA-256 digest)."""


class IndexOutOfRange(MerkleError):
    """A leaf index is negative or not below the size of the tree it refers to."""


class InvalidTreeSize(MerkleError):
    """A tree size is negative or exceeds the size of the tree at hand (or is 0 where a
    consistency proof needs an old size of at least 1)."""


class NoteError(TlogError):
    """A signed note or note key that cannot be used."""


class MalformedNote(NoteError):
    """A note that breaks the C2SP signed-note format (the message says where)."""


class InvalidKey(NoteError):
    """A verifier or signer key string or key that is malformed, or whose key ID does not match."""


class InvalidNoteSignature(NoteError):
    """A signature from a known key (name and key ID match) does not verify: reject the note."""


class UnverifiedNote(NoteError):
    """The note carries no signature from any known key."""


class MalformedCheckpoint(TlogError):
    """A tlog-checkpoint body that breaks the format, or is for an unexpected origin."""


class ProofError(TlogError):
    """A C2SP tlog-proof that cannot be used."""


class MalformedProof(ProofError):
    """A tlog-proof file that breaks the format (the message names the line)."""


class ProofMismatch(ProofError):
    """A well-formed tlog-proof whose inclusion proof does not lead to the checkpoint's root."""


class TileError(TlogError):
    """A tile path, tile or entry bundle that breaks the C2SP tlog-tiles format."""


class TileMismatch(TileError):
    """A tile or entry bundle that does not hash to what the checked tree says it must;
    ``tile`` names it (its path under the log's prefix)."""

    def __init__(self, tile: str, reason: str) -> None:
        super().__init__(f"{tile}: {reason}")
        self.tile = tile
        self.reason = reason
