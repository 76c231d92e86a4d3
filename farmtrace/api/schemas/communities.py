"""Value communities as the API receives and returns them (``docs/community.md``).

Request bodies are strict (no unknown fields, no numbers given as text, every integer and string
bounded); what their values mean (a usable Ed25519 key, the rules document, whether a mint or a
distribution's parts are what the rules give) is judged by the rules engine
(:mod:`farmtrace.commerce.community`) in the community service, whose message names the field
or the rule (answered as 422). Money is an integer of the rules' currency's minor units; token
amounts are integers; times are milliseconds since the epoch (UTC). Nothing returned names a
person: members are addresses (public keys) and their fingerprints.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from farmtrace.commerce.canonical import MAX_INT

__all__ = [
    "BARBERSHOP_RULES",
    "CommunityEntryPublic",
    "CommunityPublic",
    "CommunitySummary",
    "DepositCreate",
    "DistributionCreate",
    "DistributionPublic",
    "EntryRecorded",
    "MemberPublic",
    "Period",
    "PledgeMintCreate",
    "ServiceCreate",
    "StatementTransferCreate",
    "WorkCreate",
]

_STRICT = ConfigDict(extra="forbid", strict=True)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = "a member's address: an Ed25519 public key, 64 lowercase hex digits"
MAX_STATEMENT = 8192
"""The longest base64 transfer statement accepted (its body is a few hundred bytes)."""

OPERATOR = "b533d8ad9fcfbdde0b481c1b334ddc3c53412fd614564e7e5afd020368d382c3"
INVESTOR = "bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5"
TEAM = "65e8f9b0bc6eae124169f0576f97362d295a8cf5f770b45e14357ce647d33eec"
MEMBER = INVESTOR
BARBERSHOP_RULES: dict[str, Any] = {
    "format": "farmtrace-community-rules/v1",
    "community": "barbershop",
    "version": 1,
    "operator": OPERATOR,
    "token": {"name": "Barbershop community token", "symbol": "CUT"},
    "currency": "CNY",
    "price": {"amount": 10000000, "tokens": 5000000},
    "margin": {"cost": 1, "revenue": 2},
    "initial": {"supply": 10000000, "allocation": {INVESTOR: 5000000, TEAM: 5000000}},
    "mint": {
        "deposit": {"share": {"num": 1, "den": 2}},
        "service": {"share": {"num": 1, "den": 10}},
    },
    "surplus": "dividend",
    "text": {
        "zh": "顾客充值获得价值为充值额一半的新通证。理发师获得服务利润10%的新通证。",
        "en": "A deposit mints tokens worth half of it; a service mints 10 % of its profit.",
    },
}
"""The barbershop's rules (``docs/communities/barbershop.json``, texts shortened): the example
of ``POST /v1/communities``."""


def _plain(text: str) -> str:
    found = _CONTROL.search(text)
    if found is not None:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()}"
        )
    return text


_Reference = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="the payment or service record's reference; kept only as its SHA-256",
    ),
    AfterValidator(_plain),
]
_Address = Annotated[str, Field(pattern="^[0-9a-f]{64}$", description=_ADDRESS)]
_Minted = Annotated[
    int | None,
    Field(
        ge=0,
        le=MAX_INT,
        description="optional: the tokens the caller computed; refused (422) unless it is what "
        "the rules give",
    ),
]


class DepositCreate(BaseModel):
    """A member's deposit ("consumption mining")."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"member": MEMBER, "amount": 100000, "payment_reference": "till 4 #88"}]
        },
    )

    member: _Address
    amount: int = Field(description="minor units deposited (1000.00 CNY: 100000)")
    payment_reference: _Reference
    minted: _Minted = None


class ServiceCreate(BaseModel):
    """A service a member performed ("service mining")."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"member": MEMBER, "revenue": 10000, "cost": 5000, "reference": "ticket 7"}
            ]
        },
    )

    member: _Address
    revenue: int = Field(description="the service's revenue, minor units")
    cost: int | None = Field(
        default=None, description="its cost; left out, the rules' margin assumption gives it"
    )
    reference: _Reference
    minted: _Minted = None


class WorkCreate(BaseModel):
    """Work hours a member put in, in minutes."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"member": MEMBER, "minutes": 240, "reference": "rota"}]},
    )

    member: _Address
    minutes: int
    reference: _Reference
    minted: _Minted = None


class PledgeMintCreate(BaseModel):
    """A harvest campaign's confirmed pledge: its backer mints on the amount paid."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [{"campaign": "0950600013439", "pledge": "0f" * 16}],
        },
    )

    campaign: str = Field(max_length=64, description="the campaign's GCN")
    pledge: str = Field(pattern="^[0-9a-f]{32}$", description="the pledge's ID")
    minted: _Minted = None


class StatementTransferCreate(BaseModel):
    """A member's signed transfer statement (``FW 01``, docs/community.md section 2)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"statement": "RlcBAAAAAAAAAAE..."}]},
    )

    statement: str = Field(
        min_length=1,
        max_length=MAX_STATEMENT,
        description="standard padded base64 of the statement's bytes, signed by the sender",
    )


class Period(BaseModel):
    model_config = _STRICT

    from_ms: int = Field(ge=0, le=MAX_INT)
    until_ms: int = Field(ge=0, le=MAX_INT)


class DistributionCreate(BaseModel):
    """A period's surplus, shared pro rata to the holders' balances (the rules in force say
    as a dividend in money or as tokens minted)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {"period": {"from_ms": 1796000000000, "until_ms": 1798000000000}, "surplus": 1}
            ]
        },
    )

    period: Period
    surplus: int = Field(description="the period's surplus, minor units")
    parts: list[list[Any]] | None = Field(
        default=None,
        max_length=5000,
        description="optional: [address, amount] pairs in address order; refused (422) "
        "unless they are exactly the rounding rule's parts",
    )


class EntryRecorded(BaseModel):
    """A community entry signed and stored (pending anchoring until a block holds it)."""

    community: str
    n: int = Field(description="the entry's place in the community's chain")
    op: str
    hash: str = Field(description="SHA-256 of the entry's bytes")
    time_ms: int
    minted: int = Field(description="tokens minted by this entry (0 for none)")
    supply: int
    holders: int
    body: dict[str, Any] = Field(description="the signed body (docs/community.md)")


class DistributionPublic(BaseModel):
    n: int
    time_ms: int
    kind: str
    version: int
    from_ms: int
    until_ms: int
    surplus: int
    total: int


class CommunitySummary(BaseModel):
    community: str
    token: str
    symbol: str
    currency: str
    rules_version: int
    supply: int
    members: int = Field(description="how many member keys hold tokens (no names)")
    entries: int


class CommunityPublic(CommunitySummary):
    """A community: the rules in force, supply over time, distributions, member count."""

    operator_key: str = Field(description="the operator key of version 1 (64 hex)")
    head: str
    rules: dict[str, Any] = Field(description="the rules document in force")
    rules_sha256: str
    rules_versions: list[tuple[int, int]] = Field(
        description="[version, entry that published it] of every rules version"
    )
    supply_history: list[tuple[int, int, int]] = Field(
        description="[entry n, time_ms, supply after it] for every entry"
    )
    distributions: list[DistributionPublic]


class CommunityEntryPublic(BaseModel):
    n: int
    op: str
    time_ms: int
    hash: str
    entry: str = Field(description="base64 of the signed entry")
    anchored: dict[str, Any] | None = Field(
        description="{origin, global_index} once a block holds it; null while pending"
    )


class MemberPublic(BaseModel):
    """A member's balance and how each token was earned, sent or received."""

    community: str
    member: str
    fingerprint: str
    balance: int
    spend_state: str = Field(description="the state the member's next transfer spends")
    moves: int
    history: list[dict[str, Any]]
    distributions: list[dict[str, Any]]
