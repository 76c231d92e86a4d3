"""The value-community ledger's HTTP API, /v1/communities (issue 17)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
