"""Checkpoints, consistency and reading proofs, checked with the plain-Python reference."""

from __future__ import annotations

import base64

import pytest
from support.api import ORIGIN, Served

from farmtrace.chain.block import BlockHeader
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.merkle import leaf_hash, verify_consistency, verify_inclusion
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.proof import verify_tlog_proof
from farmtrace.wire.protocol import decode, verify


@pytest.fixture
def served(served_on_both: Served) -> Served:
    """These tests run on SQLite and on PostgreSQL."""
    return served_on_both


def test_checkpoint_is_signed_text(served: Served) -> None:
    response = served.client.get("/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    signed = open_checkpoint(response.text, [Verifier.from_vkey(served.ledger_vkey)], ORIGIN)
    assert signed.checkpoint.size == 3
    named = served.client.get(f"/v1/chains/{ORIGIN}/checkpoint")
    assert named.text == response.text
    assert served.client.get("/v1/chains/no.such/origin/checkpoint").status_code == 404


def test_checkpoints_and_consistency(served: Served) -> None:
    verifier = Verifier.from_vkey(served.ledger_vkey)
    one = open_checkpoint(served.client.get("/v1/checkpoints/1").text, [verifier])
    three = open_checkpoint(served.client.get("/v1/checkpoints/3").text, [verifier])
    body = served.client.get("/v1/consistency", params={"from": 1, "to": 3}).json()
    proof = [base64.b64decode(h) for h in body["proof"]]
    assert verify_consistency(1, 3, proof, one.checkpoint.root, three.checkpoint.root)
    assert served.client.get("/v1/checkpoints/9").status_code == 404
    bad = served.client.get("/v1/consistency", params={"from": 3, "to": 1})
    assert bad.status_code == 400 and "must not exceed" in bad.json()["detail"]


def test_reading_proof_verifies_end_to_end(served: Served) -> None:
    verifier = Verifier.from_vkey(served.ledger_vkey)
    for index in (0, 20, 59):
        body = served.client.get(f"/v1/readings/{index}/proof").json()
        entry = base64.b64decode(body["entry"])
        signed = decode(entry)
        assert verify(signed, base64.b64decode(body["device_public_key"]))
        header_bytes = body["block_header"].encode()
        header = BlockHeader.parse(header_bytes)
        path = [base64.b64decode(h) for h in body["inclusion_proof"]]
        assert verify_inclusion(
            leaf_hash(entry), body["index_in_block"], header.size, path, header.root
        )
        assert header.first_index + body["index_in_block"] == index
        verify_tlog_proof(body["tlog_proof"], header_bytes, [verifier], ORIGIN)
        reading = served.client.get(f"/v1/readings/{index}").json()
        assert reading["device_id"] == signed.device_id and reading["seq"] == signed.seq
        assert reading["measurements"][0]["type"] == "Temperature"


def test_unknown_and_malformed_readings(served: Served) -> None:
    assert served.client.get("/v1/readings/60").status_code == 404
    assert served.client.get("/v1/readings/-1").status_code == 422
    assert served.client.get("/v1/readings/99999999999999999999").status_code == 422
    assert served.client.get("/v1/readings/abc/proof").status_code == 422
    # An index near the largest SQL integer is unknown, not a storage failure (the read of its
    # neighbours once passed 2^63 - 1 to the driver: 503).
    for index in (2**63 - 2, 2**63 - 1):
        assert served.client.get(f"/v1/readings/{index}/proof").status_code == 404
        assert served.client.get(f"/v1/readings/{index}").status_code == 404


def test_security_headers(served: Served) -> None:
    headers = served.client.get("/checkpoint").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
