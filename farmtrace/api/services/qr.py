"""The pack's QR code (segno), holding a Digital Link URI; error correction M, 4-module border."""

from __future__ import annotations

import io

import segno

__all__ = ["qr_png", "qr_svg"]


def _code(uri: str) -> segno.QRCode:
    return segno.make_qr(uri, error="m", boost_error=False)


def qr_svg(uri: str) -> bytes:
    out = io.BytesIO()
    _code(uri).save(out, kind="svg", scale=4, border=4, xmldecl=False, title=uri)
    return out.getvalue()


def qr_png(uri: str) -> bytes:
    out = io.BytesIO()
    _code(uri).save(out, kind="png", scale=8, border=4)
    return out.getvalue()
