"""The API's configuration (pydantic-settings): command-line values or ``FARMTRACE_API_*``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from farmtrace.api.services.digital_link import public_base_url

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything ``create_app`` needs; environment variables use the ``FARMTRACE_API_`` prefix.

    ``origin`` picks the chain served at ``/checkpoint`` and ``/v1/...``; when ``None`` it is
    the first chain created in the database. ``state_dir`` holds the API's event-signing key
    (``event.key``, mode 0600), created on first use. ``public_url`` (``http(s)://HOST[:PORT]``,
    checked by :func:`~farmtrace.api.services.digital_link.public_base_url`) is the base of the Digital
    Link URIs in QR codes and pages, the address people reach this resolver at; without it they
    are ``https://{link_domain}``. ``rate_per_s``/``rate_burst`` is the token
    bucket each client gets (every operation takes a token; ``/static`` and ``/docs`` none),
    an expensive read (a lot's bundle, EPCIS, excursions, page) ``costly_cost`` tokens; at
    most ``costly_concurrency`` expensive reads run at once, ``costly_queue`` more wait up to
    ``costly_wait_s`` seconds (``farmtrace.api.http.ratelimit``). ``farmtrace api`` sets
    Python's GIL switch interval to ``gil_switch_interval_ms`` (Python's default is 5).

    ``trust_forwarded_for``: the API sits behind a reverse proxy that appends the address it
    saw to ``X-Forwarded-For`` (nginx ``$proxy_add_x_forwarded_for`` or ``$remote_addr``) and
    sets ``X-Forwarded-Proto``. Only then, and only on connections from ``trusted_proxies``
    (comma-separated addresses or networks), does a client count by the right-most untrusted
    address of that header, and does ``X-Forwarded-Proto: https`` turn on HSTS. Off, the
    headers are ignored whoever sends them.
    """

    model_config = SettingsConfigDict(env_prefix="FARMTRACE_API_")

    db_url: str
    state_dir: Path | None = None
    origin: str | None = None
    link_domain: str = "127.0.0.1:8000"
    public_url: str | None = None
    rate_per_s: float = 200.0
    rate_burst: int = 400
    costly_cost: float = Field(default=25.0, ge=1)
    costly_concurrency: int = Field(default=1, ge=1)
    costly_queue: int = Field(default=64, ge=0)
    costly_wait_s: float = Field(default=5.0, ge=0)
    gil_switch_interval_ms: float = Field(default=1.0, gt=0, le=1000)
    trust_forwarded_for: bool = False
    trusted_proxies: str = "127.0.0.1,::1"

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        return None if value is None else public_base_url(value)

    @property
    def link_base(self) -> str:
        """The base of this resolver's Digital Link URIs: ``public_url``, else
        ``https://{link_domain}``."""
        return self.public_url or f"https://{self.link_domain}"
