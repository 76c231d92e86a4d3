"""The proof checks every bundle format shares: checkpoints (with key hand-overs and, given a
policy, witness cosignatures), block headers in their chain log, and an entry's place in its
block's batch tree.

The lot bundle (:mod:`farmtrace.api.services.verify`) and the commerce bundles
(:mod:`farmtrace.api.services.verify_commerce`) carry the same ``chains`` and ``blocks``
sections and the same per-item proof fields (``docs/bundle.md``, ``docs/commerce.md``); these
functions check them, plain Python only (``farmtrace.tlog``, no Rust, no network), and raise
:class:`BundleError` naming the item that fails.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from farmtrace.api.services.witnessed import PolicyFailure, witnessed
from farmtrace.chain.block import BlockHeader
from farmtrace.chain.errors import ChainError
from farmtrace.chain.rotation import rotation_successor
from farmtrace.tlog.checkpoint import SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TlogError, UnverifiedNote
from farmtrace.tlog.merkle import leaf_hash, verify_inclusion
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.policy import Policy
from farmtrace.tlog.proof import TlogProof, verify_tlog_proof

__all__ = [
    "BundleError",
    "Headers",
    "b64_field",
    "check_blocks",
    "check_checkpoints",
    "check_inclusion",
    "follow_handovers",
    "get_field",
]

Headers = dict[tuple[str, int], BlockHeader]
"""Block headers proven in their chain log, by ``(origin, height)``."""


class BundleError(ValueError):
    """A bundle that does not verify; the message names the item and what failed."""


def b64_field(value: object, what: str) -> bytes:
    """Standard base64 (padded, nothing else) of a bundle field; :class:`BundleError` naming
    ``what`` otherwise."""
    if not isinstance(value, str):
        raise BundleError(f"{what}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(f"{what}: not valid base64") from None


def get_field(obj: Any, key: str, kind: type, what: str) -> Any:
    """``obj[key]`` if ``obj`` is an object and the value a ``kind``; else :class:`BundleError`."""
    if not isinstance(obj, dict) or not isinstance(obj.get(key), kind):
        raise BundleError(f"{what}: missing or malformed field {key!r}")
    return obj[key]


def check_checkpoints(
    bundle: dict[str, Any],
    verifiers: list[Verifier],
    ok: Callable[[str], None],
    policy: Policy | None = None,
) -> tuple[dict[str, SignedCheckpoint], dict[str, list[Verifier]]]:
    """Each chain's checkpoint (``chains``), signed by a given key or one a key hand-over leads
    to (and, with a ``policy``, cosigned by its witness quorum): the checkpoints by origin and
    the keys trusted for each chain."""
    found: dict[str, SignedCheckpoint] = {}
    trusted: dict[str, list[Verifier]] = {}
    for chain in get_field(bundle, "chains", list, "bundle"):
        origin = get_field(chain, "origin", str, "chain")
        note = get_field(chain, "checkpoint", str, f"chain {origin}")
        trusted[origin] = follow_handovers(chain, origin, verifiers, ok)
        try:
            found[origin] = open_checkpoint(note, trusted[origin], origin)
        except TlogError as exc:
            raise BundleError(f"checkpoint of chain {origin}: {exc}") from None
        cp = found[origin].checkpoint
        ok(f"checkpoint of {origin}: size {cp.size}, signature verifies with the given key")
        if policy is not None:
            try:
                ok(witnessed(note, policy, trusted[origin], origin))
            except PolicyFailure as exc:
                raise BundleError(str(exc)) from None
    return found, trusted


def follow_handovers(
    chain: dict[str, Any], origin: str, verifiers: list[Verifier], ok: Callable[[str], None]
) -> list[Verifier]:
    """The given keys plus each key a hand-over signed by an already trusted key names.

    A hand-over none of the trusted keys signed is passed over (it cannot add trust); one that a
    trusted key signed must be well formed and also signed by the key it names.
    """
    trusted = list(verifiers)
    handovers = chain.get("key_handovers", [])
    if not isinstance(handovers, list):
        raise BundleError(f"chain {origin}: malformed field 'key_handovers'")
    for i, note in enumerate(handovers):
        what = f"key hand-over {i} of chain {origin}"
        if not isinstance(note, str):
            raise BundleError(f"{what}: expected a signed note")
        try:
            body = open_checkpoint(note, trusted, origin).checkpoint
        except UnverifiedNote:
            continue
        except TlogError as exc:
            raise BundleError(f"{what}: {exc}") from None
        try:
            successor = rotation_successor(body)
        except ChainError as exc:
            raise BundleError(f"{what}: {exc}") from None
        if successor is None:
            raise BundleError(f"{what}: names no successor key")
        if any(v.vkey == successor.vkey for v in trusted):
            continue
        try:
            open_checkpoint(note, [successor], origin)
        except TlogError:
            raise BundleError(f"{what}: not signed by the key it names") from None
        trusted.append(successor)
        ok(
            f"key hand-over of {origin} at size {body.size}: a trusted key vouches for "
            f"{successor.name}+{successor.key_id:08x}"
        )
    return trusted


def check_blocks(
    bundle: dict[str, Any],
    checkpoints: dict[str, SignedCheckpoint],
    trusted: dict[str, list[Verifier]],
    ok: Callable[[str], None],
) -> Headers:
    """Each block header (``blocks``) parses, is the block it says and is in its chain's log
    (C2SP tlog-proof relative to the bundle's checkpoint of that chain)."""
    headers: Headers = {}
    for block in get_field(bundle, "blocks", list, "bundle"):
        origin = get_field(block, "origin", str, "block")
        height = get_field(block, "height", int, f"block of {origin}")
        what = f"block {height} of {origin}"
        raw = get_field(block, "header", str, what).encode("ascii", "replace")
        try:
            header = BlockHeader.parse(raw)
        except ChainError as exc:
            raise BundleError(f"{what}: header does not parse: {exc}") from None
        if header.origin != origin or header.height != height:
            raise BundleError(f"{what}: header says block {header.height} of {header.origin}")
        signed = checkpoints.get(origin)
        if signed is None:
            raise BundleError(f"{what}: the bundle has no checkpoint of that chain")
        proof_text = get_field(block, "tlog_proof", str, what)
        try:
            proof = TlogProof.parse(proof_text)
            if proof.checkpoint != signed.text:
                raise BundleError(f"{what}: tlog-proof is not relative to the bundle's checkpoint")
            verify_tlog_proof(proof, raw, trusted[origin], origin)
        except TlogError as exc:
            raise BundleError(f"{what}: tlog-proof fails: {exc}") from None
        if proof.index != height:
            raise BundleError(f"{what}: tlog-proof is for leaf {proof.index}")
        headers[(origin, height)] = header
    ok(f"{len(headers)} block headers: each in its chain log (C2SP tlog-proof)")
    return headers


def check_inclusion(item: Any, what: str, entry: bytes, headers: Headers) -> None:
    """``entry`` is in the batch tree of the proven block ``item`` names, at its
    ``index_in_block`` (RFC 9162 inclusion), and ``global_index`` is that place on the chain."""
    origin = get_field(item, "origin", str, what)
    height = get_field(item, "block_height", int, what)
    index = get_field(item, "index_in_block", int, what)
    global_index = get_field(item, "global_index", int, what)
    header = headers.get((origin, height))
    if header is None:
        raise BundleError(f"{what}: its block {height} of {origin} is not in the bundle")
    if global_index != header.first_index + index:
        raise BundleError(f"{what}: global index does not match its place in block {height}")
    proof = [
        b64_field(h, f"{what} proof hash") for h in get_field(item, "inclusion_proof", list, what)
    ]
    try:
        good = verify_inclusion(leaf_hash(entry), index, header.size, proof, header.root)
    except TlogError:
        good = False
    if not good:
        raise BundleError(f"{what}: not in block {height} (batch inclusion proof does not match)")
