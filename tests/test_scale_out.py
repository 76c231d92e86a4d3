"""Past one machine: two gateways share one Mosquitto (``$share``) and one PostgreSQL.

The real simulator (``--until-committed``) feeds 20 devices at one reading a second to two
``farmtrace gateway`` processes in one share group. One gateway is killed (SIGKILL) mid-run; the
other carries on committing (its chain grows while the dead one's does not), and the devices
resend what the dead one held until the survivor's watermarks cover it, so every reading is
stored exactly once. The killed gateway then comes back: what the broker kept in its persistent
session is recognised as duplicates. Both chains
audit clean, and ``farmtrace api`` lists both chains and serves a proof from each.

Needs mosquitto and PostgreSQL's binaries: skips without them, fails under CI=true.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from support.ingest import GatewayProcess, StoredView, farmtrace, wait_for
from support.mosquitto import Mosquitto
from support.postgres import pg_url, postgres_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

__all__ = ["pg_url", "postgres_server"]  # fixtures used by name

ROOT = Path(__file__).resolve().parent.parent
DEVICES = 20
RUN_S = 40
SHARE = ["--share-group", "farmtrace", "--batch-age", "0.2"]


def per_chain(db_url: str) -> dict[str, int]:
    """Readings stored by each chain, by origin."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.origin, COUNT(*) FROM entries e JOIN chains c ON c.id = e.chain_id"
                    " WHERE e.kind = 'reading' GROUP BY c.origin"
                )
            ).all()
    finally:
        engine.dispose()
    return {str(origin): int(n) for origin, n in rows}


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_two_gateways_one_killed_the_other_carries_on(
    pg_url: str, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sim_state = tmp_path / "sim"
    sim = [sys.executable, "-m", "farmtrace.sim"]
    subprocess.run(
        [*sim, "init", "--state", str(sim_state), "--devices", str(DEVICES)], check=True, cwd=ROOT
    )
    keys = subprocess.run(
        [*sim, "export-keys", "--state", str(sim_state)], check=True, capture_output=True, cwd=ROOT
    ).stdout
    (tmp_path / "keys.json").write_bytes(keys)
    # The devices pin both gateways' watermark keys: either may tell them what is stored.
    farmtrace(
        "devices", "import", "--db", pg_url, str(tmp_path / "keys.json"),
        "--gateway-state", str(tmp_path / "gw1"), "--gateway-state", str(tmp_path / "gw2"),
        "--pin-file", str(sim_state / "gateway-keys"),
    )  # fmt: skip

    gateways = [
        GatewayProcess(mosquitto.url, pg_url, tmp_path / f"gw{n}", extra=SHARE) for n in (1, 2)
    ]
    for gateway in gateways:
        gateway.start().wait_connected()
    report = tmp_path / "sim-report.json"
    with (tmp_path / "sim.log").open("wb") as sim_log:
        simulator = subprocess.Popen(
            [
                *sim,
                "run",
                "--broker",
                mosquitto.url,
                "--state",
                str(sim_state),
                "--devices",
                str(DEVICES),
                "--interval",
                "1",
                "--duration",
                str(RUN_S),
                "--until-committed",
                "--resend-after",
                "5",
                # Keep resending at the end until the watermarks cover everything.
                "--drain-timeout",
                "90",
                "--report",
                str(report),
            ],
            stdout=subprocess.DEVNULL,
            stderr=sim_log,
            cwd=ROOT,
        )
    stored = StoredView(pg_url)
    try:
        wait_for(lambda: len(per_chain(pg_url)) == 2, 60, "both gateways to commit readings")
        gateways[0].kill()
        killed_at = per_chain(pg_url)
        origin_1, origin_2 = (_origin(tmp_path / f"gw{n}") for n in (1, 2))
        assert set(killed_at) == {origin_1, origin_2}
        # The survivor keeps committing while its peer is dead.
        wait_for(
            lambda: per_chain(pg_url)[origin_2] > killed_at[origin_2] + 5 * DEVICES,
            60,
            "the surviving gateway to carry on",
        )
        assert simulator.wait(RUN_S + 150) == 0, (tmp_path / "sim.log").read_text()
        sim_report = json.loads(report.read_text())
        assert sim_report["queued"] == 0, sim_report  # every reading covered by a watermark
        last_seq = sim_report["last_seq"]
        assert len(last_seq) == DEVICES
        want = {device: list(range(1, seq + 1)) for device, seq in last_seq.items()}
        assert per_chain(pg_url)[origin_1] == killed_at[origin_1]
        # The survivor alone stored everything: the devices resent what the dead one held.
        assert stored.seqs() == want

        # The killed gateway comes back: what the broker kept in its session is duplicates.
        gateways[0].start().wait_connected()
        time.sleep(3)  # for the broker to redeliver the session's messages
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
        codes = [g.stop() for g in gateways]
        try:
            final = stored.seqs()
            quarantined = stored.quarantine_count()
        finally:
            stored.close()
    assert codes == [0, 0], [g.log()[-2000:] for g in gateways]
    assert final == want
    assert quarantined == 0
    back = gateways[0].report()  # the restarted run's report: nothing new, only copies
    assert back["accepted"] == 0 and back["received"] == back["duplicates"], back
    for n in (1, 2):
        audit = farmtrace("audit", "--db", pg_url, "--state", str(tmp_path / f"gw{n}"))
        assert "OK" in audit.stdout, audit.stdout

    _api_serves_both_chains(pg_url, tmp_path, {origin_1, origin_2})


def _origin(state: Path) -> str:
    origin: str = json.loads((state / "gateway.json").read_text())["origin"]
    return origin


def _api_serves_both_chains(db_url: str, tmp_path: Path, origins: set[str]) -> None:
    port = free_port()
    with (tmp_path / "api.log").open("wb") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "farmtrace", "api", "--db", db_url, "--port", str(port)],
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base), 60, "the API")
        chains = get_json(f"{base}/v1/chains")
        listed = {c["origin"] for c in chains}
        assert listed == origins
        for origin in origins:
            checkpoint = urllib.request.urlopen(
                f"{base}/v1/chains/{quote(origin)}/checkpoint", timeout=10
            ).read()
            assert checkpoint.startswith(origin.encode() + b"\n")
            index = _first_reading_index(db_url, origin)
            proof = get_json(f"{base}/v1/chains/{quote(origin)}/readings/{index}/proof")
            assert proof["origin"] == origin and proof["global_index"] == index
            entry = base64.b64decode(proof["entry"])
            leaf = hashlib.sha256(b"\x00" + entry).digest()
            assert base64.b64decode(proof["leaf_hash"]) == leaf  # RFC 9162 leaf hash
    finally:
        api.terminate()
        api.wait(30)


def _first_reading_index(db_url: str, origin: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT MIN(e.global_index) FROM entries e JOIN chains c"
                        " ON c.id = e.chain_id WHERE c.origin = :o AND e.kind = 'reading'"
                    ),
                    {"o": origin},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/checkpoint", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
