"""What a run is given (``RunOptions``) and what it takes from the machine: the state directory,
held exclusively, and enough file descriptors for one socket per device."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import resource
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from farmtrace.sim.errors import StateError
from farmtrace.sim.link import BrokerConfig
from farmtrace.sim.scenario import Scenario
from farmtrace.sim.specs import Spec

log = logging.getLogger("farmtrace.sim")


@dataclass(frozen=True)
class RunOptions:
    """Everything a run needs; built by the command line or the benchmark."""

    state_dir: Path
    broker: BrokerConfig
    scenario: Scenario
    speed: float = 1.0
    duration: float | None = None  # simulated seconds
    start: float | None = None  # simulated UTC seconds at the start; now by default
    seed: int = 0
    queue_limit: int = 10000
    until_committed: bool = False
    resend_after: float = 300.0  # wall seconds without watermark progress before resending
    gateway_keys: tuple[Ed25519PublicKey, ...] = ()  # pinned: watermarks must be signed by one
    drain_timeout: float = 10.0
    offline_start: bool = False
    backoff_min: float = 0.5
    backoff_max: float = 60.0
    max_connects_per_turn: int = 50
    faults: list[Spec] = field(default_factory=list)
    attacks: list[Spec] = field(default_factory=list)


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold the state directory exclusively: two runs on one outbox would reuse seqs."""
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(state_dir / "lock", "a+")  # noqa: SIM115 - held for the whole run
    except OSError as err:
        raise StateError(f"cannot use state directory {state_dir}: {err}") from err
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateError(f"state directory {state_dir} is in use by another run") from None
    try:
        yield
    finally:
        handle.close()


def raise_file_limit(needed: int) -> None:
    """One socket per device: lift the soft open-file limit (often 1024) toward the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            log.warning("open-file limit %d is below the %d this run needs", target, needed)
