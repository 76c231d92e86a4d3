"""What the demo prints for a person: where things are at the start, then each lot's page, one
QR code and the commands to try next, all naming this run's real addresses, lot and paths."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from farmtrace.demo.campaign import STORY_COUPON, WALLET_DIR, CampaignFigures
from farmtrace.demo.lots import SampleLot
from farmtrace.qr import qr_terminal

__all__ = [
    "campaign_commands",
    "farmtrace_command",
    "follow_up_commands",
    "print_campaign",
    "print_links",
    "print_start",
    "shown_path",
]

LOG_NAMES = ("broker", "gateway", "simulator", "api")


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """``path`` as a shell word: relative to ``cwd`` (default: the current directory) when it
    lies below it, else absolute; quoted when it needs to be."""
    path = path.absolute()
    base = (cwd or Path.cwd()).absolute()
    try:
        text = str(path.relative_to(base))
    except ValueError:
        text = str(path)
    return shlex.quote(text)


def farmtrace_command(cwd: Path | None = None) -> str:
    """How to run this installation's ``farmtrace`` from ``cwd``: the script beside the running
    interpreter (``.venv/bin/farmtrace`` for ``make demo``), else ``PYTHON -m farmtrace``."""
    script = Path(sys.executable).parent / "farmtrace"
    if script.is_file():
        return shown_path(script, cwd)
    return f"{shown_path(Path(sys.executable), cwd)} -m farmtrace"


def follow_up_commands(
    api_url: str,
    state_dir: Path,
    lot: SampleLot,
    cwd: Path | None = None,
    farmtrace: str | None = None,
) -> list[str]:
    """Shell commands that work against this demo, run from ``cwd``: fetch the latest signed
    checkpoint, download ``lot``'s offline bundle, and verify it with the gateway's key.
    ``farmtrace`` is how to run the command (default :func:`farmtrace_command`).

    README.md shows these as printed by a default ``make demo`` (tests/demo check they match).
    """
    farmtrace = farmtrace or farmtrace_command(cwd)
    gateway = shown_path(state_dir / "gateway", cwd)
    return [
        f"curl -s {api_url}/checkpoint",
        f"curl -s -o lot.json {api_url}/v1/lots/{lot.gtin}/{lot.lot}/bundle",
        f'{farmtrace} verify lot.json --key "$({farmtrace} keys show --state {gateway})"',
    ]


def campaign_commands(
    api_url: str,
    state_dir: Path,
    gcn: str,
    cwd: Path | None = None,
    farmtrace: str | None = None,
) -> list[str]:
    """Shell commands that check the demo's campaign from ``cwd``: download its offline bundle
    and verify it with the gateway's key (the caps recounted, every coupon's history replayed),
    and list the coupons a backer's wallet holds.

    README.md shows these as printed by a default ``make demo`` (tests/demo check they match).
    """
    farmtrace = farmtrace or farmtrace_command(cwd)
    gateway = shown_path(state_dir / "gateway", cwd)
    dave = shown_path(state_dir / WALLET_DIR / "dave.key", cwd)
    return [
        f"curl -s -o campaign.json {api_url}/v1/campaigns/{gcn}/bundle",
        f'{farmtrace} verify campaign.json --key "$({farmtrace} keys show --state {gateway})"',
        f"{farmtrace} wallet coupons --file {dave} --api {api_url}",
    ]


def print_campaign(page_base: str, state_dir: Path, campaign: CampaignFigures, out: TextIO) -> None:
    """The harvest campaign's figures (as the API reported them), its page and the story
    coupon's page on ``page_base``, each with its QR code."""
    campaign_page = f"{page_base}/campaigns/{campaign.gcn}"
    coupon_page = f"{page_base}/255/{STORY_COUPON}"
    wallets = shown_path(state_dir / WALLET_DIR)
    out.write(f"\nharvest campaign (backers' wallets in {wallets}/):\n  {campaign.line()}\n")
    out.write(f"  its coupon market: {campaign_page}/market\n")
    out.write(f"\ncampaign page: {campaign_page}\n")
    out.flush()
    qr_terminal(campaign_page, out)
    out.write(
        f"\ncoupon {STORY_COUPON} (alice gave it to carol, carol sold it to dave, dave "
        f"redeemed it): {coupon_page}\n"
    )
    out.flush()
    qr_terminal(coupon_page, out)


def print_start(state_dir: Path, out: TextIO) -> None:
    """How to stop the demo and where its state and logs are, printed before anything starts."""
    state = shown_path(state_dir)
    logs = shown_path(state_dir / "logs")
    names = ", ".join(f"{name}.log" for name in LOG_NAMES)
    out.write(
        f"  stop:  Ctrl-C (the next run resumes; remove {state} to start over)\n"
        f"  state: {state}/ (keys, farmtrace.db, demo.json)\n"
        f"  logs:  {logs}/ ({names})\n"
    )
    out.flush()


def print_links(
    page_base: str,
    api_url: str,
    state_dir: Path,
    lots: Sequence[SampleLot],
    out: TextIO,
    campaign: CampaignFigures | None = None,
) -> None:
    """Each lot's page on ``page_base`` (the public URL), the first lot's QR code
    (:func:`farmtrace.qr.qr_terminal`), the harvest campaign (:func:`print_campaign`) if given,
    and :func:`follow_up_commands` (and :func:`campaign_commands`) against ``api_url``.

    The terminal QR code and the pack's own (``/v1/lots/{gtin}/{lot}/qr.png``, the lot's GS1
    Digital Link URI) name the same address, on ``page_base``.
    """
    out.write(f"\nprovenance pages (GS1 Digital Link on {page_base}):\n")
    for lot in lots:
        name = lot.body["product_name"]
        out.write(f"  {name}: {page_base}{lot.path}\n")
        out.write(f"    pack QR code: {api_url}/v1/lots/{lot.gtin}/{lot.lot}/qr.png\n")
    first = lots[0]
    out.write(f"\n{first.body['product_name']}, lot {first.lot}: {page_base}{first.path}\n")
    out.flush()
    qr_terminal(page_base + first.path, out)
    if page_base == api_url:  # this machine only
        out.write(
            "(for a phone on your network: --public-url http://ADDRESS-OF-THIS-MACHINE:PORT)\n"
        )
    commands = follow_up_commands(api_url, state_dir, first)
    if campaign is not None:
        print_campaign(page_base, state_dir, campaign, out)
        commands += campaign_commands(api_url, state_dir, campaign.gcn)
    out.write(f"\ntry it, from another terminal in {shlex.quote(str(Path.cwd()))}:\n")
    for command in commands:
        out.write(f"  {command}\n")
    out.write(
        f"\nCtrl-C stops the demo; logs in {shown_path(state_dir / 'logs')}/. Live summary:\n"
    )
    out.flush()
