"""The signed records kept beside the chains, checked against each other and their keys.

* **Signed rejections** (quarantine rows with ``signed_rejection``): each settles a seq of its
  device, so its payload must decode as that device's reading with that seq, signed by the
  device's registered key.
* **Lot records** (``lot_events``: events, acknowledgements): each is either anchored (an entry
  with its ``(signer, seq)`` holds the very same bytes) or pending (``pending_entries`` holds
  them); an event's (``FE``) seq, time and signer must agree with its row and its signature
  must verify with the event key of that signer in the key history (``signing_keys``), and the
  lot it names (``gtin``, ``lot``) must be the lot its row is filed under. Every pending entry
  and every entry that is not a reading must have its lot record, except campaign entries and
  coupon transfers, which :mod:`farmtrace.audit.commerce` accounts for, and community entries,
  which :mod:`farmtrace.audit.community` accounts for.
* **Keys**: each chain's recorded keys (``chain_keys``) must be in the key history as that
  chain's checkpoint keys and back, and every key that signed one of its checkpoints (a
  trusted key, ``--key``/``--state``, or a recorded one) must be recorded.

The first failure is raised as :class:`RecordFailure`, naming the row.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Sequence

from farmtrace import rust_core
from farmtrace.chain.entry import CAMPAIGN, COMMUNITY, COUPON_MOVE, EVENT_PREFIX, kind_of
from farmtrace.store.audit_reads import AuditReads
from farmtrace.wire.protocol import ProtocolError, decode

__all__ = ["RecordFailure", "check_records"]

_SIGNATURE = 64
_COMMERCE_KINDS = (CAMPAIGN, COUPON_MOVE, COMMUNITY)
_EVENT_HEAD = struct.Struct(">Qq")


class RecordFailure(Exception):
    """``item`` failed a check for ``reason``; ``origin`` names its chain when it has one."""

    def __init__(self, item: str, reason: str, origin: str = "") -> None:
        super().__init__(f"{item}: {reason}")
        self.item, self.reason, self.origin = item, reason, origin


def check_records(
    reads: AuditReads,
    device_keys: dict[str, bytes],
    chains: Sequence[tuple[int, str]],
    signers: dict[str, list[str]],
) -> None:
    """Run the checks of the module docstring; ``signers`` maps an origin to the ``name+key
    ID`` of the keys that signed its checkpoints."""
    _check_rejections(reads, device_keys)
    _check_lot_records(reads)
    _check_keys(reads, chains, signers)


def _check_rejections(reads: AuditReads, device_keys: dict[str, bytes]) -> None:
    for row_id, device_id, seq, payload in reads.signed_rejections():
        item = f"signed rejection {row_id} (device {device_id} seq {seq})"
        try:
            reading = decode(payload)
        except ProtocolError as exc:
            raise RecordFailure(item, f"its payload does not decode: {exc}") from None
        if (reading.device_id, reading.seq) != (device_id, seq):
            raise RecordFailure(
                item, f"its payload is device {reading.device_id} seq {reading.seq}'s reading"
            )
        key = device_keys.get(device_id)
        if key is None:
            raise RecordFailure(item, "the device is not registered")
        if rust_core.verify_ed25519([(key, reading.signed_bytes, reading.signature)]):
            raise RecordFailure(item, "the signature does not verify with the device's key")


def _check_lot_records(reads: AuditReads) -> None:
    event_keys = {
        key_id: public_key
        for _, kind, _, public_key, key_id in reads.signing_keys()
        if kind == "event"
    }
    anchored = {(d, s): p for _, _, _, d, s, p in reads.signed_entries() if d is not None}
    pending = {
        (d, s): (t, p) for d, s, t, p in reads.pending() if kind_of(p) not in _COMMERCE_KINDS
    }
    lots = reads.lots()
    records: set[tuple[str, int]] = set()
    for row_id, lot_id, signer, seq, time_ms, payload in reads.lot_events():
        item = f"lot record {row_id} (signer {signer} seq {seq})"
        records.add((signer, seq))
        if payload.startswith(EVENT_PREFIX):
            body = _check_event(item, signer, seq, time_ms, payload, event_keys)
            named = (body.get("gtin"), body.get("lot"))
            if lots.get(lot_id) != named:
                raise RecordFailure(
                    item, f"is stored under lot {lot_id} {lots.get(lot_id)}, but names {named}"
                )
        stored = anchored.get((signer, seq))
        waiting = pending.get((signer, seq))
        if stored is None and waiting is None:
            raise RecordFailure(item, "is neither on a chain nor pending (its entry was removed)")
        if stored is not None and stored != payload:
            raise RecordFailure(item, "differs from the entry anchored under its signer and seq")
        if waiting is not None and waiting[1] != payload:
            raise RecordFailure(item, "differs from its pending entry")
        if waiting is not None and waiting[0] != time_ms:
            raise RecordFailure(item, f"its pending entry has time {waiting[0]}, not {time_ms}")
    for device_id, seq in pending:
        if (device_id, seq) not in records:
            raise RecordFailure(
                f"pending entry (signer {device_id} seq {seq})", "has no lot record"
            )
    for chain_id, index, kind, by, number, _ in reads.signed_entries():
        if kind not in _COMMERCE_KINDS and (by, number) not in records:
            raise RecordFailure(
                f"{kind} entry {index} of chain {chain_id} (signer {by} seq {number})",
                "has no lot record",
            )


def _check_event(
    item: str, signer: str, seq: int, time_ms: int, payload: bytes, keys: dict[str, str]
) -> dict[str, object]:
    """An ``FE`` event (docs/bundle.md): its head agrees with the row, and its signature, over
    everything before the last 64 bytes, verifies with the signer's event key. Returns its
    body (the JSON object)."""
    head = len(EVENT_PREFIX)
    try:
        got_seq, got_time = _EVENT_HEAD.unpack_from(payload, head)
        n = payload[head + _EVENT_HEAD.size]
        start = head + _EVENT_HEAD.size + 1
        got_signer = payload[start : start + n].decode("ascii")
        (length,) = struct.unpack_from(">I", payload, start + n)
        body = json.loads(payload[start + n + 4 : start + n + 4 + length])
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        raise RecordFailure(item, "its event entry is truncated or malformed") from None
    if not isinstance(body, dict):
        raise RecordFailure(item, "its event body is not a JSON object")
    if (got_signer, got_seq, got_time) != (signer, seq, time_ms):
        raise RecordFailure(
            item,
            f"its signed event says signer {got_signer} seq {got_seq} time {got_time}, the row "
            f"signer {signer} seq {seq} time {time_ms}",
        )
    encoded = keys.get(signer)
    if encoded is None:
        raise RecordFailure(item, "its signer has no event key in the key history")
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise RecordFailure(item, f"the event key of {signer} is malformed") from None
    signed, signature = payload[:-_SIGNATURE], payload[-_SIGNATURE:]
    if len(key) != 32 or rust_core.verify_ed25519([(key, signed, signature)]):
        raise RecordFailure(item, f"the signature does not verify with {signer}'s event key")
    return body


def _check_keys(
    reads: AuditReads,
    chains: Sequence[tuple[int, str]],
    signers: dict[str, list[str]],
) -> None:
    rows = reads.signing_keys()
    for row_id, kind, scope, public_key, _ in rows:
        if kind == "event" and scope:
            raise RecordFailure(
                f"key history row {row_id}",
                f"event key {public_key} has scope {scope!r}; the event key is database-wide ('')",
            )
    history = {
        (scope, public_key): (row_id, key_id)
        for row_id, kind, scope, public_key, key_id in rows
        if kind == "checkpoint"
    }
    recorded_pairs: set[tuple[str, str]] = set()
    for chain_id, origin in chains:
        recorded = reads.recorded_keys(chain_id)
        for vkey in recorded:
            recorded_pairs.add((origin, vkey))
            item = f"recorded key {vkey}"
            if (origin, vkey) not in history:
                raise RecordFailure(item, "is not in the key history as a checkpoint key", origin)
            if history[(origin, vkey)][1] != _key_name(vkey):
                raise RecordFailure(item, "has another key ID in the key history", origin)
        names = {_key_name(vkey) for vkey in recorded}
        for name in signers.get(origin, []):
            if name not in names:
                raise RecordFailure(
                    f"key {name}", "signed checkpoints but is not recorded in chain_keys", origin
                )
    for (scope, public_key), (row_id, _) in history.items():
        if (scope, public_key) not in recorded_pairs:
            raise RecordFailure(
                f"key history row {row_id}",
                f"names checkpoint key {public_key} of {scope!r}, which no chain recorded",
            )


def _key_name(vkey: str) -> str:
    """``name+key ID`` of a verifier key ``name+<hex ID>+<base64>`` (a name has no ``+``; the
    base64 may)."""
    return "+".join(vkey.split("+", 2)[:2])
