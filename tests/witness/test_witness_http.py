"""The witness over real HTTP (its stdlib server on a free port), and garbage never getting a 5xx."""

from __future__ import annotations

import hashlib
import http.client
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.witnessing import TestLog

from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.tlog.witness_protocol import AddCheckpoint
from farmtrace.witness.core import Witness
from farmtrace.witness.server import MAX_BODY, WitnessServer

SPEC_CODES = {200, 400, 403, 404, 409, 422}


@pytest.fixture(scope="module")
def log() -> TestLog:
    log = TestLog.make()
    log.grow(40)
    return log


@pytest.fixture(scope="module")
def server(log: TestLog, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WitnessServer]:
    state = WitnessState(f"sqlite:///{tmp_path_factory.mktemp('w') / 'witness.db'}")
    cosigner = Cosigner("witness.farmtrace.example/http", hashlib.sha256(b"http").digest())
    server = WitnessServer(
        Witness(cosigner, {log.origin: [log.signer.verifier]}, state), "127.0.0.1", 0, "/w"
    )
    server.start()
    yield server
    server.close()
    state.close()


def post(
    server: WitnessServer, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", "/w/add-checkpoint", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Content-Type", "")
    finally:
        conn.close()


def get(server: WitnessServer, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_add_checkpoint_and_monitoring_over_http(server: WitnessServer, log: TestLog) -> None:
    status, body, _ = post(server, log.request(0, 3))
    assert status == 200
    cosigned = log.checkpoint(3) + body.decode()
    assert len(cosignatures_of(cosigned, [server.witness.cosigner.verifier])) == 1
    status, body, ctype = post(server, log.request(0, 5))
    assert (status, body, ctype) == (409, b"3\n", "text/x.tlog.size")
    digest = hashlib.sha256(log.origin.encode()).hexdigest()
    status, note = get(server, f"/w/{digest}/checkpoint")
    assert status == 200 and note.decode().startswith(log.checkpoint(3).split("\n\n")[0])
    assert get(server, "/w/add-checkpoint")[0] == 405
    assert get(server, "/elsewhere")[0] == 404


def test_oversized_body_is_413_before_it_is_read(server: WitnessServer, log: TestLog) -> None:
    body = b"old 0\n\n" + b"x" * MAX_BODY
    status, _, _ = post(server, body)
    assert status == 413


def test_no_length_is_411(server: WitnessServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/w/add-checkpoint")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"5\r\nold 0\r\n0\r\n\r\n")
        assert conn.getresponse().status == 411
    finally:
        conn.close()


def _mutations(log: TestLog) -> st.SearchStrategy[bytes]:
    good = log.request(0, 20)
    grown = AddCheckpoint.build(20, log.proof(20, 40), log.checkpoint(40)).encode()

    def flip(data: bytes, at: int, value: int) -> bytes:
        at %= len(data)
        return data[:at] + bytes([value]) + data[at + 1 :]

    return st.one_of(
        st.binary(max_size=600),
        st.builds(
            flip, st.sampled_from([good, grown]), st.integers(0, 10_000), st.integers(0, 255)
        ),
        st.builds(lambda d, n: d[:n], st.sampled_from([good, grown]), st.integers(0, 700)),
        st.builds(
            lambda d, extra: d + extra, st.sampled_from([good, grown]), st.binary(max_size=80)
        ),
        st.builds(
            lambda old, n: (
                b"old %d\n" % old
                + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * n
                + b"\n"
                + log.checkpoint(30).encode()
            ),
            st.integers(0, 2**65),
            st.integers(0, 70),
        ),
    )


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestLog, Witness]]:
    log = TestLog.make()
    log.grow(40)
    state = WitnessState(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'witness.db'}")
    cosigner = Cosigner("witness.farmtrace.example/fuzz", hashlib.sha256(b"fuzz").digest())
    yield log, Witness(cosigner, {log.origin: [log.signer.verifier]}, state)
    state.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_garbage_gets_spec_codes_never_5xx(
    data: st.DataObject, fuzzed: tuple[TestLog, Witness]
) -> None:
    """Malformed bodies, wrong origins, bad proofs, old > new, cut and flipped requests: each
    answer is one of the spec's codes, the witness never raises, and its stored size never
    goes down."""
    log, witness = fuzzed
    before = witness.state.latest(log.origin)
    body = data.draw(_mutations(log))
    answer = witness.add_checkpoint(body)
    assert answer.status in SPEC_CODES, (answer.status, body)
    after = witness.state.latest(log.origin)
    if before is not None:
        assert after is not None and after.size >= before.size
    if answer.status == 409:
        assert answer.body == b"%d\n" % (0 if before is None else before.size)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=300))
def test_garbage_over_http_is_never_5xx(server: WitnessServer, body: bytes) -> None:
    status, _, _ = post(server, body)
    assert status in SPEC_CODES
