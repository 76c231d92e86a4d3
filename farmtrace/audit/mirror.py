"""``farmtrace mirror``: copy a chain by its C2SP tlog-tiles into a directory, check every hash
against the signed checkpoint, then run the audit's checks on what was copied.

The directory (docs/tiles.md, "Mirroring") mirrors the server's paths::

    DIR/checkpoint                          the latest checkpoint the mirror verified
    DIR/log/tile/<L>/<N>[.p/<W>]            the chain log's hash tiles
    DIR/log/tile/entries/<N>[.p/<W>]        its entry bundles: the block headers
    DIR/block/<height>/tile/entries/<N>...  each block's entries

Every tile path names bytes that never change (a partial tile ``.p/W`` included), so a file
already on disk is never fetched again: a rerun continues where an interrupted one stopped.
Files are written atomically (temporary name, rename) and all of them are checked again on
every run, so an interrupted write or an altered file is caught, not trusted.

Checks, in order, stopping at the first failure (:class:`MirrorFailure`, naming the tile):

1. the checkpoint verifies with a trusted key (``--key``) and, when the directory holds one
   from an earlier run, is not smaller than it;
2. the chain log's hash tiles hash to the checkpoint's root, top-down
   (:func:`farmtrace.tlog.tiles.verify_hash_tiles`); each header bundle hashes to its level-0
   tile; the earlier checkpoint's root is the root of the first ``size`` of these leaves (the
   log only grew: the same consistency a witness checks, from the tiles);
3. each block's entry bundles decode to ``size`` entries whose RFC 9162 root is the header's
   ``root``;
4. the audit's checks on the blocks and entries (:func:`farmtrace.audit.chain.check_blocks`,
   :func:`~farmtrace.audit.chain.walk_entries`): headers parse, link and count; entries decode,
   their kind matches their bytes, readings' device signatures verify with the device keys
   given (``--devices``; the tiles carry no device registry, so readings of devices not given
   are counted, not checked).

The tiles serve one checkpoint, the latest: the audit's check that every chain-log size has a
stored, consistent checkpoint has no counterpart here beyond step 2's check against the
checkpoint a previous run kept. A bad tile file is removed, so a rerun fetches it again.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from farmtrace import rust_core
from farmtrace.audit.chain import check_blocks, walk_entries
from farmtrace.audit.report import AuditFailure, ChainSummary
from farmtrace.chain.block import BlockHeader
from farmtrace.chain.entry import READING, kind_of
from farmtrace.store.audit_reads import StoredBlock
from farmtrace.store.reader import batch_tree
from farmtrace.store.records import StoredEntry
from farmtrace.tlog.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from farmtrace.tlog.errors import TileError, TileMismatch, TlogError
from farmtrace.tlog.note import Note, Verifier
from farmtrace.tlog.tiles import (
    TileRef,
    bundle_refs,
    decode_bundle,
    hash_tile_refs,
    verify_bundle,
    verify_hash_tiles,
)
from farmtrace.wire.protocol import ProtocolError, decode

__all__ = ["MirrorError", "MirrorFailure", "MirrorReport", "Progress", "mirror"]

Progress = Callable[[int, int], None]
"""Called with (tiles done, tiles known so far) as the mirror fetches."""

_HASH = 32
_RETRIES = 6
_counting = threading.Lock()  # the fetch threads' shared counters


class MirrorError(Exception):
    """The mirror could not run: the server unreachable or answering an error, a bad key."""


class MirrorFailure(Exception):
    """What the server served does not check; ``item`` names the tile (or the checkpoint)."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


@dataclass
class MirrorReport:
    """What a run did: the checkpoint it verified, tiles fetched and kept, the audit's figures."""

    origin: str = ""
    size: int = 0
    previous_size: int = 0
    fetched: int = 0
    fetched_bytes: int = 0
    kept: int = 0
    summary: ChainSummary = field(default_factory=lambda: ChainSummary(""))

    def line(self) -> str:
        """One summary line (what the command prints last)."""
        s = self.summary
        grew = f" (was {self.previous_size})" if self.previous_size else ""
        return (
            f"chain {self.origin}: checkpoint size {self.size}{grew} verified; "
            f"fetched {self.fetched} tiles ({self.fetched_bytes} bytes), {self.kept} already "
            f"on disk; {s.blocks} blocks, {s.entries} entries, {s.readings} readings, "
            f"{s.device_signatures_checked} device signatures checked"
            + (
                f", {s.readings_from_unregistered_devices} readings of devices not given"
                if s.readings_from_unregistered_devices
                else ""
            )
        )


class _Fetcher:
    """GETs under the tiles prefix; retries 429 (after ``Retry-After``), 5xx and lost
    connections a few times, then raises :class:`MirrorError`."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def get(self, path: str) -> bytes:
        last = ""
        for attempt in range(_RETRIES):
            request = urllib.request.Request(
                f"{self.url}/{path}", headers={"Accept-Encoding": "gzip"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    data: bytes = answer.read()
                    if answer.headers.get("Content-Encoding") == "gzip":
                        return _gunzip(data, f"{self.url}/{path}")
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code != 429 and exc.code < 500:
                    raise MirrorError(
                        f"{self.url}/{path}: the server answered {exc.code}"
                    ) from None
                last = f"the server answered {exc.code}"
                wait = _retry_after(exc.headers.get("Retry-After"), attempt)
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
                wait = 0.2 * (1 << attempt)
            time.sleep(wait)
        raise MirrorError(f"{self.url}/{path}: {last} ({_RETRIES} attempts)")


_MAX_TILE = 256 * (2 + 0xFFFF)  # the largest entry bundle there can be


def _gunzip(data: bytes, url: str) -> bytes:
    """A gzip body, refusing one that is not gzip or expands beyond any tile's size."""
    inflate = zlib.decompressobj(wbits=31)
    try:
        out = inflate.decompress(data, _MAX_TILE + 1)
    except zlib.error as exc:
        raise MirrorError(f"{url}: the gzip body does not decode: {exc}") from None
    if len(out) > _MAX_TILE or inflate.unconsumed_tail:
        raise MirrorError(f"{url}: the gzip body expands beyond any tile's size")
    return out


def _retry_after(value: str | None, attempt: int) -> float:
    try:
        return min(10.0, float(value)) if value else 0.2 * (1 << attempt)
    except ValueError:
        return 0.2 * (1 << attempt)


class _Tiles:
    """The tile files of one prefix in the mirror directory: fetched once, read from disk."""

    def __init__(self, fetcher: _Fetcher, local: Path, prefix: str, report: MirrorReport) -> None:
        self.fetcher, self.local, self.prefix, self.report = fetcher, local, prefix, report

    def name(self, ref: TileRef) -> str:
        """The tile's path under the served prefix (what a failure names)."""
        return f"{self.prefix}{ref.path}"

    def file(self, ref: TileRef) -> Path:
        return self.local / ref.path

    def ensure(self, ref: TileRef) -> None:
        target = self.file(ref)
        if target.exists():
            with _counting:
                self.report.kept += 1
            return
        data = self.fetcher.get(self.name(ref))
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.part")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        with _counting:
            self.report.fetched += 1
            self.report.fetched_bytes += len(data)

    def read(self, ref: TileRef) -> bytes:
        return self.file(ref).read_bytes()


def mirror(
    url: str,
    directory: Path,
    keys: Sequence[Verifier],
    device_keys: dict[str, bytes] | None = None,
    progress: Progress | None = None,
    workers: int = 8,
) -> MirrorReport:
    """Mirror the tiled chain at ``url`` (its tiles prefix) into ``directory`` and check it.

    Raises :class:`MirrorFailure` naming the first tile that does not check (and removes that
    file), :class:`MirrorError` when the mirror cannot run. ``DIR/checkpoint`` is replaced only
    after every check passed.
    """
    if not keys:
        raise MirrorError("no trusted key: give the chain's verifier key with --key")
    fetcher = _Fetcher(url)
    report = MirrorReport()
    try:
        note = fetcher.get("checkpoint").decode("utf-8")
        signed = open_checkpoint(note, keys)
    except (TlogError, UnicodeDecodeError) as exc:
        raise MirrorFailure("checkpoint", f"does not verify with the given keys: {exc}") from None
    checkpoint = signed.checkpoint
    if checkpoint.origin not in {k.name for k in keys}:
        # A key signs for its name: a note it signed about another origin proves nothing.
        raise MirrorFailure("checkpoint", f"origin {checkpoint.origin!r} is no given key's name")
    report.origin, report.size = checkpoint.origin, checkpoint.size
    report.summary = ChainSummary(checkpoint.origin)
    if _canonical(note) != note:
        raise MirrorFailure("checkpoint", "note is not in canonical form (it was altered)")
    directory.mkdir(parents=True, exist_ok=True)
    previous = _previous_checkpoint(directory, checkpoint)
    report.previous_size = 0 if previous is None else previous.size

    log = _Tiles(fetcher, directory / "log", "", report)
    log_refs = hash_tile_refs(checkpoint.size) + bundle_refs(checkpoint.size)
    done = [0]
    total = [len(log_refs)]
    _fetch_all(log, log_refs, workers, progress, done, total)
    headers = _check_log(log, signed, previous)

    blocks = [(BlockHeader.parse(raw), raw) for raw in headers]
    per_block = {
        h.height: _Tiles(fetcher, directory / "block" / str(h.height), f"block/{h.height}/", report)
        for h, _ in blocks
    }
    block_refs = [(h.height, ref) for h, _ in blocks for ref in bundle_refs(h.size)]
    total[0] += len(block_refs)
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(
            lambda item: _step(per_block[item[0]], item[1], progress, done, total), block_refs
        ):
            pass

    entries = [_block_entries(per_block[h.height], h) for h, _ in blocks]
    _audit(checkpoint.origin, blocks, entries, device_keys or {}, report.summary)
    _write_atomically(directory / "checkpoint", note.encode())
    _prune_partials(log, set(log_refs))
    return report


def _fetch_all(
    tiles: _Tiles,
    refs: list[TileRef],
    workers: int,
    progress: Progress | None,
    done: list[int],
    total: list[int],
) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda ref: _step(tiles, ref, progress, done, total), refs):
            pass


def _step(
    tiles: _Tiles, ref: TileRef, progress: Progress | None, done: list[int], total: list[int]
) -> None:
    tiles.ensure(ref)
    with _counting:
        done[0] += 1
        now = done[0]
    if progress is not None:
        progress(now, total[0])


def _previous_checkpoint(directory: Path, new: Checkpoint) -> Checkpoint | None:
    """The checkpoint an earlier run verified and kept, checked to be of this log and no larger."""
    try:
        text = (directory / "checkpoint").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise MirrorError(f"cannot read {directory / 'checkpoint'}: {exc}") from None
    try:
        old = Checkpoint.parse(Note.parse(text).text)
    except TlogError as exc:
        raise MirrorError(f"{directory / 'checkpoint'} is not a checkpoint: {exc}") from None
    if old.origin != new.origin:
        raise MirrorError(f"{directory} mirrors {old.origin}, not {new.origin}")
    if old.size > new.size:
        raise MirrorFailure(
            "checkpoint",
            f"size {new.size} is smaller than the checkpoint of size {old.size} mirrored before "
            "(the log was rolled back)",
        )
    return old


def _check_log(log: _Tiles, signed: SignedCheckpoint, previous: Checkpoint | None) -> list[bytes]:
    """Checks 1-2: the chain log's tiles against the checkpoint; the block headers."""
    checkpoint = signed.checkpoint
    try:
        verify_hash_tiles(checkpoint.size, checkpoint.root, log.read)
    except TileMismatch as exc:
        for path in exc.tile.split(", "):
            _discard(log.local / path)
        raise MirrorFailure(exc.tile, exc.reason) from None
    headers: list[bytes] = []
    for ref in bundle_refs(checkpoint.size):
        level0 = log.read(TileRef(0, ref.index, ref.width))
        try:
            headers += verify_bundle(ref, log.read(ref), level0)
        except TileMismatch as exc:
            _discard(log.file(ref))
            raise MirrorFailure(log.name(ref), exc.reason) from None
    if previous is not None and previous.size:
        leaves = b"".join(
            log.read(TileRef(0, r.index, r.width)) for r in bundle_refs(checkpoint.size)
        )
        old_root = rust_core.MerkleTree.from_leaf_hash_buffer(leaves[: previous.size * _HASH]).root
        if old_root != previous.root:
            raise MirrorFailure(
                "checkpoint",
                f"size {checkpoint.size} is not consistent with the checkpoint of size "
                f"{previous.size} mirrored before (the log was rewritten or forked)",
            )
    return headers


def _block_entries(tiles: _Tiles, header: BlockHeader) -> list[bytes]:
    """Check 3: the block's bundles decode and hash to the header's root."""
    refs = bundle_refs(header.size)
    entries: list[bytes] = []
    for ref in refs:
        try:
            entries += decode_bundle(tiles.read(ref), ref.width)
        except TileError as exc:
            _discard(tiles.file(ref))
            raise MirrorFailure(tiles.name(ref), str(exc)) from None
    if batch_tree(entries).root != header.root:
        for ref in refs:
            _discard(tiles.file(ref))
        names = ", ".join(tiles.name(ref) for ref in refs)
        raise MirrorFailure(names, f"the entries do not hash to block {header.height}'s root")
    return entries


def _audit(
    origin: str,
    blocks: list[tuple[BlockHeader, bytes]],
    entries: list[list[bytes]],
    device_keys: dict[str, bytes],
    summary: ChainSummary,
) -> None:
    """Check 4: the audit's block and entry checks, on rows made from the tiles."""
    rows = (StoredBlock(h.height, raw, h.first_index, h.size, h.time_ms) for h, raw in blocks)
    try:
        checked = check_blocks(rows, origin, summary)
        summary.entries = walk_entries(
            origin, _entry_rows(origin, blocks, entries), checked, device_keys, summary
        )
    except AuditFailure as failure:
        raise MirrorFailure(failure.item, failure.reason) from None


def _entry_rows(
    origin: str, blocks: list[tuple[BlockHeader, bytes]], entries: list[list[bytes]]
) -> Iterator[StoredEntry]:
    """Entries as the audit reads them; the columns a database would hold are read from the
    bytes themselves (so the audit's column checks hold by construction here)."""
    for (header, _), payloads in zip(blocks, entries, strict=True):
        for position, payload in enumerate(payloads):
            # No known prefix: the audit then fails it ("kind column 'unknown' but its bytes
            # are None"), as it would a stored row whose bytes changed kind.
            kind = kind_of(payload) or "unknown"
            device, seq, ts = None, None, None
            if kind == READING:
                try:
                    reading = decode(payload)
                    device, seq, ts = reading.device_id, reading.seq, reading.timestamp_ms
                except ProtocolError:
                    pass  # the audit names it: "payload does not decode"
            yield StoredEntry(
                origin=origin,
                global_index=header.first_index + position,
                block_height=header.height,
                index_in_block=position,
                kind=kind,
                device_id=device,
                seq=seq,
                timestamp_ms=ts,
                received_at=0.0,
                payload=payload,
            )


def _prune_partials(log: _Tiles, current: set[TileRef]) -> None:
    """Remove the chain log's partial tiles of earlier sizes (never needed again)."""
    keep = {log.file(ref) for ref in current}
    for path in log.local.rglob("*.p/*"):
        if path.is_file() and path not in keep:
            _discard(path)


def _canonical(note: str) -> str:
    parsed = Note.parse(note)
    return parsed.text + "\n" + "".join(sig.line() for sig in parsed.signatures)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
