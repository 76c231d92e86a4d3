"""Cosigned checkpoints through the API and ``farmtrace verify --policy``: the API serves each
checkpoint with its stored cosignatures, bundles and tlog-proofs carry that note verbatim, and a
C2SP tlog-policy's quorum decides whether a bundle verifies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.api import GTIN, LOT, ORIGIN, Served, serve

from farmtrace.cli import main
from farmtrace.store.reader import ChainReader
from farmtrace.store.witness_cosignatures import StoredCosignature, WitnessCosignatures
from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.witness_protocol import AddCheckpoint
from farmtrace.witness.core import Witness

W1 = Cosigner("witness.example/w1", hashlib.sha256(b"w1").digest())
W2 = Cosigner("witness.example/w2", hashlib.sha256(b"w2").digest())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


def cosign_newest(served: Served, cosigner: Cosigner) -> str:
    """``cosigner`` (a real witness) cosigns the chain's newest checkpoint; the line is stored
    as the gateway's witness client stores it."""
    state = WitnessState(f"sqlite:///{served.tmp / (cosigner.name.replace('/', '_') + '.db')}")
    reader = ChainReader.open(served.db_url, ORIGIN)
    try:
        newest = reader.latest_checkpoint(fresh=True)
        assert newest is not None
        witness = Witness(cosigner, {ORIGIN: [Verifier.from_vkey(served.ledger_vkey)]}, state)
        answer = witness.add_checkpoint(AddCheckpoint.build(0, [], newest.note).encode())
        assert answer.status == 200, answer.body
        line = answer.body.decode()
        (found,) = cosignatures_of(newest.note + line, [cosigner.verifier])
        WitnessCosignatures(reader).record(
            StoredCosignature(newest.size, cosigner.verifier.vkey, line, found.timestamp, 1.0)
        )
        return line
    finally:
        reader.close()
        state.close()


def policy_file(served: Served, quorum: str) -> Path:
    path = served.tmp / f"policy-{quorum.replace(' ', '-')}"
    path.write_text(
        f"log {served.ledger_vkey}\n"
        f"witness w1 {W1.verifier.vkey}\n"
        f"witness w2 {W2.verifier.vkey}\n"
        "group both all w1 w2\n"
        "group one any w1 w2\n"
        f"quorum {quorum}\n"
    )
    return path


def fetch_bundle(served: Served) -> Path:
    response = served.client.get(f"/v1/lots/{GTIN}/{LOT}/bundle")
    assert response.status_code == 200
    path = served.tmp / "bundle.json"
    path.write_bytes(response.content)
    return path


def test_api_serves_the_cosigned_checkpoint_everywhere(served: Served) -> None:
    line = cosign_newest(served, W1)
    note = served.client.get("/checkpoint").text
    assert note.endswith(line)
    assert served.client.get("/v1/checkpoints/3").text == note
    proof = served.client.get("/v1/readings/0/proof").json()
    assert proof["tlog_proof"].endswith(note)
    bundle = json.loads(fetch_bundle(served).read_bytes())
    assert [c["checkpoint"] for c in bundle["chains"]] == [note]


def test_verify_with_a_policy(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    cosign_newest(served, W1)
    bundle = str(fetch_bundle(served))
    assert main(["verify", bundle, "--policy", str(policy_file(served, "one"))]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint of {ORIGIN}: cosigned by w1 (quorum one met)" in out
    assert main(["verify", bundle, "--policy", str(policy_file(served, "both"))]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL  checkpoint of chain" in out and "quorum 'both' is not met (cosigned by: w1)" in out
    )
    assert main(["verify", bundle, "--policy", str(policy_file(served, "none"))]) == 0
    assert "cosigned by w1 (none required)" in capsys.readouterr().out


def test_verify_policy_without_cosignatures_fails(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = str(fetch_bundle(served))
    assert main(["verify", bundle, "--policy", str(policy_file(served, "w1"))]) == 1
    assert "is not met (cosigned by: none)" in capsys.readouterr().out


def test_verify_rejects_a_malformed_policy(
    served: Served, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = served.tmp / "bad.policy"
    bad.write_text(f"log {served.ledger_vkey}\ngroup g 2 nobody\nquorum g\n")
    assert main(["verify", str(fetch_bundle(served)), "--policy", str(bad)]) == 2
    assert "policy line 2" in capsys.readouterr().err


def test_witness_status_and_policy_are_served(served: Served) -> None:
    empty = served.client.get("/v1/witnesses").json()
    assert empty == {"origin": ORIGIN, "size": 3, "witnesses": [], "policy": None}
    cosign_newest(served, W1)
    policy = policy_file(served, "one").read_text()
    (served.tmp / "api" / "witness.policy").write_text(policy)
    found = served.client.get(f"/v1/chains/{ORIGIN}/witnesses").json()
    assert found["policy"] == policy
    (w1,) = found["witnesses"]
    assert w1["vkey"] == W1.verifier.vkey and w1["name"] == W1.name
    assert (w1["cosigned_size"], w1["blocks_behind"]) == (3, 0)
    assert w1["age_s"] >= 0
    (served.tmp / "api" / "witness.policy").write_text("quorum nobody\n")
    broken = served.client.get("/v1/witnesses")
    assert broken.status_code == 500 and "policy line 1" in broken.json()["detail"]


@pytest.mark.slow
def test_page_verifier_accepts_the_cosigned_bundle(served: Served, tmp_path: Path) -> None:
    """The page's bundle verifier (page/bundle.js, under node) reaches the Python verdict on a
    bundle whose checkpoint carries cosignatures, and on one whose cosignature is damaged
    (a witness key it does not know: ignored by both)."""
    import os
    import subprocess

    from test_js_verifier import REPO_ROOT, require_node

    from farmtrace.api.services.verify import verify_bundle

    node = require_node()
    cosign_newest(served, W1)
    cosign_newest(served, W2)
    bundle = json.loads(fetch_bundle(served).read_bytes())
    note = bundle["chains"][0]["checkpoint"]
    assert len(cosignatures_of(note, [W1.verifier, W2.verifier])) == 2
    broken = note[:-6] + ("A" if note[-6] != "A" else "B") + note[-5:]
    # The same note everywhere it appears (the chain and every tlog-proof): only the line changes.
    damaged = json.loads(
        json.dumps(bundle).replace(json.dumps(note)[1:-1], json.dumps(broken)[1:-1])
    )
    assert damaged["chains"][0]["checkpoint"] == broken
    cases = []
    for name, case in (("cosigned", bundle), ("cosignature damaged", damaged)):
        report = verify_bundle(json.dumps(case).encode(), [served.ledger_vkey], say=lambda _l: None)
        want = {
            "ok": True,
            "readings": report.readings,
            "events": report.events,
            "pending": report.pending,
            "declarations": report.declarations,
            "declarations_pending": report.declarations_pending,
        }
        cases.append({"name": name, "bundle": case, "vkey": [served.ledger_vkey], "want": want})
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": cases}))
    result = subprocess.run(
        [node, "--test", "tests/js/page_bundle.test.mjs"],
        cwd=REPO_ROOT,
        env={**os.environ, "PAGE_BUNDLE_CASES": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "# pass 3" in result.stdout, result.stdout[-2000:]


def test_only_superseded_checkpoints_are_cached_for_ever(served: Served) -> None:
    """The newest checkpoint may still gain cosignatures: not immutable until a newer one."""
    newest = served.client.get("/v1/checkpoints/3")
    assert newest.headers["cache-control"] == "no-cache"
    older = served.client.get("/v1/checkpoints/2")
    assert older.headers["cache-control"] == "public, max-age=31536000, immutable"
