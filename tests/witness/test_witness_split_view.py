"""A split view caught: a log that signs two different checkpoints of one size gets 422 from the
witness for the second, and a verifier with a quorum policy rejects the unwitnessed one (also
when the honest checkpoint's cosignature is pasted onto it)."""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.witnessing import TestLog

from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.cosignature import Cosigner
from farmtrace.tlog.errors import InvalidNoteSignature
from farmtrace.tlog.policy import Policy, QuorumNotMet, check_checkpoint
from farmtrace.tlog.witness_protocol import AddCheckpoint
from farmtrace.witness.core import Witness
from farmtrace.witness.server import WitnessServer

NAMES = ("a", "b", "c")


@pytest.fixture
def witnesses(tmp_path: Path) -> Iterator[list[tuple[Cosigner, WitnessServer]]]:
    log = HONEST
    found = []
    states = []
    for name in NAMES:
        state = WitnessState(f"sqlite:///{tmp_path / (name + '.db')}")
        cosigner = Cosigner(f"witness.example/{name}", hashlib.sha256(name.encode()).digest())
        server = WitnessServer(
            Witness(cosigner, {log.origin: [log.signer.verifier]}, state), "127.0.0.1", 0
        )
        server.start()
        found.append((cosigner, server))
        states.append(state)
    yield found
    for (_, server), state in zip(found, states, strict=True):
        server.close()
        state.close()


HONEST = TestLog.make("farmtrace.example/split-view")
HONEST.grow(6)
FORK = TestLog(HONEST.origin, HONEST.signer, [*HONEST.leaves[:5], b"a quietly different entry"])


def submit(server: WitnessServer, body: bytes) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", "/add-checkpoint", body=body)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def policy(witnesses: list[tuple[Cosigner, WitnessServer]]) -> Policy:
    lines = [f"log {HONEST.signer.verifier.vkey}"]
    lines += [f"witness {n} {c.verifier.vkey}" for n, (c, _) in zip(NAMES, witnesses, strict=True)]
    lines += ["group two-of-three 2 a b c", "quorum two-of-three"]
    return Policy.parse("\n".join(lines) + "\n")


def test_split_view_is_refused_and_the_fork_fails_the_quorum(
    witnesses: list[tuple[Cosigner, WitnessServer]],
) -> None:
    honest_note = HONEST.checkpoint(6)
    fork_note = FORK.checkpoint(6)
    assert honest_note.split("\n")[1] == fork_note.split("\n")[1] == "6"
    assert honest_note != fork_note
    # Witnesses a and b see the honest history first: they cosign it.
    cosigned = honest_note
    for _, server in witnesses[:2]:
        status, lines = submit(server, AddCheckpoint.build(0, [], honest_note).encode())
        assert status == 200
        cosigned += lines
    # The fork, same size, another root: 422 from both.
    for _, server in witnesses[:2]:
        status, _ = submit(server, AddCheckpoint.build(6, [], fork_note).encode())
        assert status == 422
    # Witness c never saw the honest one and cosigns the fork: one cosignature is not a quorum.
    status, fork_lines = submit(witnesses[2][1], AddCheckpoint.build(0, [], fork_note).encode())
    assert status == 200
    rules = policy(witnesses)
    result = check_checkpoint(cosigned, rules, origin=HONEST.origin)
    assert sorted(result.cosigned) == ["a", "b"]
    with pytest.raises(QuorumNotMet, match=r"cosigned by: c\)"):
        check_checkpoint(fork_note + fork_lines, rules, origin=HONEST.origin)
    # The honest checkpoint's cosignatures pasted onto the fork do not verify for it.
    pasted = fork_note + fork_lines + "".join(cosigned.split("\n\n", 1)[1].splitlines(True)[1:])
    with pytest.raises(InvalidNoteSignature):
        check_checkpoint(pasted, rules, origin=HONEST.origin)
