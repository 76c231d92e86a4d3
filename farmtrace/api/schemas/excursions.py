"""Excursions and their acknowledgements as the API receives and returns them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AckCreate", "AckPublic", "ExcursionPublic"]


class AckCreate(BaseModel):
    """Acknowledge the excursion of ``device_id``'s ``measurement`` that started at
    ``start_ms`` (as listed by ``GET .../excursions``), with a comment."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=128)
    measurement: str = Field(min_length=1, max_length=40)
    start_ms: int = Field(ge=0, le=2**63 - 1)
    comment: str = Field(min_length=1, max_length=500)


class AckPublic(BaseModel):
    by: str
    time_ms: int
    comment: str
    signer: str
    seq: int
    status: Literal["pending-anchoring", "anchored"]
    origin: str | None
    global_index: int | None


class ExcursionPublic(BaseModel):
    device_id: str
    measurement: str
    stage: str
    direction: str
    start_ms: int
    end_ms: int
    peak: float
    limit: float
    severity: str
    rule_id: str
    acknowledgement: AckPublic | None
