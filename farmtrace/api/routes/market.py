"""The coupon market: listings per campaign and their page (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
