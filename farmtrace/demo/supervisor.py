"""The demo's child processes: each in its own process group, logging to a file, stopped in order.

Every child is started with ``start_new_session=True``, so it leads its own process group and
the terminal's Ctrl-C reaches only the demo, which then stops the children in the reverse order
of their start (simulator first, broker last): each gets SIGTERM and ``grace`` seconds, then its
whole group gets SIGKILL. Each child also asks the kernel for SIGTERM should the demo die
without stopping it (``PR_SET_PDEATHSIG``). After stopping, :meth:`Supervisor.survivors` lists any process still
alive in a child's group, so an orphan is reported rather than left behind silently.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from farmtrace.demo.errors import DemoError
from farmtrace.redact import redact_url

__all__ = ["Child", "Supervisor", "wait_until"]

_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class Child:
    """One supervised process: its name, how it was started, its process and log file."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    grace: float

    @property
    def pgid(self) -> int:
        return self.process.pid  # a session leader's group id is its pid

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log (for error messages)."""
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log}: {exc.strerror})"
        return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Starts children, notices when one dies, and stops them all in reverse order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        grace: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> Child:
        """Start ``argv`` in a new session with stdout and stderr appended to ``LOG_DIR/name.log``.

        The log starts with the command line, URL passwords masked (``--broker mqtt://u:pw@``).
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        shown = " ".join(redact_url(arg) for arg in argv)
        with log.open("ab") as out:
            out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {shown}\n".encode())
            out.flush()
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env=env,
                    preexec_fn=_die_with_parent,
                )
            except OSError as exc:
                raise DemoError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from exc
        child = Child(name, list(argv), process, log, grace)
        self.children.append(child)
        return child

    def check(self) -> None:
        """Raise :class:`DemoError` naming the first child that exited on its own."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise DemoError(
                    f"{child.name} exited with code {code}; the end of {child.log}:\n"
                    f"{child.log_tail()}"
                )

    def stop(self, child: Child) -> int | None:
        """SIGTERM ``child``, wait up to its grace period, then SIGKILL its group; its exit code."""
        if child.process.poll() is None:
            _signal_group(child.pgid, signal.SIGTERM)
            try:
                child.process.wait(child.grace)
            except subprocess.TimeoutExpired:
                _signal_group(child.pgid, signal.SIGKILL)
                child.process.wait()
        # Anything the child left in its group (a grandchild) goes with it.
        _signal_group(child.pgid, signal.SIGKILL)
        return child.process.returncode

    def stop_all(self, order: Sequence[str] = ()) -> dict[str, int | None]:
        """Stop the children named in ``order`` first, then the rest last started first.

        Returns each one's exit code by name.
        """
        ranked = sorted(
            reversed(self.children),
            key=lambda c: order.index(c.name) if c.name in order else len(order),
        )
        codes: dict[str, int | None] = {}
        for child in ranked:
            codes[child.name] = self.stop(child)
        return codes

    def survivors(self, wait: float = 5.0) -> list[str]:
        """Children whose process group still has a live member after up to ``wait`` seconds.

        Should be empty after :meth:`stop_all`; the wait covers a killed grandchild that its
        new parent has not reaped yet (a zombie is not counted as alive).
        """
        deadline = time.monotonic() + wait
        while True:
            alive = [
                f"{child.name} (process group {child.pgid})"
                for child in self.children
                if _group_alive(child.pgid)
            ]
            if not alive or time.monotonic() >= deadline:
                return alive
            time.sleep(_POLL_S)


def _group_alive(pgid: int) -> bool:
    """Whether a process other than a zombie is in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the demo dies, even by SIGKILL (Linux only).

    The children are in their own sessions, so nothing else would stop them if the demo
    were killed outright.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, supervisor: Supervisor
) -> None:
    """Poll ``predicate()`` until true; raise naming ``what`` on timeout or if a child died."""
    deadline = time.monotonic() + timeout
    while not predicate():
        supervisor.check()
        if time.monotonic() > deadline:
            raise DemoError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(_POLL_S * 4)
