"""A small real transparency log for witness tests: leaves in an RFC 9162 tree (the plain-Python
reference), checkpoints signed with a real Ed25519 note key, requests in the tlog-witness format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from farmtrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.tlog.merkle import MerkleTree
from farmtrace.tlog.note import Signer
from farmtrace.tlog.witness_protocol import AddCheckpoint


def seeded_signer(name: str, label: str) -> Signer:
    """A note key derived from ``label`` (tests are reproducible)."""
    return Signer(name, hashlib.sha256(label.encode()).digest())


@dataclass
class TestLog:
    """An append-only log of ``origin`` whose checkpoints ``signer`` signs."""

    origin: str
    signer: Signer
    leaves: list[bytes] = field(default_factory=list)

    __test__ = False  # not a pytest class

    @classmethod
    def make(cls, origin: str = "farmtrace.example/witness-test-log") -> TestLog:
        return cls(origin, seeded_signer(origin, "log " + origin))

    def grow(self, count: int) -> None:
        start = len(self.leaves)
        self.leaves.extend(f"entry {i}".encode() for i in range(start, start + count))

    def tree(self, size: int | None = None) -> MerkleTree:
        size = len(self.leaves) if size is None else size
        return MerkleTree.from_entries(self.leaves[:size])

    def checkpoint(self, size: int | None = None, root: bytes | None = None) -> str:
        tree = self.tree(size)
        return sign_checkpoint(
            Checkpoint(self.origin, tree.size, tree.root if root is None else root), self.signer
        )

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        if old == 0:
            return []
        return self.tree(new).consistency_proof(old)

    def request(self, old: int, new: int | None = None) -> bytes:
        """An add-checkpoint body from ``old`` to ``new`` (default: the whole log)."""
        return AddCheckpoint.build(old, self.proof(old, new), self.checkpoint(new)).encode()
