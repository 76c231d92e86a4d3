"""A member's statement bundle (``farmtrace-community-statement/v1``, ``docs/community.md``
section 5): one JSON file with everything to recompute a member's balance, history and shares
offline.

It holds every entry of the community, 1..N in order (a member's part of a distribution depends
on every balance, so the whole chain is needed), each ``anchored`` with its inclusion proof
relative to the one checkpoint the bundle carries for its chain, or ``pending-anchoring`` with
its bytes only; the chains' checkpoints and the block headers in their chain logs, made exactly
as for a campaign bundle (:class:`~farmtrace.api.services.bundle.Prover`); and the operator key
of version 1. ``farmtrace verify`` (:mod:`farmtrace.api.services.verify_community`) is the
reference verifier.
"""

from __future__ import annotations

import base64
from typing import Any

from farmtrace.api.services.bundle import Prover
from farmtrace.api.services.commerce_bundle import HeldEntry
from farmtrace.api.services.verify_community import COMMUNITY_STATEMENT
from farmtrace.api.state import AppState
from farmtrace.chain.entry import COMMUNITY
from farmtrace.commerce.community.rules import validate_address, validate_community_id
from farmtrace.commerce.entries import fingerprint
from farmtrace.commerce.errors import CommerceError

__all__ = ["assemble_statement", "build_statement_bundle"]


def assemble_statement(
    state: AppState,
    community: str,
    member: str,
    operator_key: bytes,
    entries: list[HeldEntry],
) -> dict[str, Any]:
    """The statement bundle of ``member`` over a community's ``entries`` (1..N in order)."""
    prover = Prover(state)

    def item(held: HeldEntry) -> dict[str, Any]:
        proved = None if held.anchor is None else prover.prove(*held.anchor)
        if proved is None:
            return {"status": "pending-anchoring", "entry": base64.b64encode(held.payload).decode()}
        return {"status": "anchored", **proved}

    items = [item(e) for e in entries]
    return {
        "format": COMMUNITY_STATEMENT,
        "community": community,
        "member": member,
        "operator_key": base64.b64encode(operator_key).decode("ascii"),
        "chains": prover.chains(),
        "blocks": prover.blocks(),
        "entries": items,
    }


def build_statement_bundle(state: AppState, community: str, member: str) -> dict[str, Any]:
    """The statement bundle of ``member`` in ``community`` as stored now.
    :class:`~farmtrace.commerce.errors.CommerceError` for a malformed ID or address
    (``invalid``), an unknown community or an address that never was a member (``not-found``)."""
    validate_community_id(community)
    validate_address(member, "address")
    svc = state.communities
    head, replay = svc.replay(community)
    if member not in replay.members:
        raise CommerceError(
            f"{fingerprint(bytes.fromhex(member))} is not a member of community {community}",
            "not-found",
        )
    stored = svc.communities.entries(head.id, kind=COMMUNITY)
    held = [
        HeldEntry(e.payload, None if e.anchor is None else (e.anchor.origin, e.anchor.global_index))
        for e in stored
    ]
    return assemble_statement(state, community, member, bytes.fromhex(head.operator_key), held)
