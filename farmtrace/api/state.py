"""What the running app holds: the database, one chain reader per chain, lots, limits."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from farmtrace.api.errors import NotFound
from farmtrace.api.http.ratelimit import RateLimiter
from farmtrace.api.services.answer_cache import AnswerCache
from farmtrace.api.services.campaigns import CampaignService
from farmtrace.api.services.communities import CommunityService
from farmtrace.api.services.digital_link import DigitalLink
from farmtrace.api.services.lots.event_key import event_keys, open_event_key
from farmtrace.api.services.lots.store import LotStore
from farmtrace.api.settings import Settings
from farmtrace.store.campaigns import Campaigns
from farmtrace.store.chain_keys import chain_verifier_keys
from farmtrace.store.communities import Communities
from farmtrace.store.community_keys import CommunityKeys
from farmtrace.store.data_version import DataVersion
from farmtrace.store.database import Database, open_database
from farmtrace.store.farm_keys import FarmKeys
from farmtrace.store.lots import Lots
from farmtrace.store.reader import ChainReader, chains_in
from farmtrace.store.registry import public_keys

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    database: Database
    lots: LotStore
    limiter: RateLimiter
    campaigns: CampaignService
    _chains: dict[str, ChainReader] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _device_keys: dict[str, bytes] = field(default_factory=dict)
    _default: str | None = None
    _answers: AnswerCache | None = None
    _communities: CommunityService | None = None

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        """Connect, bring the schema up to date and load the event key.

        Raises :class:`~farmtrace.store.event_key.EventKeyError` (naming the remedy) rather
        than sign with a key other than the database's current event key once that one has
        signed records (:func:`~farmtrace.store.event_key.open_event_key`).
        """
        database = open_database(settings.db_url)
        try:
            key = open_event_key(database, settings.state_dir)
        except BaseException:
            database.close()
            raise
        limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        lots = LotStore(Lots(database), key)
        campaigns = CampaignService(
            Campaigns(database), FarmKeys(database, settings.state_dir), lots
        )
        return cls(settings, database, lots, limiter, campaigns)

    @property
    def answers(self) -> AnswerCache:
        """Lot pages and bundles, kept until the next commit to the database."""
        if self._answers is None:
            with self._lock:
                if self._answers is None:
                    self._answers = AnswerCache(DataVersion(self.database))
        return self._answers

    @property
    def communities(self) -> CommunityService:
        """The value communities (issue 17), made on first use: one per process, so every
        request shares its operator keys and the replay kept at each community's head."""
        if self._communities is None:
            with self._lock:
                if self._communities is None:
                    self._communities = CommunityService(
                        Communities(self.database),
                        CommunityKeys(self.database, self.settings.state_dir),
                        self.campaigns.campaigns,
                    )
        return self._communities

    def origins(self) -> list[str]:
        """Every chain's origin, oldest first."""
        return [origin for _, origin in self._chain_ids()]

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
        chains = dict((o, i) for i, o in self._chain_ids())
        if name not in chains:
            raise NotFound(f"no chain with origin {name!r}")
        # The latest checkpoint is re-read at most once a second: proofs may be relative to
        # one up to a second old (still signed), and the hot path skips a query per proof.
        reader = ChainReader.over(
            self.database, chains[name], name, batch_trees=2048, checkpoint_ttl=1.0
        )
        with self._lock:
            return self._chains.setdefault(name, reader)

    def verifier_keys(self, origin: str) -> list[str]:
        """Every checkpoint verifier key the chain recorded (current and retired)."""
        return chain_verifier_keys(self.database, self.chain(origin).chain_id)

    def farm_keys(self, signers: set[str]) -> dict[str, bytes]:
        """The public key of each farm signer of ``signers`` (current or retired)."""
        return self.campaigns.farm_keys.public_keys(signers)

    def event_keys(self, signers: set[str]) -> dict[str, bytes]:
        """The public key of each event-key signer of ``signers`` (the key that signed its
        records, current or retired; unknown signers are left out)."""
        return event_keys(self.database, signers)

    def device_keys(self, device_ids: set[str]) -> dict[str, bytes]:
        """The registered public keys of ``device_ids`` (unknown ones are left out)."""
        if not device_ids:
            return {}
        # A device's key never changes (a new key is a new device), so keys found are cached.
        cached = {d: self._device_keys[d] for d in device_ids if d in self._device_keys}
        if len(cached) == len(device_ids):
            return cached
        found = public_keys(self.database, device_ids)
        self._device_keys.update(found)
        return found

    def link_uri(self, link: DigitalLink) -> str:
        """The lot's Digital Link URI on this resolver (``settings.link_base``)."""
        return link.uri_at(self.settings.link_base)

    def _chain_ids(self) -> list[tuple[int, str]]:
        """Every chain as ``(chain_id, origin)``, oldest first."""
        return chains_in(self.database)

    def close(self) -> None:
        if self._answers is not None:
            self._answers.version.close()
        self.database.close()
