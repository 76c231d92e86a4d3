"""``farmtrace witness serve`` and ``farmtrace witness key`` as a user runs them, and the trusted
log list (several keys for one origin: a log that rotated its key)."""

from __future__ import annotations

import hashlib
import http.client
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.mosquitto import free_port
from support.witnessing import TestLog, seeded_signer

from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.cosignature import CosignatureVerifier, Cosigner, cosignatures_of
from farmtrace.tlog.policy import MalformedPolicy, Policy
from farmtrace.witness.core import Witness
from farmtrace.witness.logs import LogListError, parse_log_list

ROOT = Path(__file__).resolve().parents[2]


def farmtrace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
def test_serve_cosigns_and_stops_cleanly(tmp_path: Path) -> None:
    log = TestLog.make()
    log.grow(5)
    logs = tmp_path / "logs.txt"
    logs.write_text(f"# witnessed\nlog {log.signer.verifier.vkey}\n")
    state = tmp_path / "witness"
    key = farmtrace("witness", "key", "--state", str(state), "--name", "witness.example/cmd")
    assert key.returncode == 0, key.stderr
    vkey = key.stdout.strip()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "witness",
            "serve",
            "--state",
            str(state),
            "--logs",
            str(logs),
            "--port",
            str(port),
            "--prefix",
            "/w",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/w/add-checkpoint", body=log.request(0, 5))
                response = conn.getresponse()
                break
            except ConnectionRefusedError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the witness did not start listening"
                time.sleep(0.1)
        assert response.status == 200
        line = response.read().decode()
        (found,) = cosignatures_of(log.checkpoint(5) + line, [CosignatureVerifier.from_vkey(vkey)])
        assert found.timestamp > 1_700_000_000
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert vkey in err and "listening on" in err
    stored = WitnessState(f"sqlite:///{state / 'witness.db'}")
    try:
        latest = stored.latest(log.origin)
        assert latest is not None and latest.size == 5
    finally:
        stored.close()


@pytest.mark.slow
def test_serve_refuses_a_bad_log_list(tmp_path: Path) -> None:
    logs = tmp_path / "logs.txt"
    logs.write_text("log not-a-key\n")
    done = farmtrace(
        "witness",
        "serve",
        "--state",
        str(tmp_path / "w"),
        "--logs",
        str(logs),
        "--name",
        "w.example/x",
    )
    assert done.returncode == 2 and "line 1" in done.stderr
    missing = farmtrace("witness", "key", "--state", str(tmp_path / "none"))
    assert missing.returncode == 2 and "give --name" in missing.stderr


def test_log_list_with_a_rotated_key(tmp_path: Path) -> None:
    log = TestLog.make()
    log.grow(6)
    newer = seeded_signer(log.origin, "the log's next key")
    logs = parse_log_list(
        f"log {log.signer.verifier.vkey}\n\tlog  {newer.verifier.vkey}  https://x\n"
    )
    assert [v.key_id for v in logs[log.origin]] == [log.signer.key_id, newer.key_id]
    state = WitnessState(f"sqlite:///{tmp_path / 'w.db'}")
    cosigner = Cosigner("witness.example/rot", hashlib.sha256(b"rot").digest())
    witness = Witness(cosigner, logs, state)
    assert witness.add_checkpoint(log.request(0, 3)).status == 200
    rotated = TestLog(log.origin, newer, log.leaves)
    assert witness.add_checkpoint(rotated.request(3, 6)).status == 200
    state.close()
    for bad, why in [
        ("", "lists no log"),
        ("logs x\n", "line 1"),
        (f"log {log.signer.verifier.vkey}\nlog {log.signer.verifier.vkey}\n", "twice"),
    ]:
        with pytest.raises(LogListError, match=why):
            parse_log_list(bad)


_WORDS = [
    "log",
    "witness",
    "group",
    "quorum",
    "none",
    "any",
    "all",
    "2",
    "0",
    "a",
    "b",
    " ",
    "\t",
    "\n",
    "#",
    "x+y",
    "\u00a0",
    "\r",
    "\u00e9",
    Cosigner("w.example/a", bytes(32)).verifier.vkey,
    seeded_signer("l.example", "l").verifier.vkey,
]


@given(st.lists(st.sampled_from(_WORDS), max_size=40).map("".join))
def test_any_policy_text_parses_or_is_named_malformed(text: str) -> None:
    try:
        policy = Policy.parse(text)
    except MalformedPolicy:
        return
    policy.satisfied(set())
    policy.satisfied({w.name for w in policy.witnesses})
