"""The witness's answers to add-checkpoint (c2sp.org/tlog-witness), one status code at a time,
against a real SQLite state database, and the cosignatures it returns (c2sp.org/tlog-cosignature).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.witnessing import TestLog, seeded_signer

from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.tlog.note import Note, sign_note
from farmtrace.tlog.witness_protocol import SIZE_CONTENT_TYPE, AddCheckpoint, parse_size
from farmtrace.witness.core import Witness

WITNESS_NAME = "witness.farmtrace.example/w1"


@pytest.fixture
def log() -> TestLog:
    log = TestLog.make()
    log.grow(10)
    return log


@pytest.fixture
def state(tmp_path: Path) -> Iterator[WitnessState]:
    state = WitnessState(f"sqlite:///{tmp_path / 'witness.db'}")
    yield state
    state.close()


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner(WITNESS_NAME, hashlib.sha256(b"witness w1").digest())


@pytest.fixture
def witness(log: TestLog, state: WitnessState, cosigner: Cosigner) -> Witness:
    return Witness(cosigner, {log.origin: [log.signer.verifier]}, state, clock=lambda: 1767225600)


def test_first_checkpoint_is_cosigned_and_stored(witness: Witness, log: TestLog) -> None:
    answer = witness.add_checkpoint(log.request(0, 4))
    assert answer.status == 200, answer.body
    lines = answer.body.decode()
    assert lines.startswith("— " + WITNESS_NAME + " ") and lines.endswith("\n")
    cosigned = log.checkpoint(4) + lines
    (found,) = cosignatures_of(cosigned, [witness.cosigner.verifier])
    assert found.timestamp == 1767225600
    stored = witness.state.latest(log.origin)
    assert stored is not None and stored.size == 4 and stored.root == log.tree(4).root


def test_consistent_growth_is_cosigned(witness: Witness, log: TestLog) -> None:
    assert witness.add_checkpoint(log.request(0, 3)).status == 200
    assert witness.add_checkpoint(log.request(3, 7)).status == 200
    assert witness.add_checkpoint(log.request(7, 10)).status == 200
    # The same checkpoint again: a fresh cosignature (the spec no longer short-circuits).
    assert witness.add_checkpoint(log.request(10, 10)).status == 200
    stored = witness.state.latest(log.origin)
    assert stored is not None and stored.size == 10


def test_wrong_old_size_is_409_with_the_witness_size(witness: Witness, log: TestLog) -> None:
    assert witness.add_checkpoint(log.request(0, 5)).status == 200
    answer = witness.add_checkpoint(log.request(3, 8))
    assert answer.status == 409
    assert answer.content_type == SIZE_CONTENT_TYPE
    assert answer.body == b"5\n" and parse_size(answer.body) == 5
    # A client that never talked to the witness starts at 0 and learns the size.
    answer = witness.add_checkpoint(log.request(0, 8))
    assert (answer.status, answer.body) == (409, b"5\n")
    assert witness.add_checkpoint(log.request(5, 8)).status == 200


def test_old_size_beyond_the_witness_is_409_with_0(witness: Witness, log: TestLog) -> None:
    answer = witness.add_checkpoint(log.request(4, 8))
    assert (answer.status, answer.body) == (409, b"0\n")


def test_unknown_origin_is_404(witness: Witness) -> None:
    other = TestLog.make("farmtrace.example/someone-else")
    other.grow(2)
    assert witness.add_checkpoint(other.request(0)).status == 404


def test_not_signed_by_a_trusted_key_is_403(witness: Witness, log: TestLog) -> None:
    impostor = seeded_signer(log.origin, "not the log's key")
    tree = log.tree(4)
    note = sign_checkpoint(Checkpoint(log.origin, 4, tree.root), impostor)
    assert witness.add_checkpoint(AddCheckpoint.build(0, [], note).encode()).status == 403


def test_a_trusted_key_with_a_bad_signature_is_403(witness: Witness, log: TestLog) -> None:
    note = log.checkpoint(4)
    text, sigs = note.split("\n\n", 1)
    broken = sigs.replace(sigs[-6], "A" if sigs[-6] != "A" else "B", 1)
    parsed = Note.parse(text + "\n\n" + broken)
    assert parsed.signatures[0].key_id == log.signer.key_id
    answer = witness.add_checkpoint(AddCheckpoint.build(0, [], text + "\n\n" + broken).encode())
    assert answer.status == 403


def test_old_beyond_new_is_400(witness: Witness, log: TestLog) -> None:
    assert witness.add_checkpoint(log.request(0, 6)).status == 200
    body = AddCheckpoint.build(6, [], log.checkpoint(4)).encode()
    assert witness.add_checkpoint(body).status == 400
    stored = witness.state.latest(log.origin)
    assert stored is not None and stored.size == 6


def test_bad_consistency_proof_is_422(witness: Witness, log: TestLog) -> None:
    assert witness.add_checkpoint(log.request(0, 3)).status == 200
    proof = log.proof(3, 9)
    proof[0] = bytes(32)
    body = AddCheckpoint.build(3, proof, log.checkpoint(9)).encode()
    assert witness.add_checkpoint(body).status == 422
    stored = witness.state.latest(log.origin)
    assert stored is not None and stored.size == 3


def test_proof_from_size_0_must_be_empty(witness: Witness, log: TestLog) -> None:
    body = AddCheckpoint.build(0, [bytes(32)], log.checkpoint(4)).encode()
    assert witness.add_checkpoint(body).status == 422
    assert witness.state.latest(log.origin) is None


def test_size_0_needs_the_empty_root(witness: Witness, log: TestLog) -> None:
    bad = sign_checkpoint(Checkpoint(log.origin, 0, bytes(32)), log.signer)
    assert witness.add_checkpoint(AddCheckpoint.build(0, [], bad).encode()).status == 422
    good = log.checkpoint(0)
    assert witness.add_checkpoint(AddCheckpoint.build(0, [], good).encode()).status == 200


def test_split_view_same_size_other_root_is_422(witness: Witness, log: TestLog) -> None:
    """A log that signs two different checkpoints of one size: the second is refused."""
    assert witness.add_checkpoint(log.request(0, 6)).status == 200
    fork = TestLog(log.origin, log.signer, [*log.leaves[:5], b"a different sixth entry"])
    fork_note = fork.checkpoint(6)
    answer = witness.add_checkpoint(AddCheckpoint.build(6, [], fork_note).encode())
    assert answer.status == 422
    # And the fork cannot grow past the witness either.
    fork.grow(3)
    proof = fork.proof(6, 9)
    assert (
        witness.add_checkpoint(AddCheckpoint.build(6, proof, fork.checkpoint(9)).encode()).status
        == 422
    )
    stored = witness.state.latest(log.origin)
    assert stored is not None and stored.root == log.tree(6).root
    # The refused same-size checkpoint is kept: with the cosigned one, proof of the split view.
    assert witness.state.conflicts(log.origin) == [(6, fork_note)]


def test_same_size_same_root_with_a_proof_is_422_not_a_split_view(
    witness: Witness, log: TestLog
) -> None:
    assert witness.add_checkpoint(log.request(0, 6)).status == 200
    body = AddCheckpoint.build(6, [bytes(32)], log.checkpoint(6)).encode()
    assert witness.add_checkpoint(body).status == 422
    assert witness.state.conflicts(log.origin) == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 1\n",
        b"new 0\n\nx",
        b"old -1\n\n",
        b"old 01\n\n",
        b"old 0\nnot base64\n\n",
        b"old 0\n\n",
        b"old 0\n\nfarmtrace.example/witness-test-log\n1\n",
        b"old 0\n\n\xff\xfe\n\n",
        b"old 18446744073709551616\n\n",
    ],
)
def test_malformed_bodies_are_400(witness: Witness, body: bytes) -> None:
    assert witness.add_checkpoint(body).status == 400


def test_malformed_checkpoint_body_signed_by_the_log_is_400(witness: Witness, log: TestLog) -> None:
    note = sign_note(f"{log.origin}\n01\nnot a root\n", [log.signer])
    assert witness.add_checkpoint(AddCheckpoint.build(0, [], note).encode()).status == 400


def test_more_than_63_proof_lines_is_400(witness: Witness, log: TestLog) -> None:
    body = b"old 5\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\n"
    assert witness.add_checkpoint(body + log.checkpoint(9).encode()).status == 400


def test_monitoring_read(witness: Witness, log: TestLog) -> None:
    digest = hashlib.sha256(log.origin.encode()).hexdigest()
    assert witness.monitored(digest).status == 404
    answer = witness.add_checkpoint(log.request(0, 7))
    assert answer.status == 200
    read = witness.monitored(digest)
    assert read.status == 200
    note = read.body.decode()
    open_checkpoint(note, [log.signer.verifier], log.origin)
    assert [c.line for c in cosignatures_of(note, [witness.cosigner.verifier])] == [
        answer.body.decode()
    ]
    assert witness.monitored("0" * 64).status == 404


def test_racing_requests_never_roll_the_size_back(
    log: TestLog, db_url: str, cosigner: Cosigner
) -> None:
    """Many threads and two witness processes' worth of state handles on one database (SQLite
    and PostgreSQL): only one request from the same old size wins, and the stored size is the
    one it cosigned."""
    url = db_url
    states = [WitnessState(url), WitnessState(url)]
    witnesses = [Witness(cosigner, {log.origin: [log.signer.verifier]}, s) for s in states]
    assert witnesses[0].add_checkpoint(log.request(0, 1)).status == 200
    cosigned: list[int] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        w = witnesses[n % 2]
        answer = w.add_checkpoint(log.request(1, 2 + n % 9))
        if answer.status == 200:
            with lock:
                cosigned.append(2 + n % 9)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(18)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cosigned) == 1  # only the first from size 1 wins; the others get 409
    stored = states[0].latest(log.origin)
    assert stored is not None and stored.size == cosigned[0]
    for s in states:
        s.close()
