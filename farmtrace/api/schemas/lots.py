"""Lots and events as the API receives and returns them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from rfc3987 import match as uri_match  # type: ignore[import-untyped]

from farmtrace.wire.protocol import ProtocolError, check_device_id

__all__ = [
    "BIZ_STEPS",
    "EARLIEST",
    "LATEST",
    "EventCreate",
    "EventPublic",
    "LotCreate",
    "LotDetails",
    "LotPublic",
    "StageIn",
    "StagePublic",
]

EventKind = Literal[
    "harvest", "cooling", "packing", "storing", "shipping", "receiving", "retail_selling"
]

BIZ_STEPS: dict[str, str] = {
    "harvest": "commissioning",
    "cooling": "holding",
    "packing": "packing",
    "storing": "storing",
    "shipping": "shipping",
    "receiving": "receiving",
    "retail_selling": "retail_selling",
}
"""Each event kind's CBV 2.0 business step (pre-cooling holds the lot in a cold room)."""

_Text = Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time the API accepts (inclusive): the Unix epoch, so every stored time is a
non-negative count of milliseconds, which every implementation rounds alike."""
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""The first time the API no longer accepts: a year short of Python's last representable year,
so a time shown in any zone (UTC-12 to UTC+14) or moved by a day still has a year 1-9999."""


def _aware(value: datetime) -> datetime:
    """``value`` if it carries an offset and, in UTC, lies in ``[EARLIEST, LATEST)``."""
    if value.tzinfo is None:
        raise ValueError("time must carry a time zone offset (e.g. 2026-06-01T08:00:00+08:00)")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(
            f"time {value.isoformat()} falls outside the years 1-9999 in UTC; accepted: "
            f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} to before {LATEST:%Y-%m-%dT%H:%M:%SZ}"
        ) from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError(
            f"time {value.isoformat()} is {utc:%Y-%m-%dT%H:%M:%S}Z in UTC; accepted: "
            f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} to before {LATEST:%Y-%m-%dT%H:%M:%SZ}"
        )
    return value


def _in_range(value: date | None) -> date | None:
    """A calendar date inside the accepted times' days (``EARLIEST`` to the day before
    ``LATEST``)."""
    if value is not None and not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(
            f"date {value.isoformat()} is outside {EARLIEST.date().isoformat()} to "
            f"{(LATEST - timedelta(days=1)).date().isoformat()}"
        )
    return value


def _uri(value: str) -> str:
    if uri_match(value, rule="URI") is None:
        raise ValueError(f"{value!r} is not an absolute URI (RFC 3986)")
    return value


class StageIn(BaseModel):
    """A field, room, truck or display case the lot passed through, when, and the devices that
    watched it (rooms, trucks and display cases are the cold chain: coldchain.stages)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["field", "room", "truck", "display"]
    name: str = _Text
    place_id: str | None = Field(default=None, min_length=1, max_length=256)
    """The place's identifier (a URI, e.g. an SGLN URN), declared with its name."""
    start: datetime
    end: datetime | None = None
    device_ids: list[str] = Field(default_factory=list, max_length=64)

    @field_validator("start", "end")
    @classmethod
    def _zone(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _aware(value)

    @field_validator("place_id")
    @classmethod
    def _place_id(cls, value: str | None) -> str | None:
        return None if value is None else _uri(value)

    @field_validator("device_ids")
    @classmethod
    def _devices(cls, value: list[str]) -> list[str]:
        for device in value:
            try:
                check_device_id(device)
            except ProtocolError as exc:
                raise ValueError(str(exc)) from None
        return value


class StagePublic(StageIn):
    pass


class LotDetails(BaseModel):
    """What the consumer's page says about the farm; ``time_zone`` is an IANA name."""

    model_config = ConfigDict(extra="forbid")

    grower: str | None = Field(default=None, min_length=1, max_length=128)
    method: str | None = Field(default=None, min_length=1, max_length=128)
    certifications: list[str] = Field(default_factory=list, max_length=16)
    farm_location: str | None = Field(default=None, min_length=1, max_length=128)
    time_zone: str = Field(default="UTC", min_length=1, max_length=64)

    @field_validator("certifications")
    @classmethod
    def _certs(cls, value: list[str]) -> list[str]:
        for cert in value:
            if not 1 <= len(cert) <= 128 or any(ord(ch) < 32 for ch in cert):
                raise ValueError("each certification is 1-128 characters of text")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone_name(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {value!r} (want an IANA name)") from None
        return value


class LotCreate(BaseModel):
    """A new lot: GTIN (valid check digit) and lot number, product, farm and its stages."""

    model_config = ConfigDict(extra="forbid")

    gtin: str = Field(min_length=1, max_length=14)
    lot: str = Field(min_length=1, max_length=20)
    product_name: str = _Text
    product_class: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")
    farm: str = _Text
    origin_region: str = _Text
    harvest_date: date | None = None
    pack_date: date | None = None
    stages: list[StageIn] = Field(default_factory=list, max_length=64)
    details: LotDetails = Field(default_factory=lambda: LotDetails())

    _dates = field_validator("harvest_date", "pack_date")(classmethod(lambda cls, v: _in_range(v)))


class EventCreate(BaseModel):
    """A lot event in EPCIS terms; ``read_point``/``biz_location`` are URIs (SGLN URNs...),
    ``place_name`` the place as people call it (shown on the page; signed with the event)."""

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    time: datetime
    read_point: str = Field(min_length=1, max_length=256)
    biz_location: str | None = Field(default=None, min_length=1, max_length=256)
    place_name: str | None = Field(default=None, min_length=1, max_length=128)
    actor: str = _Text

    _zone = field_validator("time")(classmethod(lambda cls, v: _aware(v)))

    @field_validator("place_name")
    @classmethod
    def _place(cls, value: str | None) -> str | None:
        if value is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise ValueError("place_name must not contain control characters")
        return value

    @field_validator("read_point", "biz_location")
    @classmethod
    def _uris(cls, value: str | None) -> str | None:
        return None if value is None else _uri(value)


class EventPublic(BaseModel):
    """A stored event with its signing identity and whether a block anchors it yet."""

    id: str
    kind: str
    biz_step: str
    time: str
    time_zone_offset: str
    read_point: str
    biz_location: str | None
    place_name: str | None
    actor: str
    signer: str
    seq: int
    status: Literal["pending-anchoring", "anchored"]
    origin: str | None
    global_index: int | None


class LotPublic(BaseModel):
    """A lot as the API returns it."""

    gtin: str
    lot: str
    digital_link: str
    product_name: str
    product_class: str
    farm: str
    origin_region: str
    harvest_date: date | None
    pack_date: date | None
    details: LotDetails
    stages: list[StagePublic]
    events: list[EventPublic]
