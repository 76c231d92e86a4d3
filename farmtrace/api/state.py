"""What the running app holds: the database engine, one proof service per chain, lots, limits."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from farmtrace.api.digital_link import DigitalLink
from farmtrace.api.errors import NotFound
from farmtrace.api.lots.event_key import load_or_create_event_key
from farmtrace.api.lots.store import LotStore
from farmtrace.api.ratelimit import RateLimiter
from farmtrace.api.settings import Settings
from farmtrace.store.engine import create_db_engine, describe_url
from farmtrace.store.errors import DatabaseError
from farmtrace.store.migrate import upgrade
from farmtrace.store.models import Base
from farmtrace.store.reader import ChainReader, list_chains

__all__ = ["AppState"]

CHAIN_KEYS = Base.metadata.tables["chain_keys"]
DEVICES = Base.metadata.tables["devices"]


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    lots: LotStore
    limiter: RateLimiter
    _chains: dict[str, ChainReader] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _device_keys: dict[str, bytes] = field(default_factory=dict)
    _default: str | None = None

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        """Connect, bring the schema up to date and load the event key."""
        engine = create_db_engine(settings.db_url)
        try:
            upgrade(engine)
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = type(exc.orig).__name__ if isinstance(exc, DBAPIError) else type(exc).__name__
            raise DatabaseError(
                f"cannot open database {describe_url(settings.db_url)}: {reason}"
            ) from None
        state_dir = settings.state_dir or Path(tempfile.mkdtemp(prefix="farmtrace-api-"))
        key = load_or_create_event_key(Path(state_dir))
        limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        return cls(settings, engine, LotStore(engine, key), limiter)

    def origins(self) -> list[str]:
        """Every chain's origin, oldest first."""
        return [origin for _, origin in list_chains(self.engine)]

    def default_origin(self) -> str:
        """The configured origin, else the oldest chain's; 404 when the database has none."""
        if self.settings.origin is not None:
            return self.settings.origin
        if self._default is None:
            origins = self.origins()
            if not origins:
                raise NotFound("the database holds no chain yet")
            self._default = origins[0]  # the oldest chain stays the oldest
        return self._default

    def chain(self, origin: str | None = None) -> ChainReader:
        """The reader, which serves the proofs, of chain ``origin`` (the default chain when
        ``None``); 404 if unknown."""
        name = self.default_origin() if origin is None else origin
        with self._lock:
            found = self._chains.get(name)
        if found is not None:
            return found
        chains = dict((o, i) for i, o in list_chains(self.engine))
        if name not in chains:
            raise NotFound(f"no chain with origin {name!r}")
        # The latest checkpoint is re-read at most once a second: proofs may be relative to
        # one up to a second old (still signed), and the hot path skips a query per proof.
        reader = ChainReader(self.engine, chains[name], name, batch_trees=2048, checkpoint_ttl=1.0)
        with self._lock:
            return self._chains.setdefault(name, reader)

    def verifier_keys(self, origin: str) -> list[str]:
        """Every checkpoint verifier key the chain recorded (current and retired)."""
        service = self.chain(origin)
        with self.engine.connect() as c:
            rows = c.execute(
                select(CHAIN_KEYS.c.vkey)
                .where(CHAIN_KEYS.c.chain_id == service.chain_id)
                .order_by(CHAIN_KEYS.c.added_at)
            )
            return [r.vkey for r in rows]

    def device_keys(self, device_ids: set[str]) -> dict[str, bytes]:
        """The registered public keys of ``device_ids`` (unknown ones are left out)."""
        if not device_ids:
            return {}
        # A device's key never changes (a new key is a new device), so keys found are cached.
        cached = {d: self._device_keys[d] for d in device_ids if d in self._device_keys}
        if len(cached) == len(device_ids):
            return cached
        with self.engine.connect() as c:
            rows = c.execute(
                select(DEVICES.c.device_id, DEVICES.c.public_key).where(
                    DEVICES.c.device_id.in_(sorted(device_ids))
                )
            )
            found = {r.device_id: bytes(r.public_key) for r in rows}
        self._device_keys.update(found)
        return found

    def link_uri(self, link: DigitalLink) -> str:
        """The lot's Digital Link URI on this resolver (``settings.link_base``)."""
        return link.uri_at(self.settings.link_base)

    def close(self) -> None:
        self.engine.dispose()
