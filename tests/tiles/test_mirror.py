"""``farmtrace mirror`` against a real ``farmtrace api`` process over a 300-block chain:
a full mirror audits clean, an interrupted one resumes without fetching again, a growing chain
is caught up, and a server that alters one byte of one tile is refused, the tile named."""

from __future__ import annotations

import base64
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.readings import batch, devices
from support.tiles_chain import ORIGIN, BuiltChain, build_chain
from support.tiles_serving import api_process, tampering_proxy

from farmtrace.store.ledger import Ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(chain300: BuiltChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_process(chain300.db_url, tmp_path_factory.mktemp("api")) as base:
        yield base


def prefix(base: str) -> str:
    return f"{base}/v1/chains/{ORIGIN}/tlog"


def run_mirror(
    url: str, directory: Path, vkey: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "farmtrace", "mirror", url, str(directory), "--key", vkey, *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )


def devices_file(chain: BuiltChain, tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    keys = {d: base64.b64encode(k).decode() for d, k in chain.device_keys.items()}
    path.write_text(json.dumps(keys))
    return path


def test_a_mirror_verifies_and_audits_every_block(
    server: str, chain300: BuiltChain, tmp_path: Path
) -> None:
    keys = devices_file(chain300, tmp_path)
    done = run_mirror(prefix(server), tmp_path / "m", chain300.vkey, "--devices", str(keys))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    # Not a terminal: no bar, one summary line.
    assert done.stderr.count("\n") == 1 and "\r" not in done.stderr, done.stderr
    assert f"chain {ORIGIN}: checkpoint size 300 verified" in done.stderr
    assert "300 blocks, 3864 entries, 3864 readings, 3864 device signatures checked" in done.stderr
    assert (tmp_path / "m" / "checkpoint").read_text().startswith(f"{ORIGIN}\n300\n")
    assert (tmp_path / "m" / "block" / "5" / "tile" / "entries" / "001.p" / "44").is_file()


def test_a_wrong_key_is_refused(server: str, tmp_path: Path) -> None:
    other = build_chain(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "gw", 1)
    done = run_mirror(prefix(server), tmp_path / "m", other.vkey)
    assert done.returncode == 1, done.stderr
    assert "checkpoint: does not verify with the given keys" in done.stderr
    assert not (tmp_path / "m" / "checkpoint").exists()


def test_an_interrupted_mirror_resumes(server: str, chain300: BuiltChain, tmp_path: Path) -> None:
    target = tmp_path / "m"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "farmtrace",
            "mirror",
            prefix(server),
            str(target),
            "--key",
            chain300.vkey,
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    blocks = target / "block"
    deadline = time.monotonic() + 120
    while not (blocks.is_dir() and len(os.listdir(blocks)) >= 60):
        assert process.poll() is None, "the mirror ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert not (target / "checkpoint").exists()  # written only once everything checked
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*") if p.is_file()}
    assert 60 <= len(before) < 309
    done = run_mirror(prefix(server), target, chain300.vkey)
    assert done.returncode == 0, done.stderr
    kept = int(done.stderr.split(" already on disk")[0].rsplit(", ", 1)[1])
    fetched = int(done.stderr.split("fetched ")[1].split(" tiles")[0])
    assert kept == len(before) and kept + fetched == 309, done.stderr
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # not fetched again


@pytest.mark.parametrize(
    ("served", "named"),
    [
        ("/tlog/tile/0/000", "tile/0/000: does not hash to hash 0 of tile/1/000.p/1"),
        ("/tlog/tile/0/001.p/44", "tile/0/001.p/44"),
        ("/tlog/tile/entries/000", "tile/entries/000: entry"),
        (
            "/tlog/block/5/tile/entries/001.p/44",
            "block/5/tile/entries/000, block/5/tile/entries/001.p/44",
        ),
        ("/tlog/block/7/tile/entries/000.p/9", "block/7/tile/entries/000.p/9"),
    ],
)
def test_a_tampered_tile_is_refused_and_named(
    server: str, chain300: BuiltChain, tmp_path: Path, served: str, named: str
) -> None:
    target = tmp_path / "m"
    with tampering_proxy(server, served, offset=40) as proxy:
        done = run_mirror(prefix(proxy), target, chain300.vkey)
    assert done.returncode == 1, done.stderr
    assert named in done.stderr, done.stderr
    assert not (target / "checkpoint").exists()
    # The bad file is gone: a mirror from the honest server completes.
    assert run_mirror(prefix(server), target, chain300.vkey).returncode == 0


def test_a_growing_chain_is_caught_up(tmp_path: Path) -> None:
    chain = build_chain(f"sqlite:///{tmp_path / 'grow.db'}", tmp_path / "gw", 260)

    with api_process(chain.db_url, tmp_path / "api") as base:
        first = run_mirror(prefix(base), tmp_path / "m", chain.vkey)
        assert first.returncode == 0, first.stderr
        with Ledger.open(chain.db_url, chain.state, ORIGIN) as ledger:
            for seq in range(10_000, 10_040):
                ledger.append_batch(batch(devices(3), range(seq, seq + 1)))
        again = run_mirror(prefix(base), tmp_path / "m", chain.vkey)
    assert again.returncode == 0, again.stderr
    assert "checkpoint size 300 (was 260) verified" in again.stderr
    log = tmp_path / "m" / "log" / "tile"
    assert (log / "0" / "001.p" / "44").is_file() and (log / "1" / "000.p" / "1").is_file()
    assert not (log / "0" / "001.p" / "4").exists()  # the partial tile of 260, superseded
    assert not (log / "entries" / "001.p" / "4").exists()


def _grow(db_url: str, state: Path, blocks: int, first_seq: int) -> None:
    with Ledger.open(db_url, state, ORIGIN) as ledger:
        for seq in range(first_seq, first_seq + blocks):
            ledger.append_batch(batch(devices(3), range(seq, seq + 1)))


def test_a_fork_after_the_mirrored_checkpoint_is_refused(tmp_path: Path) -> None:
    """Two histories under one key that share 260 blocks: the mirror follows one to 270, then a
    server shows the other at 300; it is refused, and DIR keeps the checkpoint of 270."""
    honest = tmp_path / "honest"
    honest.mkdir()
    chain = build_chain(f"sqlite:///{honest / 'chain.db'}", honest / "gw", 260)
    shutil.copytree(honest, tmp_path / "forked")
    forked_url = f"sqlite:///{tmp_path / 'forked' / 'chain.db'}"
    _grow(chain.db_url, honest / "gw", 10, 20_000)
    _grow(forked_url, tmp_path / "forked" / "gw", 40, 30_000)
    target = tmp_path / "m"
    with api_process(chain.db_url, tmp_path / "api1") as base:
        assert run_mirror(prefix(base), target, chain.vkey).returncode == 0
    with api_process(forked_url, tmp_path / "api2") as base:
        done = run_mirror(prefix(base), target, chain.vkey)
    assert done.returncode == 1, done.stderr
    assert (
        "checkpoint: size 300 is not consistent with the checkpoint of size 270 mirrored before"
        in done.stderr
    ), done.stderr
    assert (target / "checkpoint").read_text().startswith(f"{ORIGIN}\n270\n")


def test_on_a_terminal_a_progress_bar(server: str, chain300: BuiltChain, tmp_path: Path) -> None:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "farmtrace", "mirror", prefix(server), str(tmp_path / "m"),
         "--key", chain300.vkey],
        stdout=subprocess.DEVNULL,
        stderr=secondary,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert process.wait(timeout=120) == 0
    assert b"\r\x1b[K[" in seen and b"/309 tiles" in seen, seen[-500:]
    assert seen.rstrip().endswith(
        b"3864 readings, 0 device signatures checked, 3864 readings of devices not given"
    )
