"""What the demo prints once the lots exist: each lot's provenance page and one QR code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import segno

from farmtrace.demo.lots import SampleLot

__all__ = ["print_links"]


def print_links(base_url: str, lots: Sequence[SampleLot], out: TextIO) -> None:
    """Each lot's page on ``base_url`` and the first lot's QR code (segno, terminal blocks).

    The terminal QR code holds the page's address on this machine; the pack's own QR code
    (``/v1/lots/{gtin}/{lot}/qr.png``) holds the lot's GS1 Digital Link URI.
    """
    out.write("\nprovenance pages (GS1 Digital Link on 127.0.0.1):\n")
    for lot in lots:
        name = lot.body["product_name"]
        out.write(f"  {name}: {base_url}{lot.path}\n")
        out.write(f"    pack QR code: {base_url}/v1/lots/{lot.gtin}/{lot.lot}/qr.png\n")
    first = lots[0]
    out.write(f"\n{first.body['product_name']}, lot {first.lot}:\n")
    out.flush()
    segno.make(base_url + first.path, error="m").terminal(out=out, compact=True, border=2)
    out.write("\n")
    out.flush()
