"""The gateway's watermark key: kept in its state directory (0600), recorded in the key history
with its validity period, and handed to devices as a pin file by ``farmtrace devices import``."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from support.ingest import make_device, write_keys

from farmtrace.store.errors import KeyFileError
from farmtrace.store.key_history import KIND_WATERMARK, key_history
from farmtrace.store.ledger import Ledger
from farmtrace.store.watermark_key import WATERMARK_KEY_FILE, load_or_create_watermark_key
from farmtrace.wire import watermark

ROOT = Path(__file__).resolve().parents[2]


def _public(state: Path) -> str:
    key = load_or_create_watermark_key(state)
    return base64.b64encode(key.public_key().public_bytes_raw()).decode("ascii")


def test_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = _public(tmp_path / "gw")
    path = tmp_path / "gw" / WATERMARK_KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert _public(tmp_path / "gw") == first


@pytest.mark.parametrize(
    ("mode", "text", "words"),
    [
        (0o644, None, "readable by others"),
        (0o600, "not base64!\n", "is not base64"),
        (0o600, base64.b64encode(b"short").decode() + "\n", "holds 5 bytes"),
    ],
)
def test_an_unusable_key_is_refused_naming_it(
    tmp_path: Path, mode: int, text: str | None, words: str
) -> None:
    _public(tmp_path)
    path = tmp_path / WATERMARK_KEY_FILE
    if text is not None:
        path.write_text(text)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=words):
        load_or_create_watermark_key(tmp_path)


def test_key_history_records_each_watermark_key_and_ends_the_replaced_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    with Ledger.open(url, tmp_path / "gw", "farmtrace.example/gw-1") as ledger:
        old = _public(tmp_path / "gw")
        assert ledger.record_watermark_key(old)
        assert not ledger.record_watermark_key(old)  # already recorded: nothing changes
        (tmp_path / "gw" / WATERMARK_KEY_FILE).unlink()  # rotation: a new key next start
        new = _public(tmp_path / "gw")
        assert ledger.record_watermark_key(new)
        history = key_history(ledger._engine, KIND_WATERMARK, "farmtrace.example/gw-1")
    assert [k.public_key for k in history] == [old, new]
    assert history[0].valid_until is not None and history[0].valid_until >= history[0].valid_from
    assert history[1].current


def test_devices_import_prints_and_writes_the_pin_file_of_every_gateway(tmp_path: Path) -> None:
    keys = write_keys(tmp_path / "keys.json", {make_device("PIN-1").device_id: bytes(32)})
    pins = tmp_path / "gateway-keys"
    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "devices", "import", str(keys),
         "--db", f"sqlite:///{tmp_path / 'farmtrace.db'}",
         "--gateway-state", str(tmp_path / "gw1"), "--gateway-state", str(tmp_path / "gw2"),
         "--pin-file", str(pins)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = [_public(tmp_path / "gw1"), _public(tmp_path / "gw2")]  # made by the import
    assert expected[0] != expected[1]
    for key in expected:
        assert key in done.stdout
    pinned = watermark.parse_pins(pins.read_text())
    assert [base64.b64encode(k.public_bytes_raw()).decode() for k in pinned] == expected
