"""RFC 9162 Merkle trees and bulk checks for farmtrace, implemented in Rust.

Hashing follows RFC 9162 section 2.1 exactly: ``leaf = SHA-256(0x00 || entry)``,
``node = SHA-256(0x01 || left || right)``, the root of the empty tree is ``SHA-256(b"")`` and a tree
of n > 1 leaves splits at the largest power of two below n.

Threads: every batch function takes ``threads``. ``None`` uses every core (see
:func:`available_threads`), ``1`` runs strictly on the calling thread, and small inputs stay on the
calling thread whatever ``threads`` says. The GIL is released around batch work.

Buffers: ``bytes`` arguments are read in place while the GIL is released (they are immutable);
any other buffer (``bytearray``, ``memoryview``, ``array``) is copied first, so pass ``bytes`` for
the fastest path.

Errors: arguments from the caller that are wrong raise one of the exceptions below, with a message
naming the offending argument or item; a wrong Python type raises ``TypeError``. The hierarchy::

    ValueError
     └── MerkleError            base of every rust_core argument error
          ├── InvalidHashLength     a hash argument or item is not exactly 32 bytes
          ├── IndexOutOfRange       a leaf index is not in range(size)
          ├── InvalidTreeSize       a tree size is not allowed (m == 0 or m > size)
          └── InvalidBuffer         packed data/offsets/keys/signatures have the wrong layout

Verification functions judge untrusted proofs and signatures: they return ``False`` (or list the
failing indices) for anything that does not check and raise only ``TypeError``, plus
:class:`InvalidBuffer`/:class:`MerkleError` for the layout and ``threads`` of bulk signature
checks.
"""

from collections.abc import Iterable, Sequence
from typing import final

from typing_extensions import Buffer

__all__ = [
    "IndexOutOfRange",
    "InvalidBuffer",
    "InvalidHashLength",
    "InvalidTreeSize",
    "MerkleError",
    "MerkleTree",
    "available_threads",
    "ed25519_arithmetic",
    "leaf_hash",
    "node_hash",
    "sha256_throughput",
    "sign_ed25519",
    "verify_consistency",
    "verify_ed25519",
    "verify_ed25519_batch",
    "verify_inclusion",
]

class MerkleError(ValueError):
    """Base class of every rust_core argument error (also raised for ``threads=0``, a signing seed
    that is not 32 bytes and similar)."""

class InvalidHashLength(MerkleError):
    """A hash argument or item (leaf hash, node hash, root) is not exactly 32 bytes."""

class IndexOutOfRange(MerkleError):
    """A leaf index is not in ``range(tree.size)``."""

class InvalidTreeSize(MerkleError):
    """A tree size argument is not allowed: a consistency proof from size 0, or a size beyond
    the tree."""

class InvalidBuffer(MerkleError):
    """A packed buffer (data and offsets, public keys, signatures) does not have the promised
    layout; the message names the first offending item."""

@final
class MerkleTree:
    """An immutable RFC 9162 Merkle tree held in memory.

    The tree keeps its leaf hashes (32 bytes each) and a cache of about n/8 upper-level hashes,
    so proofs and earlier roots cost O(log n) without storing every level.
    """

    @staticmethod
    def from_entries(entries: Sequence[bytes], threads: int | None = None) -> MerkleTree:
        """Build a tree over ``entries``, applying the RFC 9162 leaf hash to each.

        Raises ``TypeError`` naming the first item that is not ``bytes``.
        """

    @staticmethod
    def from_leaf_hashes(hashes: Sequence[bytes], threads: int | None = None) -> MerkleTree:
        """Build a tree over leaf hashes that are already computed.

        Raises :class:`InvalidHashLength` naming the first hash that is not 32 bytes.
        """

    @staticmethod
    def from_leaf_hash_buffer(data: Buffer, threads: int | None = None) -> MerkleTree:
        """Build a tree over ``len(data) // 32`` leaf hashes stored back to back in ``data``
        (the format of :meth:`leaf_hashes`).

        Raises :class:`InvalidBuffer` when ``len(data)`` is not a multiple of 32.
        """

    @staticmethod
    def from_buffer(data: Buffer, offsets: Buffer, threads: int | None = None) -> MerkleTree:
        """Build a tree over entries packed in one buffer: the fast path, no Python object per leaf.

        ``offsets`` holds n + 1 unsigned 64-bit offsets, either as little-endian ``bytes`` (e.g.
        ``struct.pack(f"<{n + 1}Q", ...)``) or as a buffer of native ``uint64`` such as
        ``array('Q')``. They must satisfy ``offsets[0] == 0``, never decrease, and
        ``offsets[n] == len(data)``; entry ``i`` is ``data[offsets[i]:offsets[i + 1]]``.

        Raises :class:`InvalidBuffer` naming the first offending offset.
        """

    @property
    def size(self) -> int:
        """Number of leaves."""

    @property
    def root(self) -> bytes:
        """The 32-byte tree head (``SHA-256(b"")`` for an empty tree)."""

    def __len__(self) -> int:
        """Number of leaves (same as :attr:`size`)."""

    def leaf_hash(self, index: int) -> bytes:
        """The 32-byte hash of leaf ``index``. Raises :class:`IndexOutOfRange`."""

    def leaf_hashes(self) -> bytes:
        """All leaf hashes concatenated (``size * 32`` bytes), in leaf order."""

    def root_at(self, size: int) -> bytes:
        """The root of the tree made of the first ``size`` leaves (``0 <= size <= self.size``).

        Raises :class:`InvalidTreeSize` when ``size`` is negative or larger than the tree.
        """

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The RFC 9162 inclusion proof of leaf ``index``: the leaf's sibling first, the root's
        child last; empty for a one-leaf tree. Raises :class:`IndexOutOfRange`."""

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """The RFC 9162 consistency proof from the first ``old_size`` leaves to the whole tree.

        Requires ``1 <= old_size <= self.size`` (``old_size == self.size`` gives ``[]``).
        ``old_size == 0`` raises :class:`InvalidTreeSize`, consistently with
        :func:`verify_consistency`, which rejects every proof from the empty tree.
        """

def leaf_hash(entry: bytes) -> bytes:
    """RFC 9162 leaf hash: ``SHA-256(0x00 || entry)``."""

def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 node hash: ``SHA-256(0x01 || left || right)``.

    Raises :class:`InvalidHashLength` when ``left`` or ``right`` is not 32 bytes.
    """

def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2).

    True exactly when ``proof`` (leaf sibling first) proves that ``leaf_hash`` is leaf ``index``
    of the tree of ``size`` leaves whose root is ``root``. Anything that does not check returns
    False: ``index >= size``, a negative or too large int, a proof of the wrong length, a proof
    element or ``leaf_hash`` that is not 32 bytes, a root that differs. Raises only
    ``TypeError`` (e.g. a proof item that is not ``bytes``).
    """

def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> bool:
    """Check a consistency proof (RFC 9162 section 2.1.4.2).

    True exactly when ``proof`` proves that the tree of ``size2`` leaves with root ``root2``
    extends the tree of ``size1`` leaves with root ``root1``. Rules, as in the shared RFC 9162
    test vectors: ``size1 > size2`` is False; ``size1 == 0`` is False (even ``0 -> 0``: a proof
    from the empty tree proves nothing); ``size1 == size2`` is True exactly when ``proof`` is
    empty and ``root1 == root2``. Raises only ``TypeError``.
    """

def verify_ed25519_batch(
    public_keys: Buffer,
    signatures: Buffer,
    messages: Buffer,
    offsets: Buffer,
    threads: int | None = None,
) -> list[int]:
    """Check n Ed25519 signatures in one call; return the indices (ascending) that fail.

    Claim ``i`` is: ``signatures[64*i:64*i+64]`` is a signature of message ``i`` by
    ``public_keys[32*i:32*i+32]``. ``messages`` and ``offsets`` are packed as for
    :meth:`MerkleTree.from_buffer`. Each claim gets the verdict ``cryptography``'s
    ``Ed25519PublicKey.verify`` gives it (the RFC 8032 cofactorless check with ``S < L``, as in
    OpenSSL): a key that is not a curve point, a corrupted signature or message all fail. Checks
    are independent (no batch equation), so a verdict never depends on the other claims.
    Decompressed keys are kept in a process-wide cache (up to 65,536 keys, emptied when full),
    since a device signs many readings with one key; a cached key gives the same verdicts.

    Raises :class:`InvalidBuffer` when the buffers do not describe the same n (the message says
    which), ``TypeError`` for non-buffer arguments.
    """

def verify_ed25519(
    items: Sequence[tuple[bytes, bytes, bytes]], threads: int | None = None
) -> list[int]:
    """Check ``(public_key, message, signature)`` triples; return the indices (ascending) that
    fail, with the same verdicts as :func:`verify_ed25519_batch`.

    A key that is not 32 bytes or a signature that is not 64 bytes fails (it is a bad claim,
    not a bad call). Raises ``TypeError`` naming the first item that is not a 3-tuple of bytes.
    """

def sign_ed25519(
    seed: Buffer, messages: Iterable[bytes], threads: int | None = None
) -> list[bytes]:
    """Sign every message with the Ed25519 key whose RFC 8032 private key (32-byte seed) is
    ``seed``; return the 64-byte signatures in the order of ``messages``.

    The key is expanded once for the call and the GIL is released while signing. Ed25519 is
    deterministic (RFC 8032), so each signature is byte for byte what ``cryptography``'s
    ``Ed25519PrivateKey.from_private_bytes(seed).sign(message)`` returns.

    Raises :class:`MerkleError` when ``seed`` is not 32 bytes, ``TypeError`` naming the first
    message that is not ``bytes`` (or when ``seed`` is not a byte buffer).
    """

def sha256_throughput(buffer_size: int = 8192, seconds: float = 1.0) -> float:
    """The SHA-256 ceiling of this machine, in compression blocks per second.

    Measured like ``openssl speed -evp sha256 -bytes 8192``: whole digests of one
    ``buffer_size``-byte buffer, repeated for ``seconds`` on the calling thread, with the same
    SHA-256 implementation the tree uses. Returns ``bytes hashed / 64 / elapsed``. Raises
    :class:`MerkleError` when ``buffer_size`` is not in 1 .. 2**26 or ``seconds`` not in (0, 60].
    """

def available_threads() -> int:
    """The number of threads ``threads=None`` uses (the cores this process may run on)."""

def ed25519_arithmetic() -> str:
    """The field arithmetic the Ed25519 checks use on this CPU: ``"avx512ifma"``, ``"avx2"`` or
    ``"portable"``. A check costs about half as much with IFMA as with AVX2, so per-core
    figures are reported with it."""
