"""QR codes (segno) for every part of farmtrace that shows one: the pack's Digital Link URI
(PNG and SVG, served by the API), the demo's first lot and the wallet's address and redeem
statement (terminal blocks).

One encoding everywhere: error correction level M, not raised when the data would fit a higher
level (``boost_error=False``), so the same text always gives the same symbol; a 4-module border
in images (the quiet zone the standard asks for) and 2 in the terminal, whose background already
frames it.
"""

from __future__ import annotations

import io
from typing import TextIO

import segno

__all__ = ["qr_png", "qr_svg", "qr_terminal"]


def _code(text: str) -> segno.QRCode:
    return segno.make_qr(text, error="m", boost_error=False)


def qr_svg(text: str) -> bytes:
    """An SVG image of ``text``'s QR code, titled with the text."""
    out = io.BytesIO()
    _code(text).save(out, kind="svg", scale=4, border=4, xmldecl=False, title=text)
    return out.getvalue()


def qr_png(text: str) -> bytes:
    """A PNG image of ``text``'s QR code, 8 pixels a module."""
    out = io.BytesIO()
    _code(text).save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def qr_terminal(text: str, out: TextIO) -> None:
    """``text``'s QR code written to ``out`` in block characters, two module rows a line."""
    _code(text).terminal(out=out, compact=True, border=2)
