"""C2SP tlog-tiles of every chain (docs/tiles.md): static, cacheable reads for mirrors and auditors.

Under ``/v1/chains/{origin}/tlog/`` (the origin verbatim, slashes and all):

* ``checkpoint``: the latest checkpoint, ``text/plain; charset=utf-8``, cacheable 2 s;
* ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``: the chain log, whose entries are
  the block headers;
* ``block/<height>/tile/...``: block ``height``'s batch tree and entries, a tiled log whose
  size and root are the header's ``size`` and ``root`` (there is no checkpoint at this prefix:
  the header, proven by the chain log, is its checkpoint).

Full tiles and every tile of a block are immutable (``max-age`` one year, ``immutable``); a
partial tile of the chain log gets a short ``max-age`` (its content for a given width never
changes, but the server keeps only full tiles and a client should move on to the wider one).
"""

from __future__ import annotations

import gzip
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from farmtrace.api.deps import rate_limit, state_of
from farmtrace.api.errors import NotFound
from farmtrace.store.reader import ChainReader
from farmtrace.store.tiles import ChainTiles, TileCache
from farmtrace.tlog.errors import TileError
from farmtrace.tlog.tiles import ENTRIES, TileRef, parse_tile_path

__all__ = ["IMMUTABLE", "PARTIAL", "checkpoint_note", "router"]

IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL = "public, max-age=10"
CHECKPOINT = "public, max-age=2"

router = APIRouter(prefix="/v1/chains", tags=["tiles"], dependencies=[Depends(rate_limit)])
_TILE: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": {}}}}
_TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {}}}}
_lock = threading.Lock()


def checkpoint_note(chain: ChainReader) -> str:
    """The checkpoint ``<prefix>/checkpoint`` serves: the chain's latest signed note.

    The one seam for what the tiles' checkpoint carries: the cosigned checkpoint, since
    :class:`ChainReader` appends the stored witness cosignatures to every note it reads
    (docs/witness.md), so a tiles client sees exactly what the other endpoints serve.
    """
    found = chain.latest_checkpoint()
    if found is None:
        raise NotFound(f"chain {chain.origin} has no checkpoint yet")
    return found.note


def tiles_of(request: Request, origin: str) -> ChainTiles:
    """The tiles of chain ``origin`` (404 if unknown), one :class:`ChainTiles` per chain and app.

    Full tiles are cached in memory and, when the API has a state directory, as files under
    ``<state>/tiles/``.
    """
    app_state = request.app.state
    with _lock:
        registry: dict[str, ChainTiles] | None = getattr(app_state, "farmtrace_tiles", None)
        if registry is None:
            registry = app_state.farmtrace_tiles = {}
        found = registry.get(origin)
        if found is not None:
            return found
    state = state_of(request)
    chain = state.chain(origin)
    directory = state.settings.state_dir
    cache = TileCache(None if directory is None else directory / "tiles")
    with _lock:
        return registry.setdefault(origin, ChainTiles(chain, cache))


async def _tiles(request: Request, origin: str) -> ChainTiles:
    """:func:`tiles_of`, on the event loop when already made, else in a worker thread (the
    first request of a chain reads the database)."""
    registry: dict[str, ChainTiles] | None = getattr(request.app.state, "farmtrace_tiles", None)
    known = None if registry is None else registry.get(origin)
    if known is not None:
        return known
    made: ChainTiles = await run_in_threadpool(tiles_of, request, origin)
    return made


def _ref(path: str) -> TileRef:
    try:
        return parse_tile_path("tile/" + path)
    except TileError as exc:
        raise NotFound(str(exc)) from None


def _tile(data: bytes, cache_control: str) -> Response:
    return Response(
        data, media_type="application/octet-stream", headers={"Cache-Control": cache_control}
    )


def _bundle(
    request: Request, tiles: ChainTiles, key: str, data: bytes, cache_control: str
) -> Response:
    """An entry bundle, gzip-encoded for a client that accepts gzip (the spec's SHOULD); the
    encoding of an immutable bundle is kept, so it is compressed once."""
    if "gzip" not in request.headers.get("accept-encoding", ""):
        return _tile(data, cache_control)
    body = tiles.gzipped.get(key)
    if body is None:
        body = gzip.compress(data, compresslevel=6, mtime=0)
        if cache_control == IMMUTABLE:
            tiles.gzipped.put(key, body)
    return Response(
        body,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": cache_control,
            "Content-Encoding": "gzip",
            "Vary": "Accept-Encoding",
        },
    )


@router.get("/{origin:path}/tlog/checkpoint", response_class=PlainTextResponse, responses=_TEXT)
def tiles_checkpoint(request: Request, origin: str) -> PlainTextResponse:
    """The chain's latest checkpoint (C2SP tlog-tiles ``<prefix>/checkpoint``)."""
    note = checkpoint_note(state_of(request).chain(origin))
    return PlainTextResponse(
        note, media_type="text/plain; charset=utf-8", headers={"Cache-Control": CHECKPOINT}
    )


@router.get(
    "/{origin:path}/tlog/block/{height}/tile/{path:path}",
    response_class=Response,
    responses=_TILE,
)
async def block_tile(
    request: Request,
    origin: str,
    height: Annotated[int, Path(ge=0, le=2**63 - 1)],
    path: str,
) -> Response:
    """A hash tile or entry bundle of block ``height``'s batch (immutable)."""
    ref = _ref(path)
    # A tile in memory is answered on the event loop; computing one goes to a worker thread.
    tiles = await _tiles(request, origin)
    data = tiles.cached_block_tile(height, ref)
    if data is None:
        data = await run_in_threadpool(tiles.block_tile, height, ref)
    if ref.level == ENTRIES:
        return _bundle(request, tiles, f"block/{height}/{ref.path}", data, IMMUTABLE)
    return _tile(data, IMMUTABLE)


@router.get("/{origin:path}/tlog/tile/{path:path}", response_class=Response, responses=_TILE)
async def log_tile(request: Request, origin: str, path: str) -> Response:
    """A hash tile or entry bundle (of block headers) of the chain log."""
    ref = _ref(path)
    tiles = await _tiles(request, origin)
    data = tiles.cached_log_tile(ref)
    if data is None:
        data = await run_in_threadpool(tiles.log_tile, ref)
    cache_control = IMMUTABLE if ref.full else PARTIAL
    if ref.level == ENTRIES:
        return _bundle(request, tiles, ref.path, data, cache_control)
    return _tile(data, cache_control)
