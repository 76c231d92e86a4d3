"""A checkpoint against a C2SP tlog-policy, for the offline verifiers (``farmtrace verify
--policy``): which of the policy's witnesses cosigned it and whether its quorum is met."""

from __future__ import annotations

from collections.abc import Sequence

from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.policy import Policy, check_checkpoint

__all__ = ["PolicyFailure", "witnessed"]


class PolicyFailure(ValueError):
    """A checkpoint that the policy rejects (no listed log signed it, or the quorum is not met)."""


def witnessed(note: str, policy: Policy, logs: Sequence[Verifier], origin: str) -> str:
    """A report line for checkpoint ``note`` of ``origin`` under ``policy``; ``logs`` are
    further keys trusted for the log (given keys, hand-overs). Raises :class:`PolicyFailure`."""
    try:
        result = check_checkpoint(note, policy, extra_logs=tuple(logs), origin=origin)
    except TlogError as exc:
        raise PolicyFailure(f"checkpoint of chain {origin}: {exc}") from None
    names = ", ".join(sorted(result.cosigned)) or "no witness"
    quorum = "none required" if result.quorum is None else f"quorum {result.quorum} met"
    return f"checkpoint of {origin}: cosigned by {names} ({quorum})"
