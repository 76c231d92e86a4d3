"""The value-community ledger's HTTP API, /v1/communities (issue 17, ``docs/community.md``).

Public reads: the communities, one community (rules in force, supply over time, distributions,
member count; no names), its signed entries, a member's balance and history, and a member's
statement bundle (``farmtrace-community-statement/v1``, checked offline by ``farmtrace
verify``). The operator's records need a key with scope ``community:write``: founding a
community from its rules, deposits, services, work hours, campaign pledges, distributions and
new rules versions. A member's transfer needs no key: the statement is signed by the sender.

Every action is judged and signed by :class:`~farmtrace.api.services.communities.CommunityService`;
its refusals are :class:`~farmtrace.commerce.errors.CommerceError`, answered once by the app
(422 malformed or refused by the rules, 404 unknown, 409 a state already spent or a balance too
small, naming the current state). Nothing is written when an action is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse

from farmtrace.api.auth import ApiKey
from farmtrace.api.deps import get_state, rate_limit, require_scope, unique_json_keys
from farmtrace.api.schemas.communities import (
    BARBERSHOP_RULES,
    CommunityEntryPublic,
    CommunityPublic,
    CommunitySummary,
    DepositCreate,
    DistributionCreate,
    DistributionPublic,
    EntryRecorded,
    MemberPublic,
    PledgeMintCreate,
    ServiceCreate,
    StatementTransferCreate,
    WorkCreate,
)
from farmtrace.api.services.communities import Recorded
from farmtrace.api.services.community_bundle import build_statement_bundle
from farmtrace.api.services.convert import b64
from farmtrace.api.state import AppState
from farmtrace.chain.entry import COMMUNITY
from farmtrace.commerce.community.replay import CommunityReplay
from farmtrace.store.communities import CommunityHead

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/communities",
    tags=["communities"],
    dependencies=[Depends(rate_limit), Depends(unique_json_keys)],
)
State = Annotated[AppState, Depends(get_state)]
CommunityId = Annotated[
    str,
    Path(
        max_length=64,
        pattern="^[A-Za-z0-9._:-]{1,64}$",
        description="the community ID its rules name",
    ),
]
Address = Annotated[
    str, Path(pattern="^[0-9a-f]{64}$", description="the member's address (64 lowercase hex)")
]
Writer = Annotated[ApiKey, Depends(require_scope("community:write"))]
RulesBody = Annotated[
    dict[str, Any],
    Body(
        description="a rules document, farmtrace-community-rules/v1 (docs/community.md); "
        "'operator' may be left out: the API's operator key for the community is filled in",
        openapi_examples={"barbershop": {"value": BARBERSHOP_RULES}},
    ),
]


def _error(description: str, code: str, detail: str) -> dict[str, object]:
    return {
        "description": description,
        "content": {"application/json": {"example": {"error": code, "detail": detail}}},
    }


ERRORS: dict[int | str, dict[str, object]] = {
    404: _error("unknown community or member", "not-found", "community barbershop not found"),
    409: _error(
        "refused by the current state: a member state already spent (the detail names the "
        "current one), a balance too small, a community that exists already",
        "conflict",
        "member 6a3803d5f059902a: state 0000... was already spent; the current spend state "
        "is 9a3c... after 1 transfers",
    ),
    422: _error(
        "malformed input or input the rules refuse: the detail names the field or the rule",
        "invalid",
        "community entry 2 (deposit): mints 30000 tokens but the rules give 25000",
    ),
}


def _summary(head: CommunityHead, replay: CommunityReplay) -> dict[str, Any]:
    rules = replay.rules
    assert rules is not None
    return {
        "community": head.community,
        "token": rules.token_name,
        "symbol": rules.token_symbol,
        "currency": rules.currency,
        "rules_version": rules.version,
        "supply": replay.supply,
        "members": replay.holders,
        "entries": replay.n,
    }


def _recorded(found: Recorded) -> EntryRecorded:
    return EntryRecorded(
        community=found.community,
        n=found.n,
        op=found.op,
        hash=found.hash,
        time_ms=found.time_ms,
        minted=found.minted,
        supply=found.supply,
        holders=found.holders,
        body=found.body,
    )


@router.get("", response_model=list[CommunitySummary])
def list_communities(
    state: State,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[CommunitySummary]:
    """Communities, oldest first (from their stored heads: no replay)."""
    svc = state.communities
    found = []
    for head in svc.communities.listed(limit, offset):
        rules = svc.rules_in_force(head)
        found.append(
            CommunitySummary(
                community=head.community,
                token=rules.token_name,
                symbol=rules.token_symbol,
                currency=rules.currency,
                rules_version=rules.version,
                supply=head.supply,
                members=head.members,
                entries=head.eseq,
            )
        )
    return found


@router.post("", response_model=CommunityPublic, status_code=201, responses=ERRORS)
def create_community(body: RulesBody, state: State, _key: Writer) -> CommunityPublic:
    """Found a community from its rules document (version 1): entry 1 publishes the rules,
    signed with the community's operator key, and credits the initial allocation."""
    head = state.communities.create(body)
    return read_community(head.community, state)


@router.get("/{community}", response_model=CommunityPublic, responses=ERRORS)
def read_community(community: CommunityId, state: State) -> CommunityPublic:
    """A community: the rules in force, supply over time, its distributions and how many
    member keys hold tokens (no names)."""
    head, replay = state.communities.replay(community)
    rules = replay.rules
    assert rules is not None
    return CommunityPublic(
        **_summary(head, replay),
        operator_key=head.operator_key,
        head=replay.head,
        rules=rules.document,
        rules_sha256=rules.sha256,
        rules_versions=[(r.version, n) for n, r in replay.versions],
        supply_history=list(replay.supply_history),
        distributions=[
            DistributionPublic(
                n=d.n,
                time_ms=d.time_ms,
                kind=d.kind,
                version=d.version,
                from_ms=d.from_ms,
                until_ms=d.until_ms,
                surplus=d.surplus,
                total=d.total,
            )
            for d in replay.distributions
        ],
    )


@router.get("/{community}/entries", response_model=list[CommunityEntryPublic], responses=ERRORS)
def entries(
    community: CommunityId,
    state: State,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[CommunityEntryPublic]:
    """The community's signed entries in order, each with where a block holds it (or null
    while pending anchoring)."""
    svc = state.communities
    head = svc.head(community)
    stored = svc.communities.entries(head.id, kind=COMMUNITY)[offset : offset + limit]
    return [
        CommunityEntryPublic(
            n=e.eseq,
            op=e.op,
            time_ms=e.time_ms,
            hash=e.state,
            entry=b64(e.payload),
            anchored=None
            if e.anchor is None
            else {"origin": e.anchor.origin, "global_index": e.anchor.global_index},
        )
        for e in stored
    ]


@router.post(
    "/{community}/deposits", response_model=EntryRecorded, status_code=201, responses=ERRORS
)
def deposit(
    community: CommunityId, body: DepositCreate, state: State, _key: Writer
) -> EntryRecorded:
    """Record a member's deposit; the tokens it mints are the rules' (consumption mining)."""
    return _recorded(
        state.communities.deposit(
            community, body.member, body.amount, body.payment_reference, body.minted
        )
    )


@router.post(
    "/{community}/services", response_model=EntryRecorded, status_code=201, responses=ERRORS
)
def service(
    community: CommunityId, body: ServiceCreate, state: State, _key: Writer
) -> EntryRecorded:
    """Record a service a member performed; the tokens it mints are the rules' share of its
    profit (service mining)."""
    return _recorded(
        state.communities.service(
            community, body.member, body.revenue, body.cost, body.reference, body.minted
        )
    )


@router.post("/{community}/work", response_model=EntryRecorded, status_code=201, responses=ERRORS)
def work(community: CommunityId, body: WorkCreate, state: State, _key: Writer) -> EntryRecorded:
    """Record a member's work, in minutes; the tokens it mints are the rules' hourly rate."""
    return _recorded(
        state.communities.work(community, body.member, body.minutes, body.reference, body.minted)
    )


@router.post(
    "/{community}/pledges", response_model=EntryRecorded, status_code=201, responses=ERRORS
)
def pledge(
    community: CommunityId, body: PledgeMintCreate, state: State, _key: Writer
) -> EntryRecorded:
    """Mint on a harvest campaign's confirmed pledge: to its backer, on the amount paid; the
    entry names the campaign, the pledge and the hash of the campaign's issue entry."""
    return _recorded(state.communities.pledge(community, body.campaign, body.pledge, body.minted))


@router.post(
    "/{community}/transfers", response_model=EntryRecorded, status_code=201, responses=ERRORS
)
def transfer(community: CommunityId, body: StatementTransferCreate, state: State) -> EntryRecorded:
    """Record a member's signed transfer statement; a second statement spending one state is
    refused (409, naming the current spend state), as is one spending more than the balance."""
    return _recorded(state.communities.transfer(community, body.statement))


@router.post(
    "/{community}/distributions", response_model=EntryRecorded, status_code=201, responses=ERRORS
)
def distribute(
    community: CommunityId, body: DistributionCreate, state: State, _key: Writer
) -> EntryRecorded:
    """Share a period's surplus pro rata to the holders (largest remainder, ties to the lowest
    address): a dividend in money or tokens minted, as the rules in force say."""
    parts = body.parts
    return _recorded(
        state.communities.distribute(
            community, body.period.from_ms, body.period.until_ms, body.surplus, parts
        )
    )


@router.post("/{community}/rules", response_model=EntryRecorded, status_code=201, responses=ERRORS)
def publish_rules(
    community: CommunityId, body: RulesBody, state: State, _key: Writer
) -> EntryRecorded:
    """Publish the next rules version (no ``initial``); it governs every entry after this
    one, never one before."""
    return _recorded(state.communities.publish_rules(community, body))


@router.get("/{community}/members/{address}", response_model=MemberPublic, responses=ERRORS)
def member(community: CommunityId, address: Address, state: State) -> MemberPublic:
    """A member's balance, spend state, and how each token was earned, sent or received, with
    their part of each distribution."""
    view = state.communities.member(community, address)
    return MemberPublic(community=community, **view)


@router.get("/{community}/members/{address}/statement", responses=ERRORS)
def statement(community: CommunityId, address: Address, state: State) -> JSONResponse:
    """The member's statement bundle (``farmtrace-community-statement/v1``): every entry of the
    community with its inclusion proof once anchored, the checkpoints and the operator key;
    ``farmtrace verify`` recomputes the member's balance and shares from it offline."""
    found = build_statement_bundle(state, community, address)
    name = f"community-{community}-{address[:16]}.json"
    return JSONResponse(found, headers={"Content-Disposition": f'attachment; filename="{name}"'})
