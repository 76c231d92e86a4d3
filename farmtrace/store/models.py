"""The database schema as SQLAlchemy 2 declarative models.

The migrations in ``farmtrace/store/migrations`` create exactly these tables (a test compares
them) plus the append-only triggers, which SQLAlchemy models cannot express.

Tables, and who may change what:

* ``chains``: one row per gateway origin. Append-only.
* ``chain_keys``: every checkpoint verifier key a chain has signed with (key rotation keeps the
  old ones). Append-only.
* ``entries``: every entry of every chain, by ``(chain_id, global_index)``. ``kind`` is
  ``reading`` for sensor readings, whose ``(device_id, seq)`` is unique across the whole
  database; other kinds (lot events, acknowledgements) leave the reading columns ``NULL``.
  ``payload`` is the entry's bytes, the leaf of its batch tree. Append-only.
* ``blocks``: the block headers by ``(chain_id, height)``; ``header`` holds the canonical bytes,
  the other columns repeat header fields for lookups (the audit checks they agree). Append-only.
* ``checkpoints``: every signed checkpoint by ``(chain_id, size)``. Append-only.
* ``block_hashes``: per block, the roots of its batch tree's aligned runs of ``2**level``
  entries (revision 0010; ``farmtrace.store.block_hashes``), so a reading's proof reads its run,
  not the whole block. Derived data, checked against the header's root before use; blocks
  sealed before revision 0010 have none. Append-only.
* ``log_tiles``: the chain log's full c2sp.org/tlog-tiles (256 hashes of the nodes at height
  8·``level``) by ``(chain_id, level, tile_index)`` (revision 0014;
  ``farmtrace.store.log_tiles``), so a block's place in the chain log is proved without the
  whole log. Derived data, checked against the signed checkpoint before use. Append-only.
* ``quarantine``: rejected messages with their reason and raw bytes. Append-only. A row with
  ``signed_rejection`` true is a reading its device's registered key signed and the gateway
  rejected on its content: its ``(device_id, seq)`` is decided and counts for the device's
  commit watermark (revision 0005; ``seq`` is set for every rejected message that decoded).
* ``quarantine_refused``: per chain, device and reason, how many rejected messages (and
  bytes) the gateway refused to keep past the quarantine's bounds. Updated in place (revision
  0008).
* ``pending_entries``: entries signed by other components (lot events), keyed like readings
  by ``(device_id, seq)``, that the next block integrates. Append-only (revision 0002).
* ``drop_floors``: each drop floor a gateway believed (higher than the device's stored one),
  with the device's signed ``FD`` statement; per device, not per chain. Append-only
  (revision 0006).
* ``signing_keys``: every key that ever signed an event, acknowledgement, checkpoint or
  watermark, with its validity period (``valid_until`` ``NULL`` while current; revision 0007;
  ``farmtrace.store.key_history``). Rows are never deleted; the only update allowed is setting
  ``valid_until`` once.
* ``witness_cosignatures``: each witness cosignature of a checkpoint, by ``(chain_id, size,
  witness_key)``, the line as the witness returned it. Append-only (revision 0009).
* ``devices``: the device registry. Rows are never deleted; the only update allowed is setting
  ``revoked_at`` once.
* ``coupon_listings`` and ``listing_offers``: the coupon market (revision 0012;
  ``farmtrace.store.listings``): holder-signed listings kept with their ``ended`` reason for
  history, and buyers' signed requests to buy (wallet addresses only). Off the chain.
* ``communities``, ``community_rules``, ``community_entries``, ``community_members``,
  ``community_postings`` and ``community_transfers``: value communities (revision 0013;
  ``farmtrace.store.communities``): each community's signed rules versions and entries (no
  fork: primary key on ``eseq``), member balances and states, each entry's balance changes,
  and each holder transfer (a member state is spent once: primary key on ``prev``). Every table
  but ``communities`` and ``community_members`` is append-only.

The provenance API's tables (revision 0002; ``farmtrace.store.api_keys`` and
``farmtrace.store.lots`` query them):

* ``api_keys``: SHA-256 of each key's secret, its scopes and name; never the secret. A revoked
  key keeps its row (``revoked_at`` set).
* ``lots``: one row per ``(gtin, lot)``; the GTIN is 14 digits with a valid check digit;
  ``details`` is JSON (grower, method, certifications, farm location, time zone; revision 0003).
* ``lot_stages``: the fields, rooms and trucks a lot passed through, each with its time
  window (ms since the epoch, end open while ``NULL``) and the device IDs that watched it
  (a JSON list).
* ``lot_events``: each signed record of a lot (an event, ``FE`` prefix, or an excursion
  acknowledgement) and the ``(signer, seq)`` under which a gateway integrates it into its
  chain: it is *pending anchoring* until an ``entries`` row with that ``(device_id, seq)``
  exists. The same entry is queued in ``pending_entries`` for the next block. Append-only.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "API_TABLES",
    "APPEND_ONLY_TABLES",
    "ApiKeyRow",
    "BackerContactRow",
    "Base",
    "BlockHashesRow",
    "BlockRow",
    "CampaignEntryRow",
    "CampaignRow",
    "ChainKeyRow",
    "ChainRow",
    "CheckpointRow",
    "CommunityEntryRow",
    "CommunityMemberRow",
    "CommunityPostingRow",
    "CommunityRow",
    "CommunityRulesRow",
    "CommunityTransferRow",
    "CouponListingRow",
    "CouponMoveRow",
    "CouponRow",
    "DeviceRow",
    "DropFloorRow",
    "EntryRow",
    "ListingOfferRow",
    "LotEventRow",
    "LotRow",
    "LotStageRow",
    "PendingEntryRow",
    "PledgeRow",
    "QuarantineRefusedRow",
    "QuarantineRow",
    "SigningKeyRow",
]

# SQLite only makes INTEGER PRIMARY KEY columns auto-increment (the rowid alias).
_BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ChainRow(Base):
    __tablename__ = "chains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class ChainKeyRow(Base):
    __tablename__ = "chain_keys"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    vkey: Mapped[str] = mapped_column(String(512), primary_key=True)
    added_at: Mapped[float] = mapped_column(Float)


class EntryRow(Base):
    __tablename__ = "entries"
    __table_args__ = (
        UniqueConstraint("device_id", "seq"),
        Index(None, "device_id", "timestamp_ms"),
    )

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    global_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_height: Mapped[int] = mapped_column(BigInteger)
    index_in_block: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(128))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    timestamp_ms: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[float] = mapped_column(Float)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class BlockRow(Base):
    __tablename__ = "blocks"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    header: Mapped[bytes] = mapped_column(LargeBinary)
    first_index: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class BlockHashesRow(Base):
    """The roots of block ``height``'s aligned runs of ``2**level`` entries, left to right, 32
    bytes each (revision 0010). Append-only."""

    __tablename__ = "block_hashes"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    height: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(Integer)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class LogTileRow(Base):
    """Full tile ``tile_index`` at ``level`` of a chain's log: the 256 hashes, 32 bytes each,
    of the nodes at height ``8 * level`` with indices ``256 * tile_index`` onwards (revision
    0014). Append-only."""

    __tablename__ = "log_tiles"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tile_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[float] = mapped_column(Float)


class WitnessCosignatureRow(Base):
    """A witness's cosignature of one checkpoint size (revision 0009): ``line`` exactly as the
    witness returned it, ``cosigned_at`` its signed timestamp. Append-only."""

    __tablename__ = "witness_cosignatures"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[float] = mapped_column(Float)


class QuarantineRow(Base):
    __tablename__ = "quarantine"
    __table_args__ = (Index(None, "device_id", "seq"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"))
    received_at: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(64), index=True)
    detail: Mapped[str] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    signed_rejection: Mapped[bool] = mapped_column(Boolean, server_default=false())


class QuarantineRefusedRow(Base):
    """Rejected messages the gateway counted but did not keep, past the quarantine's bounds
    (revision 0008): one counter row per chain, registered device (``''`` for any other topic)
    and reason. Updated in place; not append-only."""

    __tablename__ = "quarantine_refused"

    chain_id: Mapped[int] = mapped_column(ForeignKey("chains.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    refused: Mapped[int] = mapped_column(BigInteger)
    refused_bytes: Mapped[int] = mapped_column(BigInteger)
    first_at: Mapped[float] = mapped_column(Float)
    last_at: Mapped[float] = mapped_column(Float)


class DeviceRow(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    registered_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class PendingEntryRow(Base):
    """An entry signed elsewhere (a lot event) waiting for a gateway's next block."""

    __tablename__ = "pending_entries"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float, index=True)


class DropFloorRow(Base):
    """A device's signed statement that it gave up every seq ``<= floor`` it had not sent."""

    __tablename__ = "drop_floors"
    __table_args__ = (Index(None, "device_id", "floor"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(128))
    floor: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[float] = mapped_column(Float)


class SigningKeyRow(Base):
    """A key that signed something verifiers check, and when it was valid (revision 0007)."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("kind", "scope", "public_key"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(String(512))
    key_id: Mapped[str] = mapped_column(String(255), index=True)
    valid_from: Mapped[float] = mapped_column(Float)
    valid_until: Mapped[float | None] = mapped_column(Float)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class LotRow(Base):
    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("gtin", "lot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gtin: Mapped[str] = mapped_column(String(14))
    lot: Mapped[str] = mapped_column(String(20))
    product_name: Mapped[str] = mapped_column(String(128))
    product_class: Mapped[str] = mapped_column(String(64))
    farm: Mapped[str] = mapped_column(String(128))
    origin_region: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)
    details: Mapped[str | None] = mapped_column(Text)


class LotStageRow(Base):
    __tablename__ = "lot_stages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int | None] = mapped_column(BigInteger)
    device_ids: Mapped[str] = mapped_column(Text)


class LotEventRow(Base):
    __tablename__ = "lot_events"
    __table_args__ = (UniqueConstraint("signer", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    signer: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class CampaignRow(Base):
    """A harvest campaign and the head of its own entry chain (revision 0011).

    ``cseq``/``head`` are the last campaign entry's number and state; every new entry is written
    with a compare-and-set on ``cseq`` and a primary key on ``(campaign_id, cseq)`` in
    ``campaign_entries``, so concurrent writers can never fork the chain. The CHECK keeps the
    coupons issued within the cap whatever the code above does."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("issued <= cap", name="campaigns_issued_within_cap"),
        CheckConstraint(
            "redeemed + voided <= issued", name="campaigns_redeemed_voided_within_issued"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gcn: Mapped[str] = mapped_column(String(13), unique=True)
    farm: Mapped[str] = mapped_column(String(64))
    gtin: Mapped[str] = mapped_column(String(14))
    lot: Mapped[str] = mapped_column(String(20))
    terms: Mapped[str] = mapped_column(Text)
    cap: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[str] = mapped_column(String(128))
    cseq: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    issued: Mapped[int] = mapped_column(BigInteger)
    redeemed: Mapped[int] = mapped_column(BigInteger)
    voided: Mapped[int] = mapped_column(BigInteger)
    harvested: Mapped[int | None] = mapped_column(BigInteger)
    shortfall: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class CampaignEntryRow(Base):
    """Each signed campaign entry (``FC``), by its place in the campaign's chain. Append-only."""

    __tablename__ = "campaign_entries"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    cseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op: Mapped[str] = mapped_column(String(16))
    signer: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class PledgeRow(Base):
    """A backer's pledge: holder key and coupon count; no personal data (that is in
    ``backer_contacts``). The payment reference is kept only as its SHA-256."""

    __tablename__ = "pledges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    holder: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    payment_sha256: Mapped[str | None] = mapped_column(String(64))
    first_serial: Mapped[int | None] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


class BackerContactRow(Base):
    """How to reach a backer and where to deliver: personal, off the chain, and deletable
    (``farmtrace privacy erase``)."""

    __tablename__ = "backer_contacts"

    pledge_id: Mapped[str] = mapped_column(ForeignKey("pledges.id"), primary_key=True)
    contact: Mapped[str | None] = mapped_column(Text)
    delivery: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class CouponRow(Base):
    """A coupon's current state: its holder, head state, moves so far and status."""

    __tablename__ = "coupons"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(64))
    moves: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    pledge_id: Mapped[str] = mapped_column(String(32))


class CouponMoveRow(Base):
    """Each spend of a coupon state: a transfer, a redemption or a void. Append-only.

    The unique ``(campaign_id, serial, prev)`` is the double-spend guard: the database refuses a
    second spend of one state, on SQLite and PostgreSQL alike, whichever API worker tries."""

    __tablename__ = "coupon_moves"
    __table_args__ = (UniqueConstraint("campaign_id", "serial", "prev"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    move: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op: Mapped[str] = mapped_column(String(16))
    prev: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(64))
    holder: Mapped[str | None] = mapped_column(String(64))
    price_amount: Mapped[int | None] = mapped_column(BigInteger)
    price_currency: Mapped[str | None] = mapped_column(String(3))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class CouponListingRow(Base):
    """A holder-signed offer to sell one coupon state at a price (revision 0012; off the chain,
    ``farmtrace.store.listings``). ``ended`` is set once, when the listed state stops being the
    coupon's head or the holder withdraws; the partial unique index keeps one open listing per
    coupon."""

    __tablename__ = "coupon_listings"
    __table_args__ = (
        CheckConstraint("price_amount >= 0", name="coupon_listings_price_not_negative"),
        Index(
            "uq_coupon_listings_open",
            "campaign_id",
            "serial",
            unique=True,
            sqlite_where=text("ended IS NULL"),
            postgresql_where=text("ended IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    serial: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(64))
    seller: Mapped[str] = mapped_column(String(64))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    price_currency: Mapped[str] = mapped_column(String(3))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    ended: Mapped[str | None] = mapped_column(String(16))
    ended_state: Mapped[str | None] = mapped_column(String(64))
    ended_time_ms: Mapped[int | None] = mapped_column(BigInteger)
    withdraw_signature: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class ListingOfferRow(Base):
    """A buyer's signed request to buy a listed coupon: the buyer's wallet address only."""

    __tablename__ = "listing_offers"

    listing_id: Mapped[str] = mapped_column(ForeignKey("coupon_listings.id"), primary_key=True)
    buyer: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)


class CommunityRow(Base):
    """A value community and the head of its own entry chain (revision 0013).

    ``eseq``/``head`` are the last community entry's number and state; every new entry is
    written with a compare-and-set on ``eseq`` and a primary key on ``(community_id, eseq)``
    in ``community_entries``, so concurrent writers never fork the chain. ``supply`` and
    ``members`` are the replay's totals after the head; the CHECK keeps the supply whole."""

    __tablename__ = "communities"
    __table_args__ = (CheckConstraint("supply >= 0", name="communities_supply_not_negative"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    operator: Mapped[str] = mapped_column(String(128))
    operator_key: Mapped[str] = mapped_column(String(64))
    rules_version: Mapped[int] = mapped_column(BigInteger)
    eseq: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[str] = mapped_column(String(64))
    supply: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


class CommunityRulesRow(Base):
    """Each signed rules version of a community and the entry from which it applies.
    Append-only."""

    __tablename__ = "community_rules"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    from_eseq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


class CommunityEntryRow(Base):
    """Each signed community entry, by its place in the community's chain. Append-only."""

    __tablename__ = "community_entries"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    eseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    op: Mapped[str] = mapped_column(String(16))
    signer: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(BigInteger)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(64))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Float)


class CommunityMemberRow(Base):
    """A member key's balance and the state its next transfer must spend."""

    __tablename__ = "community_members"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="community_members_balance_not_negative"),
    )

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(64))
    moves: Mapped[int] = mapped_column(BigInteger)


class CommunityPostingRow(Base):
    """Each change of a member's balance by an entry: the member's history. Append-only."""

    __tablename__ = "community_postings"
    __table_args__ = (Index("ix_community_postings_address", "community_id", "address"),)

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    eseq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    delta: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(16))


class CommunityTransferRow(Base):
    """Each holder-signed spend of a member state. Append-only.

    The primary key ``(community_id, sender, prev)`` is the double-spend guard: the database
    refuses a second spend of one state, on SQLite and PostgreSQL alike."""

    __tablename__ = "community_transfers"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), primary_key=True)
    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    prev: Mapped[str] = mapped_column(String(64), primary_key=True)
    eseq: Mapped[int] = mapped_column(BigInteger)
    recipient: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)


API_TABLES = ("api_keys", "lots", "lot_stages", "lot_events")
"""The provenance API's tables (early API builds created them themselves; revision 0002
adopts those)."""

APPEND_ONLY_TABLES = (
    "chains",
    "chain_keys",
    "entries",
    "blocks",
    "block_hashes",
    "log_tiles",
    "checkpoints",
    "quarantine",
    "drop_floors",
    "campaign_entries",
    "coupon_moves",
    "witness_cosignatures",
    "community_rules",
    "community_entries",
    "community_postings",
    "community_transfers",
)
"""Tables whose rows the database itself refuses to UPDATE or DELETE (see the migrations)."""
