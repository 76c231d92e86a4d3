"""A stored chain that does not match the last signed checkpoint: ``farmtrace gateway`` refuses
to start and says why, on SQLite and PostgreSQL.

Each case lets a real gateway commit three blocks from published readings, stops it, changes
the stored chain behind its back (the append-only triggers switched off, tests/support/tamper.py)
and starts ``farmtrace gateway`` again, as an operator would. It must exit 2 naming what
differs, write nothing (every table's row count and the state directory's checkpoint are
unchanged), and acknowledge nothing: a reading published meanwhile is still queued in the
broker for the gateway's session, and a client resuming that session receives it.

Cases: the last block (its entries and checkpoint too) gone, as after restoring an old backup;
a block header altered; the newest checkpoint signed by another key; and a fork, the last block
replaced by another one signed with the gateway's own key (a copy of its state directory
without the recorded checkpoint), which only the checkpoint the gateway recorded can reveal.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import func, select
from support.ingest import (
    ROOT,
    GatewayProcess,
    Publisher,
    StoredView,
    farmtrace,
    make_device,
    reading_topic,
    signed,
    wait_for,
    write_keys,
)
from support.mosquitto import Mosquitto
from support.postgres import pg_url, postgres_server
from support.readings import batch, devices
from support.tamper import delete_rows, update_row

from farmtrace.gateway.ingest.identity import resolve_identity
from farmtrace.store.ledger import Ledger
from farmtrace.store.models import Base
from farmtrace.store.state import CHECKPOINT_FILE
from farmtrace.tlog.checkpoint import Checkpoint, sign_checkpoint
from farmtrace.tlog.note import Note, Signer

__all__ = ["pg_url", "postgres_server"]  # fixtures used through db_url

pytestmark = pytest.mark.integration

DEVICE = make_device("CHAIN")
BLOCKS = Base.metadata.tables["blocks"]
CHECKPOINTS = Base.metadata.tables["checkpoints"]


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of the backend the test is parametrised with (``sqlite``/``postgresql``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'farmtrace.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def three_blocks(broker: Mosquitto, url: str, state: Path, tmp_path: Path) -> str:
    """A real gateway commits three blocks of the device's readings, then stops. Its MQTT
    session (and subscription) stays with the broker. Returns the chain's origin."""
    keys = write_keys(tmp_path / "keys.json", {DEVICE.device_id: DEVICE.public_key})
    farmtrace("devices", "import", str(keys), "--db", url)
    gateway = GatewayProcess(broker.url, url, state, extra=["--batch-age", "0.1"])
    gateway.start().wait_connected()
    stored = StoredView(url)
    publisher = Publisher(broker.host, broker.port)
    try:
        for block in range(3):
            publisher.publish(
                [
                    (reading_topic(DEVICE), signed(DEVICE, s))
                    for s in range(5 * block + 1, 5 * block + 6)
                ]
            )
            wait_for(lambda: blocks(stored) == block + 1, 60, f"block {block}")  # noqa: B023
    finally:
        publisher.close()
        assert gateway.stop() == 0, gateway.log()[-3000:]
        stored.close()
    return resolve_identity(state, None, None).origin


def blocks(stored: StoredView) -> int:
    with stored.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(BLOCKS)).scalar_one())


def row_counts(url: str) -> dict[str, int]:
    stored = StoredView(url)
    try:
        with stored.engine.connect() as conn:
            return {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in Base.metadata.tables.items()
            }
    finally:
        stored.close()


def newest_checkpoint(url: str) -> str:
    stored = StoredView(url)
    try:
        with stored.engine.connect() as conn:
            note = conn.execute(
                select(CHECKPOINTS.c.note).order_by(CHECKPOINTS.c.size.desc()).limit(1)
            ).scalar_one()
            return str(note)
    finally:
        stored.close()


def block_header(url: str, height: int) -> bytes:
    stored = StoredView(url)
    try:
        with stored.engine.connect() as conn:
            header = conn.execute(
                select(BLOCKS.c.header).where(BLOCKS.c.height == height)
            ).scalar_one()
            return bytes(header)
    finally:
        stored.close()


# -- the changes --------------------------------------------------------------------------------


def lose_last_block(url: str, state: Path, origin: str) -> None:
    delete_rows(url, "checkpoints", "size = 3", {})
    delete_rows(url, "entries", "block_height = 2", {})
    delete_rows(url, "block_hashes", "height = 2", {})
    delete_rows(url, "blocks", "height = 2", {})


def alter_header(url: str, state: Path, origin: str) -> None:
    header = block_header(url, 1)
    changed = header.replace(b"\ntime 1", b"\ntime 2", 1)
    assert changed != header, header
    update_row(url, "blocks", {"height": 1}, {"header": changed})


def foreign_checkpoint(url: str, state: Path, origin: str) -> None:
    note = newest_checkpoint(url)
    other = sign_checkpoint(Checkpoint.parse(Note.parse(note).text), Signer.generate(origin))
    update_row(url, "checkpoints", {"size": 3}, {"note": other})


def fork(url: str, state: Path, origin: str) -> None:
    """The last block replaced by another, signed with the gateway's own key: a copy of its
    state directory that lacks the recorded checkpoint accepts the shortened chain."""
    lose_last_block(url, state, origin)
    copy = state.parent / "state-copy"
    shutil.copytree(state, copy)
    (copy / CHECKPOINT_FILE).unlink()
    with Ledger.open(url, copy, origin) as ledger:
        ledger.append_batch(batch(devices(2, "fork"), range(1)))


CASES: dict[str, tuple[Callable[[str, Path, str], None], str]] = {
    "last-block-lost": (
        lose_last_block,
        "signed a checkpoint of size 3 but the database holds only 2 blocks",
    ),
    "header-altered": (alter_header, "block 2 does not link to the hash of the block before it"),
    "foreign-checkpoint": (foreign_checkpoint, "does not verify with this gateway's key"),
    "fork": (fork, "the first 3 stored blocks differ from the checkpoint of that size"),
}


# -- the session check ------------------------------------------------------------------------


def queued_for_session(broker: Mosquitto, client_id: str) -> list[bytes]:
    """Resume the gateway's MQTT session as ``client_id`` and collect what the broker had
    queued for it (without acknowledging it: the client disconnects before its PUBACK)."""
    received: list[bytes] = []
    got = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        got.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 3600
    client.connect(broker.host, broker.port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        got.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return received


PG_CASES = ("last-block-lost", "fork")
"""On PostgreSQL, the cases whose rows differ by backend (deletes, a second writer); the header
and checkpoint checks read the same bytes on either (kept to the test time budget)."""


@pytest.mark.parametrize(
    ("db_url", "case"),
    [("sqlite", case) for case in CASES] + [("postgresql", case) for case in PG_CASES],
    indirect=["db_url"],
)
def test_gateway_refuses_a_chain_that_does_not_match_its_checkpoint(
    broker: Mosquitto, db_url: str, tmp_path: Path, case: str
) -> None:
    change, message = CASES[case]
    state = tmp_path / "state"
    origin = three_blocks(broker, db_url, state, tmp_path)
    change(db_url, state, origin)
    before = row_counts(db_url)
    recorded = (state / CHECKPOINT_FILE).read_bytes()
    waiting = signed(DEVICE, 16)
    publisher = Publisher(broker.host, broker.port)
    publisher.publish([(reading_topic(DEVICE), waiting)])
    publisher.close()

    done = subprocess.run(
        [sys.executable, "-m", "farmtrace", "gateway", "--broker", broker.url, "--db", db_url,
         "--state", str(state), "--batch-age", "0.1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip

    assert done.returncode == 2, done.stderr
    assert "cannot open the chain" in done.stderr and message in done.stderr, done.stderr
    assert f"chain {origin}" in done.stderr
    assert row_counts(db_url) == before
    assert (state / CHECKPOINT_FILE).read_bytes() == recorded
    client_id = resolve_identity(state, None, None).client_id
    assert queued_for_session(broker, client_id) == [waiting]
