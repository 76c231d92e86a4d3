"""The outbox: sequence numbers survive restarts, acknowledgements forget, the bound drops
the oldest and records the drop floor."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.sim.errors import StateError
from farmtrace.sim.identity import Keystore
from farmtrace.sim.outbox import Outbox

DEVICE = "urn:epc:id:giai:4012345.FT01-WS01"


def test_sequence_and_queue_survive_reopening(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", queue_limit=100)
    record = outbox.register(DEVICE)
    assert (record.last_seq, record.queued) == (0, 0)
    for seq in (1, 2, 3):
        outbox.add(record, seq, b"payload-%d" % seq)
    outbox.acknowledge(record, 1)
    outbox.close()
    again = Outbox(tmp_path / "o.sqlite3", queue_limit=100)
    record = again.register(DEVICE)
    assert (record.last_seq, record.queued) == (3, 2)
    assert again.pending(record, 0, 10) == [(2, b"payload-2"), (3, b"payload-3")]
    assert again.pending(record, 2, 10) == [(3, b"payload-3")]
    again.close()


def test_uncommitted_readings_vanish_with_their_seq(tmp_path: Path) -> None:
    script = f"""
import os
from pathlib import Path
from farmtrace.sim.outbox import Outbox
outbox = Outbox(Path({str(tmp_path / "o.sqlite3")!r}), queue_limit=100)
record = outbox.register({DEVICE!r})
outbox.add(record, 1, b"a")
outbox.flush()
outbox.add(record, 2, b"b")
os._exit(0)  # dies before the second commit
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    again = Outbox(tmp_path / "o.sqlite3", queue_limit=100)
    record = again.register(DEVICE)
    # Seq 2 was never published (publishing waits for the commit), so reusing it is safe.
    assert (record.last_seq, record.queued) == (1, 1)
    again.close()


def test_full_outbox_drops_the_oldest(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", queue_limit=3)
    record = outbox.register(DEVICE)
    dropped = [outbox.add(record, seq, b"x") for seq in range(1, 7)]
    assert dropped == [None, None, None, 1, 2, 3]
    assert (record.queued, record.dropped, record.dropped_through) == (3, 3, 3)
    assert [s for s, _ in outbox.pending(record, 0, 10)] == [4, 5, 6]
    outbox.close()
    assert Outbox(tmp_path / "o.sqlite3", 3).register(DEVICE).dropped_through == 3


def test_prune_to_watermark(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", queue_limit=10)
    record = outbox.register(DEVICE)
    for seq in range(1, 6):
        outbox.add(record, seq, b"x")
    assert outbox.prune(record, 3) == 3
    assert (record.committed, record.queued) == (3, 2)
    assert outbox.prune(record, 2) == 0 and record.committed == 3  # never goes back
    outbox.close()


def test_reset_sequence_is_a_fault_only(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3", queue_limit=10)
    record = outbox.register(DEVICE)
    outbox.add(record, 1, b"x")
    outbox.reset_sequence(record)
    assert (record.last_seq, record.queued) == (0, 0)
    outbox.close()


def test_outbox_on_unusable_path(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="cannot open outbox"):
        Outbox(tmp_path / "missing" / "o.sqlite3", queue_limit=10)


def test_keystore_creates_private_keys_once(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    key = store.load_or_create(DEVICE)
    assert isinstance(key, Ed25519PrivateKey)
    (path,) = (tmp_path / "keys").iterdir()
    assert path.name == "urn%3Aepc%3Aid%3Agiai%3A4012345.FT01-WS01.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    same = store.load_or_create(DEVICE)
    assert same.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    assert store.device_ids() == [DEVICE]
    assert len(store.public_keys()[DEVICE]) == 44  # base64 of 32 bytes


def test_keystore_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Keystore(tmp_path).load_or_create(DEVICE)
    finally:
        os.umask(old)
    (path,) = (tmp_path / "keys").iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keystore_refuses_readable_keys(tmp_path: Path) -> None:
    store = Keystore(tmp_path)
    store.load_or_create(DEVICE)
    (path,) = (tmp_path / "keys").iterdir()
    path.chmod(0o640)
    with pytest.raises(StateError, match="chmod 600"):
        store.load_or_create(DEVICE)


def test_keystore_rejects_garbage(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    bad = tmp_path / "keys" / "dev-1.pem"
    bad.write_text("not a key")
    bad.chmod(0o600)
    with pytest.raises(StateError, match="cannot read key"):
        Keystore(tmp_path).public_keys()
