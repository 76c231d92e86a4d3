"""Cosignatures checked by an independent implementation: tests/interop/cosigcheck, a Go program
on golang.org/x/mod/sumdb/note (Debian's golang-golang-x-mod-dev: note parsing, key matching, the
log's Ed25519 signature) with a cosignature/v1 verifier written from the C2SP text on Go's
crypto/ed25519. Our witness's cosignatures verify there, forgeries fail there as here, and the
lines Go makes from the same key are byte for byte ours.

Needs ``go`` and /usr/share/gocode/src/golang.org/x/mod: skipped without them, failing under
CI=true (.ci/run installs golang-go and golang-golang-x-mod-dev)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.witnessing import TestLog, seeded_signer

from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.tlog.errors import TlogError
from farmtrace.witness.core import Witness
from farmtrace.witness.server import WitnessServer

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
GOPATH = Path("/usr/share/gocode")


def require_go() -> str:
    go = shutil.which("go")
    problem = None
    if go is None:
        problem = "go is not installed (apt: golang-go)"
    elif not (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir():
        problem = "golang.org/x/mod is not installed (apt: golang-golang-x-mod-dev)"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert go is not None
    return go


@pytest.fixture(scope="module")
def cosigcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = require_go()
    out = tmp_path_factory.mktemp("go") / "cosigcheck"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run(
        [go, "build", "-o", str(out), "./tests/interop/cosigcheck"],
        cwd=REPO,
        env=env,
        check=True,
        timeout=300,
    )
    return out


def run(binary: Path, mode: str, data: object) -> list[object]:
    result = subprocess.run(
        [str(binary), mode],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found: list[object] = json.loads(result.stdout)
    return found


def ours(note: str, witnesses: list[Cosigner]) -> dict[str, object]:
    try:
        found = cosignatures_of(note, [w.verifier for w in witnesses])
    except TlogError as exc:
        return {"error": type(exc).__name__}
    return {"cosigned": [{"name": c.name, "time": c.timestamp} for c in found]}


def test_go_verifies_what_our_witness_cosigned(cosigcheck: Path, tmp_path: Path) -> None:
    log = TestLog.make()
    log.grow(12)
    witnesses = [
        Cosigner(f"witness.example/go-{n}", hashlib.sha256(n.encode()).digest()) for n in "ab"
    ]
    notes: list[str] = []
    for i, cosigner in enumerate(witnesses):
        state = WitnessState(f"sqlite:///{tmp_path / f'{i}.db'}")
        witness = Witness(
            cosigner, {log.origin: [log.signer.verifier]}, state, clock=lambda i=i: 1767225600 + i
        )
        for old, new in ((0, 5), (5, 12)):
            answer = witness.add_checkpoint(log.request(old, new))
            assert answer.status == 200
            notes.append(log.checkpoint(new) + answer.body.decode())
        state.close()
    both = log.checkpoint(12) + "".join(n.split("\n\n")[1].split("\n", 1)[1] for n in notes[1::2])
    fork = TestLog(log.origin, log.signer, [*log.leaves[:11], b"fork"])
    pasted = fork.checkpoint(12) + notes[1].split("\n\n")[1].split("\n", 1)[1]
    cases = [*notes, both, pasted, log.checkpoint(12)]
    results = run(
        cosigcheck,
        "verify",
        [
            {
                "note": n,
                "log_key": log.signer.verifier.vkey,
                "witnesses": [w.verifier.vkey for w in witnesses],
            }
            for n in cases
        ],
    )
    for note, go in zip(cases, results, strict=True):
        mine = ours(note, witnesses)
        assert isinstance(go, dict)
        if "error" in mine:
            assert go["error"], (note, go)
        else:
            assert go["ok"] is True and go["cosigned"] == mine["cosigned"], (note, go, mine)
    assert [len(r["cosigned"]) for r in results[:5]] == [1, 1, 1, 1, 2]  # type: ignore[index]
    assert "invalid signature" in results[5]["error"]  # type: ignore[index]


def test_go_cosignatures_are_byte_for_byte_ours(cosigcheck: Path) -> None:
    log = TestLog.make()
    log.grow(3)
    text = log.checkpoint().split("\n\n")[0] + "\n"
    seeds = [hashlib.sha256(f"seed {i}".encode()).digest() for i in range(3)]
    requests = [
        {"name": f"witness.example/s{i}", "seed": s.hex(), "text": text, "time": 1767225600 + i}
        for i, s in enumerate(seeds)
    ]
    lines = run(cosigcheck, "sign", requests)
    for request, seed, line in zip(requests, seeds, lines, strict=True):
        cosigner = Cosigner(str(request["name"]), seed)
        assert line == cosigner.cosign(text, int(request["time"])).line()  # type: ignore[arg-type]
        (found,) = cosignatures_of(log.checkpoint() + str(line), [cosigner.verifier])
        assert found.timestamp == request["time"]


def test_a_go_client_speaks_tlog_witness_to_our_witness(cosigcheck: Path, tmp_path: Path) -> None:
    """Go's net/http and sumdb/tlog (its own tree hashes and consistency proofs) and sumdb/note
    (its own checkpoint signatures) against our witness server: each answer is the spec's."""
    log = seeded_signer("farmtrace.example/go-log", "go log")
    state = WitnessState(f"sqlite:///{tmp_path / 'go.db'}")
    cosigner = Cosigner("witness.example/for-go", hashlib.sha256(b"for go").digest())
    server = WitnessServer(Witness(cosigner, {log.name: [log.verifier]}, state), "127.0.0.1", 0)
    server.start()
    try:
        run_input = {
            "url": f"http://127.0.0.1:{server.port}",
            "log_skey": log.skey,
            "witness_key": cosigner.verifier.vkey,
        }
        steps = {
            s["step"]: s  # type: ignore[index]
            for s in run(cosigcheck, "client", run_input)
        }
    finally:
        server.close()
        state.close()
    assert steps["first"]["status"] == 200 and steps["first"]["cosigned"]
    stale = steps["stale old size"]
    assert (stale["status"], stale["body"], stale["content_type"]) == (
        409,
        "4\n",
        "text/x.tlog.size",
    )
    assert steps["consistent"]["status"] == 200 and steps["consistent"]["cosigned"]
    assert steps["forged proof"]["status"] == 422
    assert steps["fork at the same size"]["status"] == 422
    assert steps["old above new"]["status"] == 400
    assert steps["consistent again"]["status"] == 200 and steps["consistent again"]["cosigned"]
    assert steps["monitoring read"]["status"] == 200 and steps["monitoring read"]["cosigned"]
