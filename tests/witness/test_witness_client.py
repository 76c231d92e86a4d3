"""The gateway's witness client against a real witness server and a real ledger (SQLite): the
consistency proof from the witness's size, a 409 answered by retrying from the size it names,
cosignatures checked and stored, served on the checkpoint and its tlog-proofs, and a witness that
is down or silent costing the ledger's appends nothing."""

from __future__ import annotations

import hashlib
import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.readings import batch, devices
from support.witnessing import TestLog

from farmtrace.gateway.witness_client import (
    WitnessClient,
    WitnessConfigError,
    WitnessEndpoint,
    parse_witness_list,
)
from farmtrace.store.ledger import Ledger
from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.proof import TlogProof
from farmtrace.tlog.witness_protocol import AddCheckpoint
from farmtrace.witness.core import Witness
from farmtrace.witness.server import WitnessServer

ORIGIN = "farmtrace.example/witnessed-gateway"


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path / "state", ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in DEVICES})
        yield ledger


DEVICES = devices(2)


def serve_witness(
    tmp_path: Path, name: str, log_key: Verifier
) -> tuple[WitnessServer, WitnessState, Cosigner]:
    state = WitnessState(f"sqlite:///{tmp_path / (name + '.db')}")
    cosigner = Cosigner(f"witness.example/{name}", hashlib.sha256(name.encode()).digest())
    server = WitnessServer(Witness(cosigner, {ORIGIN: [log_key]}, state), "127.0.0.1", 0)
    server.start()
    return server, state, cosigner


def test_cosignatures_reach_the_served_checkpoint(ledger: Ledger, tmp_path: Path) -> None:
    log_key = Verifier.from_vkey(ledger.verifier_key)
    server, state, cosigner = serve_witness(tmp_path, "w1", log_key)
    ledger.append_batch(batch(DEVICES, range(1, 3)))
    # The witness already cosigned size 1 (someone else sent it): the client, believing 0,
    # gets 409 "1" and retries from 1.
    first = ledger.reader.checkpoint(1).note
    assert server.witness.add_checkpoint(AddCheckpoint.build(0, [], first).encode()).status == 200
    ledger.append_batch(batch(DEVICES, range(3, 5)))
    ledger.append_batch(batch(DEVICES, range(5, 6)))
    endpoint = WitnessEndpoint("w1", cosigner.verifier, f"http://127.0.0.1:{server.port}")
    client = WitnessClient(ledger.reader, [endpoint], interval=0.05)
    client.start()
    try:
        wait_for(lambda: client.status()[0].cosigned_size == 3, 20, "the cosignature of size 3")
        assert client.status()[0].failures == 0
        stored = state.latest(ORIGIN)
        assert stored is not None and stored.size == 3
        note = ledger.reader.latest_checkpoint(fresh=True)
        assert note is not None and note.size == 3
        open_checkpoint(note.note, [log_key], ORIGIN)
        (found,) = cosignatures_of(note.note, [cosigner.verifier])
        assert found.timestamp > 1_700_000_000
        proof = ledger.reader.reading_proof(0, note)
        assert TlogProof.parse(proof.tlog_proof).checkpoint == note.note
        # Growth: the next block is cosigned with a proof from 3.
        ledger.append_batch(batch(DEVICES, range(6, 8)))
        client.notify()
        wait_for(lambda: client.status()[0].cosigned_size == 4, 20, "the cosignature of size 4")
    finally:
        client.stop()
        server.close()
        state.close()
    # A new client starts from what the store holds.
    again = WitnessClient(ledger.reader, [endpoint])
    assert again.status()[0].size == 4 and again.status()[0].cosigned_at is not None


def test_a_dead_or_silent_witness_does_not_slow_appends(ledger: Ledger, tmp_path: Path) -> None:
    dead_port = _closed_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)  # accepts into the backlog, never answers
    keys = [Cosigner.generate(f"witness.example/{n}").verifier for n in ("dead", "silent")]
    client = WitnessClient(
        ledger.reader,
        [
            WitnessEndpoint("dead", keys[0], f"http://127.0.0.1:{dead_port}"),
            WitnessEndpoint("silent", keys[1], f"http://127.0.0.1:{silent.getsockname()[1]}"),
        ],
        interval=0.01,
        timeout=2.0,
    )
    client.start()
    try:
        started = time.monotonic()
        for seq in range(1, 41):
            ledger.append_batch(batch(DEVICES, range(seq, seq + 1)))
            client.notify()
        elapsed = time.monotonic() - started
        assert ledger.size == 40
        # 40 blocks took far less than a single request timeout each would.
        assert elapsed < 20, elapsed
        wait_for(lambda: client.status()[0].failures >= 1, 10, "the dead witness to fail")
        status = {s.name: s for s in client.status()}
        assert status["dead"].cosigned_size == 0 and status["dead"].last_error
        # Backoff (1 s, 2 s, 4 s, ...) holds even though every block notified the client.
        waited = time.monotonic() - started
        assert status["dead"].failures <= 2 + math.log2(1 + waited), (status["dead"], waited)
    finally:
        client.stop()
        silent.close()


def test_witness_list_from_a_policy_file() -> None:
    key = Cosigner.generate("witness.example/a").verifier
    text = (
        "# the co-op's witnesses\n"
        f"log {TestLog.make().signer.verifier.vkey}\n"
        f"witness a {key.vkey} http://127.0.0.1:7380/\n"
        "quorum a\n"
    )
    (endpoint,) = parse_witness_list(text)
    assert endpoint.url == "http://127.0.0.1:7380" and endpoint.key.vkey == key.vkey
    with pytest.raises(WitnessConfigError, match="line 1"):
        parse_witness_list(f"witness a {key.vkey}\n")
    with pytest.raises(WitnessConfigError, match="not an http"):
        parse_witness_list(f"witness a {key.vkey} ftp://x\n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
