"""The lot bundle: one JSON file with everything needed to verify a lot offline.

The format is specified in ``docs/bundle.md``; ``farmtrace verify`` (``farmtrace/api/services/verify.py``) is the
reference verifier. All proofs of one chain are relative to one checkpoint, the one the bundle
carries for that chain.
"""

from __future__ import annotations

from typing import Any

from farmtrace.api.services.convert import b64
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.handovers import handover_notes
from farmtrace.api.services.lots.store import LotRecord
from farmtrace.api.services.series_proof import plan_series
from farmtrace.api.services.views import lot_public
from farmtrace.api.state import AppState
from farmtrace.store.errors import NotFoundError
from farmtrace.store.records import ReadingProof, StoredCheckpoint

__all__ = [
    "BUNDLE_FORMAT",
    "Prover",
    "add_block",
    "build_bundle",
    "chain_section",
    "latest_checkpoints",
]

BUNDLE_FORMAT = "farmtrace-bundle/v2"


def build_bundle(state: AppState, link: DigitalLink, record: LotRecord) -> dict[str, Any]:
    """The bundle of ``record`` as a JSON-ready dict."""
    # Every chain's checkpoint first: a series only holds readings those checkpoints cover.
    latest = latest_checkpoints(state)
    plan = plan_series(state, record.stages, {o: cp.size for o, cp in latest.items()})
    prover = Prover(state, latest)
    prove = prover.prove

    reading_items = []
    for item in plan.readings:
        proved = prove(item.reading.origin, item.reading.global_index)
        if proved is not None:
            proved["stage"] = item.stage
            # Judged against the run's previous reading: a window reading's previous stored
            # reading is always in its run (the run holds every seq from before the window).
            proved["clock_backwards"] = item.clock_backwards
            if item.boundary:
                proved["boundary"] = True
            reading_items.append(proved)
    event_items: list[dict[str, Any]] = []
    for event in record.events:
        proved = None
        if event.anchor is not None:
            proved = prove(event.anchor.origin, event.anchor.global_index)
        if proved is None:
            event_items.append({"status": "pending-anchoring", "entry": b64(event.entry.payload)})
        else:
            event_items.append({"status": "anchored", **proved})
    ack_items: list[dict[str, Any]] = []
    for stored in record.acks:
        proved = None
        if stored.anchor is not None:
            proved = prove(stored.anchor.origin, stored.anchor.global_index)
        head = {"signer": stored.signer, "seq": stored.seq}
        if proved is None:
            ack_items.append({"status": "pending-anchoring", **head, "entry": b64(stored.payload)})
        else:
            ack_items.append({"status": "anchored", **head, **proved})
    declaration_items: list[dict[str, Any]] = []
    for declared in record.declarations:
        proved = None
        if declared.anchor is not None:
            proved = prove(declared.anchor.origin, declared.anchor.global_index)
        payload = b64(declared.entry.payload)
        if proved is None:
            declaration_items.append({"status": "pending-anchoring", "entry": payload})
        else:
            declaration_items.append({"status": "anchored", **proved})
    devices = {item.device_id for item in plan.readings} | set(plan.drop_floors)
    signers = (
        {e.entry.signer for e in record.events}
        | {a.signer for a in record.acks}
        | {d.entry.signer for d in record.declarations}
    )
    lot = lot_public(state, link, record).model_dump(mode="json", exclude={"events"})
    return {
        "format": BUNDLE_FORMAT,
        "lot": lot,
        "chains": prover.chains(),
        "blocks": prover.blocks(),
        "device_keys": {d: b64(k) for d, k in sorted(state.device_keys(devices).items())},
        # Each signer is the hash of its key, so a lot signed before a rotation names the
        # older key: the key history gives every signer the key that signed its records.
        "event_keys": {s: b64(k) for s, k in sorted(state.event_keys(signers).items())},
        "readings": reading_items,
        "series": plan.series,
        "drop_floors": {d: b64(p) for d, p in sorted(plan.drop_floors.items())},
        "events": event_items,
        "acknowledgements": ack_items,
        "declarations": declaration_items,
    }


class Prover:
    """Proves entries against each chain's newest checkpoint (as of ``latest``), collecting the
    ``chains`` and ``blocks`` sections of a bundle as it goes: every format of bundle proves its
    items this way."""

    def __init__(self, state: AppState, latest: dict[str, StoredCheckpoint] | None = None) -> None:
        self.state = state
        self.latest = latest_checkpoints(state) if latest is None else latest
        self.checkpoints: dict[str, StoredCheckpoint] = {}
        self._blocks: dict[tuple[str, int], dict[str, Any]] = {}

    def prove(self, origin: str, index: int) -> dict[str, Any] | None:
        """The proof fields of entry ``index`` of chain ``origin`` (``origin``,
        ``global_index``, ``block_height``, ``index_in_block``, ``entry``, ``inclusion_proof``),
        or ``None`` when the bundle's checkpoint of that chain does not cover it yet."""
        reader = self.state.chain(origin)
        if origin not in self.checkpoints:
            if origin not in self.latest:
                return None
            self.checkpoints[origin] = self.latest[origin]
        try:
            # The bundle is for a verifier to judge the stored rows itself: an entry altered in
            # the database must reach it (and be named), so no root check here.
            proof = reader.reading_proof(index, self.checkpoints[origin], check_root=False)
        except NotFoundError:
            return None  # stored after the bundle's checkpoint: not provable yet
        if proof.entry.block_height >= self.checkpoints[origin].size:
            return None
        add_block(self._blocks, origin, proof, proof.tlog_proof)
        return {
            "origin": origin,
            "global_index": proof.entry.global_index,
            "block_height": proof.entry.block_height,
            "index_in_block": proof.entry.index_in_block,
            "entry": b64(proof.entry.payload),
            "inclusion_proof": [b64(h) for h in proof.inclusion_proof],
        }

    def chains(self) -> list[dict[str, Any]]:
        """The ``chains`` section: each chain a proof was made against."""
        return [chain_section(self.state, o, cp) for o, cp in sorted(self.checkpoints.items())]

    def blocks(self) -> list[dict[str, Any]]:
        """The ``blocks`` section: each block a proof was made in, in (origin, height) order."""
        return [self._blocks[k] for k in sorted(self._blocks)]


def latest_checkpoints(state: AppState) -> dict[str, StoredCheckpoint]:
    """Each chain's newest checkpoint, by origin (chains with none left out)."""
    found = {}
    for origin in state.origins():
        checkpoint = state.chain(origin).latest_checkpoint(fresh=True)
        if checkpoint is not None:
            found[origin] = checkpoint
    return found


def chain_section(state: AppState, origin: str, checkpoint: StoredCheckpoint) -> dict[str, Any]:
    """A bundle's ``chains`` item: the checkpoint, the chain's verifier keys and the key
    hand-overs up to the checkpoint."""
    keys = state.verifier_keys(origin)
    reader = state.chain(origin)
    return {
        "origin": origin,
        "checkpoint": checkpoint.note,
        "verifier_keys": keys,
        "key_handovers": handover_notes(reader, keys, checkpoint.size),
    }


def add_block(
    blocks: dict[tuple[str, int], dict[str, Any]], origin: str, proof: ReadingProof, tlog: str
) -> None:
    """Add the ``blocks`` item of ``proof``'s block (header and tlog-proof) once."""
    key = (origin, proof.block.height)
    if key not in blocks:
        blocks[key] = {
            "origin": origin,
            "height": proof.block.height,
            "header": proof.block_bytes.decode("ascii"),
            "tlog_proof": tlog,
        }
