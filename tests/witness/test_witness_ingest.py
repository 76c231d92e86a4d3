"""``farmtrace gateway --witnesses FILE`` as a user runs it (real Mosquitto, a subprocess): one
witness alive, one on a port nobody listens on, one that accepts and never answers. Ingest goes
on, the live witness cosigns the newest checkpoint, and /metrics shows each witness's state."""

from __future__ import annotations

import hashlib
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.ingest import (
    GATEWAY_BROKER_SETTINGS,
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
from support.mosquitto import Mosquitto, free_port

from farmtrace.store.keys import load_or_create_signer
from farmtrace.store.reader import ChainReader
from farmtrace.store.witness_state import WitnessState
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.cosignature import Cosigner, cosignatures_of
from farmtrace.witness.core import Witness
from farmtrace.witness.server import WitnessServer

pytestmark = pytest.mark.integration

ORIGIN = "farmtrace.example/witness-ingest"
DEV = make_device("W")


def test_ingest_with_a_live_a_dead_and_a_silent_witness(
    mosquitto_factory: Any, tmp_path: Path
) -> None:
    broker: Mosquitto = mosquitto_factory(extra=GATEWAY_BROKER_SETTINGS)
    db_url = f"sqlite:///{tmp_path / 'farmtrace.db'}"
    state_dir = tmp_path / "state"
    log_key = load_or_create_signer(state_dir, ORIGIN).verifier
    farmtrace(
        "devices",
        "import",
        str(write_keys(tmp_path / "k.json", {DEV.device_id: DEV.public_key})),
        "--db",
        db_url,
    )

    witness_state = WitnessState(f"sqlite:///{tmp_path / 'witness.db'}")
    live = Cosigner("witness.example/live", hashlib.sha256(b"live").digest())
    server = WitnessServer(Witness(live, {ORIGIN: [log_key]}, witness_state), "127.0.0.1", 0)
    server.start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    dead = Cosigner.generate("witness.example/dead").verifier
    mute = Cosigner.generate("witness.example/silent").verifier
    policy = tmp_path / "witnesses.policy"
    policy.write_text(
        f"log {log_key.vkey}\n"
        f"witness live {live.verifier.vkey} http://127.0.0.1:{server.port}\n"
        f"witness dead {dead.vkey} http://127.0.0.1:{free_port()}\n"
        f"witness silent {mute.vkey} http://127.0.0.1:{silent.getsockname()[1]}\n"
        "group any-one any live dead silent\nquorum any-one\n"
    )
    metrics_port = free_port()
    gateway = GatewayProcess(
        broker.url,
        db_url,
        state_dir,
        extra=[
            "--origin",
            ORIGIN,
            "--batch-age",
            "0.1",
            "--witnesses",
            str(policy),
            "--metrics-port",
            str(metrics_port),
        ],
    )
    gateway.start().wait_connected()
    stored = StoredView(db_url)
    publisher = Publisher(broker.host, broker.port)
    try:
        for seq in range(1, 31):
            publisher.publish([(reading_topic(DEV), signed(DEV, seq))])
            if seq % 10 == 0:
                wait_for(lambda s=seq: stored.reading_count() == s, 30, f"{seq} readings")
        reader = ChainReader.open(db_url, ORIGIN)
        try:

            def cosigned_newest() -> bool:
                newest = reader.latest_checkpoint(fresh=True)
                return newest is not None and bool(cosignatures_of(newest.note, [live.verifier]))

            wait_for(cosigned_newest, 30, "the live witness's cosignature of the newest checkpoint")
            newest = reader.latest_checkpoint(fresh=True)
            assert newest is not None
            open_checkpoint(newest.note, [log_key], ORIGIN)
        finally:
            reader.close()
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
            .read()
            .decode()
        )
        assert (
            f'farmtrace_gateway_witness_cosigned_size{{witness="live"}} {float(newest.size)}'
            in text
        )
        assert 'farmtrace_gateway_witness_failures_total{witness="dead"}' in text
    finally:
        publisher.close()
        code = gateway.stop()
        stored.close()
        server.close()
        witness_state.close()
        silent.close()
    assert code == 0, gateway.log()[-3000:]
