"""Our tiles read by an implementation nobody here wrote: Go's golang.org/x/mod/sumdb/tlog
(``TileHashReader``, ``TreeHash``, ``ProveRecord``/``CheckRecord``, ``ProveTree``/``CheckTree``)
and sumdb/note for the checkpoint signature, from Debian's golang-go and
golang-golang-x-mod-dev, built offline (GO111MODULE=off, GOPATH=/usr/share/gocode).

``tilecheck`` (tests/interop/tilecheck/main.go) verifies the latest checkpoint with the gateway's
verifier key, the chain log's tiles against it, the inclusion of headers, consistency from an
older signed checkpoint, and three blocks' own tiled logs against their headers. Through a proxy
that alters one byte of one tile it must fail. Without Go the test skips, or fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.tiles_chain import ORIGIN, BuiltChain, build_chain
from support.tiles_serving import api_process, tampering_proxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
GOPATH = Path("/usr/share/gocode")
TLOG = GOPATH / "src/golang.org/x/mod/sumdb/tlog/tile.go"


def require_go() -> str:
    go = shutil.which("go")
    if go is None or not TLOG.is_file():
        message = "Go and golang-golang-x-mod-dev are needed (apt-get install golang-go golang-golang-x-mod-dev)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return go


@pytest.fixture(scope="module")
def tilecheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = require_go()
    out = tmp_path_factory.mktemp("go") / "tilecheck"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out.parent / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
    }
    built = subprocess.run(
        [go, "build", "-o", str(out), "."],
        cwd=HERE / "tilecheck",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    return out


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> BuiltChain:
    tmp = tmp_path_factory.mktemp("chain")
    return build_chain(f"sqlite:///{tmp / 'chain.db'}", tmp / "gw", 300)


@pytest.fixture(scope="module")
def server(chain: BuiltChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_process(chain.db_url, tmp_path_factory.mktemp("api")) as base:
        yield base


def check(tilecheck: Path, base: str, vkey: str, old_base: str) -> subprocess.CompletedProcess[str]:
    chain = f"{base}/v1/chains/{ORIGIN}"
    old = f"{old_base}/v1/chains/{ORIGIN}/checkpoints/123"
    return subprocess.run(
        [str(tilecheck), f"{chain}/tlog", vkey, old, "0", "5", "299"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_go_reads_and_proves_our_tiles(tilecheck: Path, server: str, chain: BuiltChain) -> None:
    done = check(tilecheck, server, chain.vkey, server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "ok chain log: 300 headers hash to the checkpoint root",
        "ok chain log: inclusion of headers in bundles 0 and 1",
        "ok chain log: consistent from the signed checkpoint of size 123",
        "ok block 0: 9 entries hash to the header's root, each proven",
        "ok block 5: 300 entries hash to the header's root, each proven",
        "ok block 299: 9 entries hash to the header's root, each proven",
    ]


@pytest.mark.parametrize(
    "served", ["/tlog/tile/0/000", "/tlog/tile/1/000.p/1", "/tlog/block/5/tile/0/001.p/44"]
)
def test_go_refuses_an_altered_tile(
    tilecheck: Path, server: str, chain: BuiltChain, served: str
) -> None:
    with tampering_proxy(server, served, offset=8) as proxy:
        done = check(tilecheck, proxy, chain.vkey, server)
    assert done.returncode == 1, done.stdout
    assert done.stderr.startswith("tilecheck: "), done.stderr
