"""The hand-over checkpoint: the first checkpoint signed after ``farmtrace keys rotate``.

It is signed by the new key *and* the retired one, and names the new key in an extension line
(c2sp.org/tlog-checkpoint allows extension lines after the root; ``farmtrace.chain.rotation``)::

    farmtrace.example/gw-1
    42
    <base64 root>
    farmtrace/key-rotation farmtrace.example/gw-1+<new key ID>+<base64 key>

    — farmtrace.example/gw-1 <new key's signature>
    — farmtrace.example/gw-1 <retired key's signature>

A second signature line alone would prove nothing to someone who trusts only the retired key:
anyone can append their own signature to a note the retired key signed. The extension line is
inside the signed text, so the retired key vouches for exactly one successor, and the new key's
signature on the same text shows that its holder took it over. Later checkpoints carry the new
key's signature only. Verifiers that do not know the line ignore it (it is not part of the tree).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from farmtrace.chain.rotation import rotation_line
from farmtrace.store.errors import KeyFileError
from farmtrace.store.keys import load_previous_signer, remove_previous_signer
from farmtrace.tlog.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from farmtrace.tlog.note import Signer, sign_note

__all__ = ["pending_handover", "sign_checkpoint_note"]


def pending_handover(
    state_dir: Path, signer: Signer, latest: SignedCheckpoint | None
) -> Signer | None:
    """The retired key that must co-sign the next checkpoint, or ``None``.

    None is needed when no rotation is pending, when the chain has no checkpoint yet (the old key
    vouched for nothing) or when the newest checkpoint already carries the current key's
    signature (the hand-over was committed but the retired key not yet deleted: delete it now).
    """
    previous = load_previous_signer(state_dir)
    if previous is None:
        return None
    if previous.name != signer.name:
        raise KeyFileError(
            f"the retired key in {state_dir} is named {previous.name!r}, "
            f"not {signer.name!r} like the current key"
        )
    done = (
        latest is None
        or previous.verifier.vkey == signer.verifier.vkey
        or any(
            (sig.name, sig.key_id) == (signer.name, signer.key_id) for sig in latest.note.verified
        )
    )
    if done:
        remove_previous_signer(state_dir)
        return None
    return previous


def sign_checkpoint_note(checkpoint: Checkpoint, signer: Signer, previous: Signer | None) -> str:
    """The signed note of ``checkpoint``; with ``previous``, the hand-over form (see above)."""
    if previous is None:
        return sign_checkpoint(checkpoint, signer)
    if previous.name != checkpoint.origin or signer.name != checkpoint.origin:
        raise KeyFileError(f"the keys of a hand-over must be named {checkpoint.origin!r}")
    line = rotation_line(signer.verifier)
    body = replace(checkpoint, extensions=(*checkpoint.extensions, line))
    return sign_note(body.body(), [signer, previous])
