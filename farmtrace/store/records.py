"""Plain records that cross the storage API (``farmtrace.store``): what goes in, what comes out.

These are frozen dataclasses with no database behaviour, so the ingest and the API can build
and read them without touching SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from farmtrace.chain.block import BlockHeader

__all__ = [
    "BatchResult",
    "Device",
    "PendingReading",
    "QuarantineItem",
    "ReadingProof",
    "StoredCheckpoint",
    "StoredEntry",
    "StoredFloor",
]


@dataclass(frozen=True, slots=True)
class PendingReading:
    """A verified reading waiting to be appended to the chain.

    ``payload`` is the reading's entry bytes: the MQTT payload exactly as received
    (``signed_bytes || signature``), so anyone holding the entry can check the device's signature.
    ``device_id``, ``seq`` and ``timestamp_ms`` are the values the ingest decoded from it (the
    audit checks that they match). ``received_at`` is the gateway's ``time.time()`` on arrival.
    """

    device_id: str
    seq: int
    timestamp_ms: int
    payload: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one ``append_batch`` call committed.

    ``block`` is the new block's header, or ``None`` when every reading was a duplicate (then
    no block was written, only the drop floors and quarantine rows given with the batch, and
    ``checkpoint`` is ``None`` too). ``checkpoint`` is the signed C2SP
    checkpoint note (text) of the chain log after this block. ``duplicates`` lists the
    ``(device_id, seq)`` pairs that were dropped because they were already stored (by this or any
    other gateway sharing the database) or repeated within the batch.
    """

    block: BlockHeader | None
    checkpoint: str | None
    accepted: int
    duplicates: tuple[tuple[str, int], ...] = field(default=())

    @property
    def duplicate_count(self) -> int:
        """How many readings of the batch were dropped as duplicates."""
        return len(self.duplicates)


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device: its Ed25519 public key (32 bytes) and registry times (Unix seconds)."""

    device_id: str
    public_key: bytes
    registered_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        """Whether the device has been revoked (its new readings are to be rejected)."""
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class QuarantineItem:
    """A rejected message, kept with the reason it was rejected and its raw bytes.

    ``reason`` is a short machine-readable code (``bad-signature``, ``unknown-device``,
    ``replay``...), ``detail`` a human-readable explanation. ``device_id`` is ``None`` when the
    payload could not even be decoded far enough to tell. ``seq`` is the seq of a message that
    decoded as a reading. ``signed_rejection`` is true only for a reading whose signature
    verified with its device's registered key and whose content the gateway rejected: its
    ``(device_id, seq)`` is decided and counts for the device's commit watermark.
    """

    received_at: float
    reason: str
    detail: str
    topic: str
    payload: bytes
    device_id: str | None = None
    seq: int | None = None
    signed_rejection: bool = False

    def __post_init__(self) -> None:
        if self.signed_rejection and (self.device_id is None or self.seq is None):
            raise ValueError("a signed rejection names its device and seq")


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry as stored: where it sits in the chain and its bytes.

    ``kind`` is ``"reading"`` for sensor readings; other kinds (lot events, excursion
    acknowledgements) have ``device_id``, ``seq`` and ``timestamp_ms`` set only where they apply.
    """

    origin: str
    global_index: int
    block_height: int
    index_in_block: int
    kind: str
    device_id: str | None
    seq: int | None
    timestamp_ms: int | None
    received_at: float
    payload: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint of a chain log as stored: its size and the full signed note text."""

    origin: str
    size: int
    note: str
    signed_at: float


@dataclass(frozen=True, slots=True)
class StoredFloor:
    """A device's drop floor as stored: ``payload`` is the device's exact signed ``FD``
    statement, ``received_at`` the gateway's ``time.time()`` when it arrived."""

    device_id: str
    floor: int
    payload: bytes
    received_at: float


@dataclass(frozen=True, slots=True)
class ReadingProof:
    """Everything needed to check one stored entry without trusting the gateway.

    * ``entry``: the entry (for a reading, the payload as received); its RFC 9162 leaf hash is
      ``SHA-256(0x00 || payload)``.
    * ``inclusion_proof``: the audit path of the entry at ``entry.index_in_block`` in its batch
      tree of ``block.size`` leaves, whose root is ``block.root``.
    * ``block``: the block header; ``block_bytes`` its canonical bytes.
    * ``tlog_proof``: a C2SP ``tlog-proof@v1`` text proving ``block_bytes`` (leaf
      ``block.height``) in the chain log, with the signed checkpoint it is relative to.
    """

    entry: StoredEntry
    inclusion_proof: tuple[bytes, ...]
    block: BlockHeader
    block_bytes: bytes
    tlog_proof: str
