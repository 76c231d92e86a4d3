"""Checkpoints, consistency proofs, readings and their proofs, for each chain.

The default chain is served at ``/checkpoint`` and ``/v1/...``; every chain, the default one
included, at ``/v1/chains/{origin}/...`` (the origin verbatim, slashes and all).
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse, Response

from farmtrace.api.deps import get_state, rate_limit, state_of
from farmtrace.api.errors import ApiError, BadRequest, NotFound
from farmtrace.api.schemas.chain import (
    ChainPublic,
    ConsistencyPublic,
    ReadingProofPublic,
    ReadingPublic,
)
from farmtrace.api.schemas.witnesses import WitnessesPublic
from farmtrace.api.services.convert import b64, proof_public, reading_public
from farmtrace.api.services.witness_status import PolicyFileError, read_policy, witnesses_of
from farmtrace.api.state import AppState
from farmtrace.store.clock import entry_went_backwards
from farmtrace.store.reader import ChainReader

__all__ = ["chain_router", "chains_router"]

_MAX = 2**63 - 1
Index = Annotated[int, Path(ge=0, le=_MAX, description="the entry's global index")]
Size = Annotated[int, Path(ge=0, le=_MAX, description="a chain-log size (number of blocks)")]
State = Annotated[AppState, Depends(get_state)]
_TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {}}}}


async def default_chain(request: Request) -> ChainReader:
    return state_of(request).chain(None)


async def named_chain(request: Request, origin: str) -> ChainReader:
    return state_of(request).chain(origin)


def chain_router(
    chain_dep: Callable[..., Awaitable[ChainReader]], prefix: str, tag: str, suffix: str
) -> APIRouter:
    """The read endpoints of one chain, resolved by ``chain_dep``.

    A store error (an unknown entry or checkpoint, ...) is answered by the app's one mapping
    (``farmtrace.api.errors.store_error``).
    """
    router = APIRouter(prefix=prefix, tags=[tag], dependencies=[Depends(rate_limit)])
    Chain = Annotated[ChainReader, Depends(chain_dep)]

    @router.get(
        "/checkpoint",
        response_class=PlainTextResponse,
        responses=_TEXT,
        operation_id="latest_checkpoint" + suffix,
    )
    def latest_checkpoint(chain: Chain) -> PlainTextResponse:
        """The latest signed C2SP checkpoint of the chain, as ``text/plain``."""
        found = chain.latest_checkpoint()
        if found is None:
            raise NotFound(f"chain {chain.origin} has no checkpoint yet")
        return PlainTextResponse(found.note, headers={"Cache-Control": "no-cache"})

    @router.get(
        "/checkpoints/{size}",
        response_class=PlainTextResponse,
        responses=_TEXT,
        operation_id="checkpoint" + suffix,
    )
    def checkpoint(chain: Chain, size: Size) -> PlainTextResponse:
        """The signed checkpoint of chain-log size ``size``, with its witness cosignatures
        (immutable once a newer checkpoint exists: witnesses are sent only the newest one)."""
        found = chain.checkpoint(size)
        newest = chain.latest_checkpoint()
        if newest is None or found.size >= newest.size:
            # Still the newest: cosignatures may yet be added.
            return PlainTextResponse(found.note, headers={"Cache-Control": "no-cache"})
        return PlainTextResponse(
            found.note, headers={"Cache-Control": "public, max-age=31536000, immutable"}
        )

    @router.get("/witnesses", response_model=WitnessesPublic, operation_id="witnesses" + suffix)
    def witnesses(chain: Chain, state: State) -> WitnessesPublic:
        """The witnesses that cosigned the chain's checkpoints, how far behind each is, and the
        operator's C2SP tlog-policy (docs/witness.md)."""
        try:
            policy = read_policy(state.settings.state_dir)
        except PolicyFileError as exc:
            raise ApiError(f"the witness policy is misconfigured: {exc}") from None
        return witnesses_of(chain, policy)

    @router.get(
        "/consistency", response_model=ConsistencyPublic, operation_id="consistency" + suffix
    )
    def consistency(
        chain: Chain,
        from_size: Annotated[int, Query(alias="from", ge=1, le=_MAX)],
        to_size: Annotated[int, Query(alias="to", ge=1, le=_MAX)],
    ) -> ConsistencyPublic:
        """The RFC 9162 consistency proof from size ``from`` to ``to`` with both checkpoints."""
        if from_size > to_size:
            raise BadRequest(f"from ({from_size}) must not exceed to ({to_size})")
        old, new = chain.checkpoint(from_size), chain.checkpoint(to_size)
        return ConsistencyPublic(
            origin=chain.origin,
            from_size=from_size,
            to_size=to_size,
            proof=[b64(h) for h in chain.consistency_proof(from_size, to_size)],
            from_checkpoint=old.note,
            to_checkpoint=new.note,
        )

    @router.get("/readings/{index}", response_model=ReadingPublic, operation_id="reading" + suffix)
    def reading(chain: Chain, index: Index, state: State) -> ReadingPublic:
        """The entry at global index ``index`` (a reading, decoded, with ``clock_backwards``;
        or another kind)."""
        entry = chain.entry(index)
        return reading_public(entry, entry_went_backwards(state.database, entry))

    @router.get(
        "/readings/{index}/proof",
        response_model=ReadingProofPublic,
        operation_id="reading_proof" + suffix,
    )
    async def reading_proof(chain: Chain, index: Index, request: Request) -> Response:
        """The entry, its batch inclusion proof, block header and tlog-proof of the header."""
        # The hot path stays on the event loop when everything but the entry is cached;
        # building a cold block's tree goes to a worker thread.
        proof = chain.cached_proof(index)
        if proof is None:
            proof = await run_in_threadpool(chain.reading_proof, index)
        device = proof.entry.device_id
        key = None
        if device is not None and proof.entry.kind == "reading":
            key = state_of(request).device_keys({device}).get(device)
        # Serialised here, once: the model is already validated.
        return Response(proof_public(proof, key).model_dump_json(), media_type="application/json")

    return router


def root_router() -> APIRouter:
    """``/checkpoint``: the default chain's latest checkpoint at the conventional place."""
    router = APIRouter(tags=["chain"], dependencies=[Depends(rate_limit)])

    @router.get("/checkpoint", response_class=PlainTextResponse, responses=_TEXT)
    def checkpoint(request: Request) -> PlainTextResponse:
        """The default chain's latest signed C2SP checkpoint, as ``text/plain``."""
        chain = state_of(request).chain(None)
        found = chain.latest_checkpoint()
        if found is None:
            raise NotFound(f"chain {chain.origin} has no checkpoint yet")
        return PlainTextResponse(found.note, headers={"Cache-Control": "no-cache"})

    return router


def chains_router() -> APIRouter:
    router = APIRouter(prefix="/v1/chains", tags=["chains"], dependencies=[Depends(rate_limit)])

    @router.get("", response_model=list[ChainPublic])
    def chains(state: State) -> list[ChainPublic]:
        """Every chain in the database with its verifier keys and checkpoint URL."""
        return [
            ChainPublic(
                origin=origin,
                verifier_keys=state.verifier_keys(origin),
                checkpoint_url=f"/v1/chains/{origin}/checkpoint",
            )
            for origin in state.origins()
        ]

    return router
