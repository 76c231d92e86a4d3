"""``farmtrace keys rotate`` and the hand-over checkpoint, in process (SQLite and PostgreSQL).

The end-to-end run (a gateway process stopped, rotated and restarted twice, the API's bundles
before and after) is in ``test_keys_rotation_e2e.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from support.readings import batch, devices
from support.tamper import update_row

from farmtrace.chain.errors import ChainError
from farmtrace.chain.rotation import ROTATION_LINE, rotation_successor
from farmtrace.cli import main
from farmtrace.store.engine import normalize_url
from farmtrace.store.errors import KeyFileError, StoreError
from farmtrace.store.keys import (
    KEY_FILE,
    PREVIOUS_KEY_FILE,
    RETIRED_KEYS_FILE,
    load_signer,
    retired_verifiers,
)
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.rotation import rotate_checkpoint_key
from farmtrace.tlog.checkpoint import Checkpoint, open_checkpoint
from farmtrace.tlog.errors import UnverifiedNote
from farmtrace.tlog.note import Note, Signer, Verifier

ORIGIN = "farmtrace.example/rotate-1"
DEVS = devices(4)
CHAIN_KEYS = Base.metadata.tables["chain_keys"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def run_ledger(db_url: str, state: Path, seqs: list[range]) -> list[str]:
    """Open the chain, append one block per range, close; the checkpoint notes signed."""
    notes = []
    with Ledger.open(db_url, state, ORIGIN) as ledger:
        ledger.register_devices({d.device_id: d.public_key for d in DEVS})
        for seq in seqs:
            result = ledger.append_batch(batch(DEVS, seq))
            assert result.checkpoint is not None
            notes.append(result.checkpoint)
    return notes


def rotate(state: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[str, str]:
    """Run the command; the old and new verifier keys it printed."""
    assert main(["keys", "rotate", "--state", str(state), *more]) == 0
    out = capsys.readouterr().out.split()
    assert out[0] == "old" and out[2] == "new", out
    return out[1], out[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def signers(note: str) -> list[str]:
    return [f"{s.name}+{s.key_id:08x}" for s in Note.parse(note).signatures]


def key_ref(vkey: str) -> str:
    return "+".join(vkey.split("+")[:2])


def chain_keys(db_url: str) -> list[str]:
    engine = create_engine(normalize_url(db_url))
    with engine.connect() as conn:
        keys = [r.vkey for r in conn.execute(select(CHAIN_KEYS).order_by(CHAIN_KEYS.c.added_at))]
    engine.dispose()
    return keys


def test_rotate_makes_a_new_private_key_and_retires_the_old(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ledger(f"sqlite:///{tmp_path / 'db'}", state, [range(1, 2)])
    before = load_signer(state).verifier.vkey
    old, new = rotate(state, capsys)
    assert old == before and new == load_signer(state).verifier.vkey
    assert Verifier.from_vkey(new).name == Verifier.from_vkey(old).name == ORIGIN
    assert key_ref(new) != key_ref(old)  # same name, another key ID
    assert [v.vkey for v in retired_verifiers(state)] == [old]
    # The old private key waits to co-sign the hand-over checkpoint.
    assert Signer.from_skey((state / PREVIOUS_KEY_FILE).read_text().strip()).verifier.vkey == old
    for name in (KEY_FILE, PREVIOUS_KEY_FILE, RETIRED_KEYS_FILE):
        assert mode(state / name) == 0o600, name
    assert mode(state) == 0o700
    assert not list(state.glob(".*.tmp"))


def test_rotating_twice_appends_and_keeps_the_last_signer_for_the_handover(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ledger(f"sqlite:///{tmp_path / 'db'}", state, [range(1, 2)])
    (state / RETIRED_KEYS_FILE).write_text("# keys of the previous installation\n")
    os.chmod(state / RETIRED_KEYS_FILE, 0o600)
    first_old, first_new = rotate(state, capsys)
    second_old, second_new = rotate(state, capsys)
    assert second_old == first_new
    text = (state / RETIRED_KEYS_FILE).read_text()
    assert text == f"# keys of the previous installation\n{first_old}\n{first_new}\n"
    # No checkpoint was signed in between: the first key, the last to sign, hands over.
    previous = (state / PREVIOUS_KEY_FILE).read_text().strip()
    assert previous.split("+")[3] == first_old.split("+")[1]
    assert load_signer(state).verifier.vkey == second_new


def test_rotate_refuses_while_a_gateway_holds_the_state_directory(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Ledger.open(f"sqlite:///{tmp_path / 'db'}", state, ORIGIN):
        before = (state / KEY_FILE).read_bytes()
        assert main(["keys", "rotate", "--state", str(state)]) == 2
        err = capsys.readouterr().err
        assert "in use by another gateway process" in err and "stop the gateway" in err
        assert (state / KEY_FILE).read_bytes() == before
        assert not (state / PREVIOUS_KEY_FILE).exists()
        assert not (state / RETIRED_KEYS_FILE).exists()


def test_rotate_errors_name_what_is_wrong(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    assert main(["keys", "rotate", "--state", str(missing)]) == 2
    assert f"state directory {missing} does not exist" in capsys.readouterr().err
    assert not missing.exists()
    state.mkdir(mode=0o700)
    assert main(["keys", "rotate", "--state", str(state)]) == 2
    assert f"no checkpoint key at {state / KEY_FILE}" in capsys.readouterr().err
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    # A malformed retired list is reported and left as it was, and nothing rotates.
    (state / RETIRED_KEYS_FILE).write_text("not a key\n")
    key = (state / KEY_FILE).read_bytes()
    assert main(["keys", "rotate", "--state", str(state)]) == 2
    assert f"{state / RETIRED_KEYS_FILE}, line 1" in capsys.readouterr().err
    assert (state / RETIRED_KEYS_FILE).read_text() == "not a key\n"
    assert (state / KEY_FILE).read_bytes() == key
    assert not (state / PREVIOUS_KEY_FILE).exists()
    (state / RETIRED_KEYS_FILE).unlink()
    # A database without this chain, or another gateway's chain of the same name.
    other = tmp_path / "other"
    run_ledger(f"sqlite:///{tmp_path / 'other.db'}", other, [range(1, 2)])
    for url, words in (
        (f"sqlite:///{tmp_path / 'absent.db'}", "no database at"),
        (f"sqlite:///{tmp_path / 'other.db'}", "never recorded this state directory's key"),
    ):
        assert main(["keys", "rotate", "--state", str(state), "--db", url]) == 2
        assert words in capsys.readouterr().err
        assert (state / KEY_FILE).read_bytes() == key


def test_rotate_in_an_unwritable_state_directory_says_so_and_keeps_the_key(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ledger(f"sqlite:///{tmp_path / 'db'}", state, [range(1, 2)])
    key = (state / KEY_FILE).read_bytes()
    # chattr +i: even root cannot create files in the directory (chmod would not stop root).
    if subprocess.run(["chattr", "+i", str(state)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        assert main(["keys", "rotate", "--state", str(state)]) == 2
        err = capsys.readouterr().err
        assert f"cannot write {state / PREVIOUS_KEY_FILE}" in err, err
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=True)
    assert (state / KEY_FILE).read_bytes() == key
    assert sorted(p.name for p in state.iterdir()) == sorted(
        ["checkpoint", "checkpoint.key", "gateway.lock"]
    )


def test_rotation_interrupted_before_the_key_is_replaced_leaves_a_usable_key(
    state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    old = load_signer(state).verifier.vkey
    real_replace = os.replace

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == KEY_FILE:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(
        KeyFileError, match=re.escape(f"cannot write {state / KEY_FILE}: No space left")
    ):
        rotate_checkpoint_key(state)
    monkeypatch.setattr(os, "replace", real_replace)
    # The old key is still the key, intact; the gateway signs with it alone.
    assert load_signer(state).verifier.vkey == old
    assert not list(state.glob(".*.tmp"))
    [note] = run_ledger(db, state, [range(2, 3)])
    assert signers(note) == [key_ref(old)]
    assert not (state / PREVIOUS_KEY_FILE).exists()  # same key as the current: nothing to hand
    # Running the command again completes the rotation without listing the old key twice.
    again_old, new = rotate(state, capsys)
    assert again_old == old
    assert [v.vkey for v in retired_verifiers(state)] == [old]
    [handover] = run_ledger(db, state, [range(3, 4)])
    assert signers(handover) == [key_ref(new), key_ref(old)]


def test_handover_checkpoint_is_signed_by_both_keys_and_names_the_new_one(
    db_url: str, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ledger(db_url, state, [range(1, 2), range(2, 3)])
    old, new = rotate(state, capsys, "--db", db_url)
    assert chain_keys(db_url) == [old, new]  # recorded at once with --db
    handover, after = run_ledger(db_url, state, [range(3, 4), range(4, 5)])
    assert signers(handover) == [key_ref(new), key_ref(old)]
    assert signers(after) == [key_ref(new)]
    old_key, new_key = Verifier.from_vkey(old), Verifier.from_vkey(new)
    # Someone trusting only the old key verifies the hand-over and learns the new key from it.
    body = open_checkpoint(handover, [old_key], ORIGIN).checkpoint
    assert body.size == 3 and body.extensions == (f"{ROTATION_LINE} {new}",)
    successor = rotation_successor(body)
    assert successor is not None and successor.vkey == new
    assert open_checkpoint(handover, [successor], ORIGIN).checkpoint == body
    assert rotation_successor(open_checkpoint(after, [new_key]).checkpoint) is None
    with pytest.raises(UnverifiedNote):
        open_checkpoint(after, [old_key])
    assert not (state / PREVIOUS_KEY_FILE).exists()  # deleted once the hand-over committed
    # Every checkpoint verifies with the key that signed it: the audit with both keys...
    assert main(["audit", "--db", db_url, "--state", str(state)]) == 0
    assert main(["audit", "--db", db_url, "--key", old, "--key", new]) == 0
    assert main(["audit", "--db", db_url]) == 0  # ...or with the keys the chain recorded
    # ...and with one key only, the first checkpoint the other key signed alone fails.
    capsys.readouterr()
    assert main(["audit", "--db", db_url, "--key", old]) == 1
    assert "checkpoint of size 4: does not verify" in capsys.readouterr().err
    assert main(["audit", "--db", db_url, "--key", new]) == 1
    assert "checkpoint of size 1: does not verify" in capsys.readouterr().err
    # The report says which key signed which checkpoints.
    assert main(["audit", "--db", db_url, "--state", str(state), "--json"]) == 0
    [chain] = json.loads(capsys.readouterr().out)["chains"]
    assert chain["signers"] == [
        {"keys": [key_ref(old)], "first": 1, "last": 2, "handover": False},
        {"keys": sorted([key_ref(old), key_ref(new)]), "first": 3, "last": 3, "handover": True},
        {"keys": [key_ref(new)], "first": 4, "last": 4, "handover": False},
    ]
    assert main(["audit", "--db", db_url, "--state", str(state)]) == 0
    ids = [k.split("+")[1] for k in (old, new)]
    runs = f"1-2 by {ids[0]}; 3 (hand-over) by {', '.join(sorted(ids))}; 4 by {ids[1]}"
    assert f"checkpoints signed: {runs}" in capsys.readouterr().out


def test_audit_refuses_a_handover_the_old_key_did_not_sign(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    _, new = rotate(state, capsys)
    [handover] = run_ledger(db, state, [range(2, 3)])
    text, _, lines = handover.partition("\n\n")
    new_only = f"{text}\n\n{lines.splitlines()[0]}\n"  # the old key's signature removed
    assert signers(new_only) == [key_ref(new)]
    assert update_row(db, "checkpoints", {"size": 2}, {"note": new_only}) == 1
    assert main(["audit", "--db", db, "--state", str(state)]) == 1
    assert (
        "checkpoint of size 2: is a key hand-over not signed by a key that signed the "
        "checkpoint before it"
    ) in capsys.readouterr().err


def test_a_committed_handover_is_not_repeated_after_a_crash(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    old, new = rotate(state, capsys)
    kept = tmp_path / "previous.key"
    shutil.copy2(state / PREVIOUS_KEY_FILE, kept)
    [handover] = run_ledger(db, state, [range(2, 3)])
    assert signers(handover) == [key_ref(new), key_ref(old)]
    # A crash after the commit but before the retired key was deleted leaves it behind.
    shutil.copy2(kept, state / PREVIOUS_KEY_FILE)
    [after] = run_ledger(db, state, [range(3, 4)])
    assert signers(after) == [key_ref(new)]
    assert not (state / PREVIOUS_KEY_FILE).exists()


def test_gateway_records_its_key_when_it_opens_the_chain(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    old, new = rotate(state, capsys)
    assert chain_keys(db) == [old]
    with Ledger.open(db, state, ORIGIN):
        assert chain_keys(db) == [old, new]  # before it signs anything with it


def test_handover_key_for_another_origin_is_refused(state: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db'}"
    run_ledger(db, state, [range(1, 2)])
    other = tmp_path / "other"
    with Ledger.open(f"sqlite:///{tmp_path / 'other.db'}", other, "farmtrace.example/other"):
        pass
    shutil.copy2(other / KEY_FILE, state / PREVIOUS_KEY_FILE)
    with pytest.raises(StoreError, match=r"retired key .* is named 'farmtrace\.example/other'"):
        Ledger.open(db, state, ORIGIN)


def test_rotation_line_naming_another_log_or_a_bad_key_is_rejected() -> None:
    other = Signer.generate("farmtrace.example/other").verifier.vkey
    bad = "farmtrace.example/rotate-1+00000000+AT1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
    mine = Signer.generate(ORIGIN).verifier.vkey
    for lines, words in (
        ((f"{ROTATION_LINE} {other}",), r"of another log \('farmtrace\.example/other'\)"),
        ((f"{ROTATION_LINE} {bad}",), "names a malformed successor key"),
        ((f"{ROTATION_LINE} {mine}", f"{ROTATION_LINE} {mine}"), "names 2 successor keys"),
    ):
        with pytest.raises(ChainError, match=words):
            rotation_successor(Checkpoint(ORIGIN, 3, bytes(32), lines))
