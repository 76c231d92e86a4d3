"""The API's tiles of a 300-block chain: every tile checks against the signed checkpoint, the
header bundles are the stored headers, each block's tiles hash to its header's root, the cache
headers are the spec's, and what does not exist is 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support.tamper import alter_reading_value
from support.tiles_chain import ORIGIN, BuiltChain, build_chain

from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.chain.block import BlockHeader
from farmtrace.store.reader import ChainReader
from farmtrace.tlog.checkpoint import open_checkpoint
from farmtrace.tlog.note import Verifier
from farmtrace.tlog.tiles import (
    TileRef,
    bundle_refs,
    hash_tile_refs,
    verify_bundle,
    verify_hash_tiles,
)

# The 300-block chain takes seconds to seal (a durable commit per block).
pytestmark = pytest.mark.slow

PREFIX = f"/v1/chains/{ORIGIN}/tlog"
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def client(chain300: BuiltChain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    state = tmp_path_factory.mktemp("api")
    app = create_app(
        Settings(db_url=chain300.db_url, state_dir=state, rate_per_s=1e6, rate_burst=10**6)
    )
    with TestClient(app) as client:
        yield client


def _get(client: TestClient, path: str) -> bytes:
    answer = client.get(f"{PREFIX}/{path}")
    assert answer.status_code == 200, (path, answer.text)
    assert answer.headers["content-type"] == "application/octet-stream"
    return answer.content


def test_the_checkpoint_is_the_chains_latest(client: TestClient, chain300: BuiltChain) -> None:
    answer = client.get(f"{PREFIX}/checkpoint")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["cache-control"] == "public, max-age=2"
    assert answer.text == client.get(f"/v1/chains/{ORIGIN}/checkpoint").text
    signed = open_checkpoint(answer.text, [Verifier.from_vkey(chain300.vkey)], ORIGIN)
    assert signed.checkpoint.size == 300


def test_the_chain_log_tiles_check_and_bundle_the_headers(
    client: TestClient, chain300: BuiltChain
) -> None:
    note = client.get(f"{PREFIX}/checkpoint").text
    cp = open_checkpoint(note, [Verifier.from_vkey(chain300.vkey)]).checkpoint
    tiles = {ref: _get(client, ref.path) for ref in hash_tile_refs(cp.size)}
    verify_hash_tiles(cp.size, cp.root, tiles.__getitem__)
    reader = ChainReader.open(chain300.db_url, ORIGIN)
    try:
        stored = [reader.block(h)[1] for h in range(cp.size)]
    finally:
        reader.close()
    headers: list[bytes] = []
    for ref in bundle_refs(cp.size):
        level0 = tiles[TileRef(0, ref.index, ref.width)]
        headers += verify_bundle(ref, _get(client, ref.path), level0)
    assert headers == stored


def test_each_blocks_tiles_hash_to_its_header_root(client: TestClient) -> None:
    bundle = _get(client, "tile/entries/000")
    # Block 5 holds 300 entries: a full tile and a partial one, and a level-1 tile.
    for height in (0, 5, 255):
        header = BlockHeader.parse(bundle_header(bundle, height))
        base = f"block/{height}"
        tiles = {ref: _get(client, f"{base}/{ref.path}") for ref in hash_tile_refs(header.size)}
        verify_hash_tiles(header.size, header.root, tiles.__getitem__)
        count = 0
        for ref in bundle_refs(header.size):
            count += len(
                verify_bundle(
                    ref, _get(client, f"{base}/{ref.path}"), tiles[TileRef(0, ref.index, ref.width)]
                )
            )
        assert count == header.size


def bundle_header(bundle: bytes, height: int) -> bytes:
    at = 0
    for _ in range(height):
        at += 2 + int.from_bytes(bundle[at : at + 2], "big")
    return bundle[at + 2 : at + 2 + int.from_bytes(bundle[at : at + 2], "big")]


def test_cache_headers(client: TestClient) -> None:
    assert client.get(f"{PREFIX}/tile/0/000").headers["cache-control"] == IMMUTABLE
    assert client.get(f"{PREFIX}/tile/entries/000").headers["cache-control"] == IMMUTABLE
    assert client.get(f"{PREFIX}/tile/0/001.p/44").headers["cache-control"] == "public, max-age=10"
    assert client.get(f"{PREFIX}/tile/1/000.p/1").headers["cache-control"] == "public, max-age=10"
    # A sealed block never changes: all of its tiles are immutable, partial ones too.
    assert client.get(f"{PREFIX}/block/5/tile/0/001.p/44").headers["cache-control"] == IMMUTABLE


def test_a_partial_tile_of_an_earlier_size_is_a_prefix_of_the_full_one(client: TestClient) -> None:
    full = _get(client, "tile/0/000")
    assert _get(client, "tile/0/000.p/7") == full[: 7 * 32]


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/002",  # beyond the checkpoint
        "tile/0/001",  # full tile of a partial range
        "tile/0/001.p/45",
        "tile/1/000",
        "tile/2/000.p/1",
        "tile/entries/001.p/45",
        "tile/0/x000/000",
        "tile/0/000.p/256",
        "tile/zero/000",
        "tile/",
        "block/5/tile/0/001.p/45",
        "block/5/tile/entries/002",
        "block/300/tile/0/000.p/1",
        "block/-1/tile/0/000.p/1",
    ],
)
def test_what_does_not_exist_is_404(client: TestClient, path: str) -> None:
    answer = client.get(f"{PREFIX}/{path}")
    assert answer.status_code in (404, 422), (path, answer.text)
    assert answer.status_code == 404 or path.startswith("block/-1")


def test_an_unknown_chain_is_404(client: TestClient) -> None:
    assert client.get("/v1/chains/nobody.example/log/tlog/checkpoint").status_code == 404
    assert client.get("/v1/chains/nobody.example/log/tlog/tile/0/000").status_code == 404


def test_full_tiles_are_computed_once_then_cached(client: TestClient, tmp_path: Path) -> None:
    tiles = client.app.state.farmtrace_tiles[ORIGIN]  # type: ignore[attr-defined]
    _get(client, "tile/0/000")
    hits = tiles.cache.hits
    _get(client, "tile/0/000")
    assert tiles.cache.hits == hits + 1
    files = list(tiles.cache.directory.rglob("*"))
    assert any(f.as_posix().endswith("/log/tile/0/000") for f in files)
    # The chain log's partial tiles are computed on demand, never kept (a block's are kept).
    assert not any("/log/" in f.as_posix() and ".p" in f.as_posix() for f in files)
    assert any("/block/5/tile/0/001.p" in f.as_posix() for f in files)


def test_a_block_whose_stored_entries_changed_gets_no_tiles(tmp_path: Path) -> None:
    chain = build_chain(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path / "gw", 3)
    alter_reading_value(chain.db_url, 10)  # in block 1 (blocks of 9 readings)
    app = create_app(Settings(db_url=chain.db_url, state_dir=tmp_path / "api"))
    with TestClient(app) as client:
        for path in ("tile/entries/000.p/9", "tile/0/000.p/9"):
            answer = client.get(f"{PREFIX}/block/1/{path}")
            assert answer.status_code == 500, answer.text
            assert answer.json()["error"] == "inconsistent-store"
        assert client.get(f"{PREFIX}/block/0/tile/entries/000.p/9").status_code == 200
    assert not list((tmp_path / "api" / "tiles").rglob("block/1/*"))


def test_bundles_are_gzip_encoded_for_clients_that_accept_it(client: TestClient) -> None:
    for path in ("tile/entries/000", "tile/entries/001.p/44", "block/5/tile/entries/000"):
        plain = client.get(f"{PREFIX}/{path}", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        zipped = client.get(f"{PREFIX}/{path}", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
        assert zipped.content == plain.content  # decoded by the client
        assert int(zipped.headers["content-length"]) < len(plain.content)
    hashes = client.get(f"{PREFIX}/tile/0/000", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in hashes.headers  # hashes do not compress
