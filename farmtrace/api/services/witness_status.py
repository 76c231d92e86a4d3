"""A chain's witnesses as the API shows them (``/v1/chains/{origin}/witnesses``, the page).

Each witness that cosigned a checkpoint of the chain, from the stored cosignatures: its largest
cosigned size and that cosignature's time, so a reader sees how stale each witness is. The
policy is the operator's C2SP tlog-policy file ``<api state>/witness.policy`` (docs/witness.md),
served verbatim for the page's verifier; it is read on each call, and a policy that does not
parse is reported as a server misconfiguration, never served.
"""

from __future__ import annotations

import time
from pathlib import Path

from farmtrace.api.schemas.witnesses import WitnessesPublic, WitnessPublic
from farmtrace.store.reader import ChainReader
from farmtrace.store.witness_cosignatures import WitnessCosignatures
from farmtrace.tlog.policy import MalformedPolicy, Policy

__all__ = ["POLICY_FILE", "PolicyFileError", "read_policy", "witnesses_of"]

POLICY_FILE = "witness.policy"


class PolicyFileError(ValueError):
    """The operator's witness policy file cannot be read or does not parse."""


def read_policy(state_dir: Path | None) -> str | None:
    """The policy text in ``<state_dir>/witness.policy``, checked; ``None`` without one."""
    if state_dir is None:
        return None
    path = Path(state_dir) / POLICY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(f"cannot read {path}: {exc}") from None
    try:
        Policy.parse(text)
    except MalformedPolicy as exc:
        raise PolicyFileError(f"{path}: {exc}") from None
    return text


def witnesses_of(reader: ChainReader, policy: str | None) -> WitnessesPublic:
    """The chain's witnesses, largest cosigned size first."""
    newest = reader.latest_checkpoint()
    size = 0 if newest is None else newest.size
    now = time.time()
    found = [
        WitnessPublic(
            name=vkey.partition("+")[0],
            vkey=vkey,
            cosigned_size=c.size,
            cosigned_at=c.cosigned_at,
            blocks_behind=max(0, size - c.size),
            age_s=round(max(0.0, now - c.cosigned_at), 3),
        )
        for vkey, c in WitnessCosignatures(reader).latest().items()
    ]
    found.sort(key=lambda w: (-w.cosigned_size, w.name))
    return WitnessesPublic(origin=reader.origin, size=size, witnesses=found, policy=policy)
