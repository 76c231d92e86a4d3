"""Device registry, quarantine and sequence look-ups through the ledger, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from support.readings import batch, devices

from farmtrace.store import DeviceRegistryError, QuarantineItem
from farmtrace.store.engine import create_db_engine
from farmtrace.store.ledger import Ledger

DEVS = devices(3)
KEYS = {d.device_id: d.public_key for d in DEVS}


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Ledger:
    opened = Ledger.open(db_url, tmp_path / "state", "farmtrace.example/gw-1")
    yield opened  # type: ignore[misc]
    opened.close()


def test_register_is_idempotent_and_refuses_a_new_key(ledger: Ledger) -> None:
    assert ledger.register_devices(KEYS) == 3
    assert ledger.register_devices(KEYS) == 0
    assert ledger.register_devices({**KEYS, "dev-new": bytes(32)}) == 1
    with pytest.raises(DeviceRegistryError, match="another public key"):
        ledger.register_devices({"dev-0000": bytes(32)})
    listed = ledger.devices()
    assert [d.device_id for d in listed] == ["dev-0000", "dev-0001", "dev-0002", "dev-new"]
    assert listed[0].public_key == KEYS["dev-0000"] and not listed[0].revoked


@pytest.mark.parametrize(
    ("keys", "message"),
    [({"bad id": bytes(32)}, "invalid device ID"), ({"dev-x": b"short"}, "32 bytes")],
)
def test_register_validates(ledger: Ledger, keys: dict[str, bytes], message: str) -> None:
    with pytest.raises(DeviceRegistryError, match=message):
        ledger.register_devices(keys)


def test_revoke(ledger: Ledger) -> None:
    ledger.register_devices(KEYS)
    ledger.revoke_device("dev-0001", at=123.0)
    ledger.revoke_device("dev-0001", at=456.0)  # already revoked: unchanged
    revoked = {d.device_id: d.revoked_at for d in ledger.devices()}
    assert revoked == {"dev-0000": None, "dev-0001": 123.0, "dev-0002": None}
    with pytest.raises(DeviceRegistryError, match="not registered"):
        ledger.revoke_device("dev-unknown")


def test_quarantine_keeps_raw_bytes_and_reason(ledger: Ledger, db_url: str) -> None:
    items = [
        QuarantineItem(
            1.5, "bad-signature", "signature does not verify", "farm/a", b"\xff" * 9, "d1"
        ),
        QuarantineItem(2.5, "malformed", "truncated", "farm/b", b"", None),
    ]
    assert ledger.quarantine(items) == 2
    assert ledger.quarantine([]) == 0
    engine = create_db_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT reason, detail, topic, payload, device_id FROM quarantine ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [(r[0], r[2], bytes(r[3]), r[4]) for r in rows] == [
        ("bad-signature", "farm/a", b"\xff" * 9, "d1"),
        ("malformed", "farm/b", b"", None),
    ]


def test_last_seqs(ledger: Ledger) -> None:
    assert ledger.last_seqs() == {}
    ledger.append_batch(batch(DEVS, range(5)))
    ledger.append_batch([DEVS[0].reading(9)])
    assert ledger.last_seqs() == {"dev-0000": 9, "dev-0001": 4, "dev-0002": 4}
