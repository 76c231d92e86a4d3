"""How a chain's witnesses stand, as ``GET /v1/chains/{origin}/witnesses`` returns it."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["WitnessPublic", "WitnessesPublic"]


class WitnessPublic(BaseModel):
    """One witness that cosigned a checkpoint of the chain, and how far behind it is."""

    name: str = Field(description="the witness's key name")
    vkey: str = Field(description="its cosignature/v1 verifier key")
    cosigned_size: int = Field(description="the largest checkpoint size it cosigned")
    cosigned_at: int = Field(description="that cosignature's timestamp, POSIX seconds")
    blocks_behind: int = Field(description="the chain's size minus cosigned_size")
    age_s: float = Field(description="seconds since that cosignature's timestamp")


class WitnessesPublic(BaseModel):
    origin: str
    size: int = Field(description="the chain's newest checkpoint size (0 before the first)")
    witnesses: list[WitnessPublic]
    policy: str | None = Field(
        description="the operator's C2SP tlog-policy for this API (<api state>/witness.policy), "
        "which the page's verifier applies; null without one"
    )
