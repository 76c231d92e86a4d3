"""The campaign and coupon pages for a browser (issue 16)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
