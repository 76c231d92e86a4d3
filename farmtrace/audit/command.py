"""The chain commands: ``farmtrace audit``, ``farmtrace keys show``, ``rotate`` and
``rotate-event`` (the API's event key), and ``farmtrace privacy erase`` (backers' personal
details, which the audit does not need).

Exit codes: 0 when all is well, 1 when the audit found a bad item, 2 when the command could
not run (unreadable database, malformed key, missing state).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from farmtrace.audit import run_audit
from farmtrace.store.audit_reads import recorded_checkpoint
from farmtrace.store.errors import StoreError
from farmtrace.store.keys import load_signer, trusted_verifiers
from farmtrace.store.rotation import rotate_checkpoint_key
from farmtrace.tlog.errors import TlogError
from farmtrace.tlog.note import Verifier

__all__ = ["register"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2
_PLEDGE_ID = re.compile(r"[0-9a-f]{32}")


def register(sub: Any) -> None:
    """Add ``audit``, ``keys`` and ``privacy`` to the ``farmtrace`` command."""
    audit = sub.add_parser(
        "audit",
        help="recompute and check every chain, campaign, coupon and community in a database",
        description="Recompute every leaf, batch root, block link, chain-log root and checkpoint "
        "signature from the database, and replay every harvest campaign and coupon (farm and "
        "holder signatures, each coupon's state chain without forks, the cap and harvest "
        "counts, see docs/commerce.md) and every value community (every mint and distribution "
        "recomputed from its rules and inputs, supply against balances, see "
        "docs/community.md); exit 1 naming the first bad item.",
    )
    audit.add_argument("--db", required=True, metavar="URL", help="sqlite:///PATH or postgresql://")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="VKEY",
        help="trusted checkpoint verifier key (repeatable); see 'farmtrace keys show'",
    )
    audit.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="trust the checkpoint keys of this state directory, and require the chain to reach "
        "and agree with the last checkpoint that gateway recorded there",
    )
    audit.set_defaults(func=_audit)

    keys = sub.add_parser(
        "keys",
        help="signing keys: show, rotate and list the history of the checkpoint and event keys",
    )
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the checkpoint verifier key (C2SP vkey)")
    show.add_argument("--state", type=Path, required=True, metavar="DIR")
    show.set_defaults(func=_keys_show)
    rotate = actions.add_parser(
        "rotate",
        help="replace the checkpoint key (gateway stopped); older checkpoints stay verifiable",
        description="Make a new checkpoint key with the same name; the old verifier key is "
        "appended to checkpoint-retired.vkeys and co-signs the gateway's next checkpoint, which "
        "names the new key. Refuses while a gateway holds the state directory. Prints the old "
        "and the new verifier key. See docs/chain.md, 'Rotating the checkpoint key'.",
    )
    rotate.add_argument("--state", type=Path, required=True, metavar="DIR")
    rotate.add_argument(
        "--db", metavar="URL", help="also record the new key in this database's chain_keys now"
    )
    rotate.set_defaults(func=_keys_rotate)
    rotate_event = actions.add_parser(
        "rotate-event",
        help="make a new API event key current (API stopped); older bundles stay verifiable",
        description="Replace the API's event key in DIR/event.key by a new one (or adopt the "
        "key there if the database has never seen it) and make it the database's current "
        "event key, ending the old key's validity now. The old key stays in the key history, "
        "so bundles of records it signed still carry it. Then start the API with --state DIR. "
        "See docs/chain.md, 'Key history'.",
    )
    rotate_event.add_argument("--state", type=Path, required=True, metavar="DIR")
    rotate_event.add_argument("--db", required=True, metavar="URL")
    rotate_event.set_defaults(func=_keys_rotate_event)
    history = actions.add_parser(
        "history",
        help="list every signing key the database recorded, with its validity period",
        description="Every event, checkpoint and watermark key the database recorded (the key "
        "history, docs/chain.md), oldest first: kind, scope, key ID, valid from, valid until "
        "('current' while it is).",
    )
    history.add_argument("--db", required=True, metavar="URL")
    history.add_argument("--json", action="store_true", help="print a JSON list")
    history.set_defaults(func=_keys_history)

    privacy = sub.add_parser("privacy", help="personal data kept off the chain")
    privacy_actions = privacy.add_subparsers(
        dest="privacy_command", metavar="ACTION", required=True
    )
    erase = privacy_actions.add_parser(
        "erase",
        help="delete backers' contact and delivery details (the chain and coupons stay)",
        description="Delete the contact and delivery details backers gave with their pledges "
        "(table backer_contacts), of the pledges named or of all; campaigns, pledges, coupons "
        "and every signed entry stay as they are, so 'farmtrace audit' still passes. Prints "
        "how many pledges' details were deleted.",
    )
    which = erase.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--pledge",
        action="append",
        metavar="ID",
        help="a pledge ID (32 hex digits, as the API returned it); repeatable",
    )
    which.add_argument("--all", action="store_true", help="every backer's details")
    erase.add_argument("--db", required=True, metavar="URL", help="sqlite:///PATH or postgresql://")
    erase.set_defaults(func=_privacy_erase)


def _audit(args: argparse.Namespace) -> int:
    try:
        keys = [Verifier.from_vkey(k) for k in args.key]
        recorded: list[str] = []
        if args.state is not None:
            keys += trusted_verifiers(args.state)
            note = recorded_checkpoint(args.state)
            recorded += [] if note is None else [note]
        report = run_audit(args.db, keys, recorded)
    except (StoreError, TlogError) as exc:
        print(f"farmtrace audit: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.to_text())
    if report.failure is not None:
        f = report.failure
        where = f"chain {f['chain']}: " if f["chain"] else ""
        print(f"farmtrace audit: {where}{f['item']}: {f['reason']}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _keys_show(args: argparse.Namespace) -> int:
    try:
        print(load_signer(args.state).verifier.vkey)
    except StoreError as exc:
        print(f"farmtrace keys show: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _keys_rotate(args: argparse.Namespace) -> int:
    try:
        rotation = rotate_checkpoint_key(args.state, args.db)
    except StoreError as exc:
        print(f"farmtrace keys rotate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"old {rotation.old.vkey}")
    print(f"new {rotation.new.vkey}")
    where = "recorded in the database" if rotation.recorded_in_db else "recorded at its next start"
    print(
        f"farmtrace keys rotate: the gateway's next checkpoint is signed by the new key and by "
        f"{rotation.handover.name}+{rotation.handover.key_id:08x}, and names the new key; the "
        f"new key is {where}. Publish it to verifiers beside the old one.",
        file=sys.stderr,
    )
    return EXIT_OK


def _keys_rotate_event(args: argparse.Namespace) -> int:
    from farmtrace.store.database import open_database
    from farmtrace.store.event_key import rotate_event_key

    try:
        with open_database(args.db) as database:
            rotation = rotate_event_key(database, args.state)
    except StoreError as exc:
        print(f"farmtrace keys rotate-event: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for retired in rotation.retired:
        print(f"retired {retired}")
    print(f"current {rotation.new}")
    how = "adopted the key already in" if rotation.adopted else "wrote a new key to"
    print(
        f"farmtrace keys rotate-event: {how} {args.state}; start the API with --state {args.state}",
        file=sys.stderr,
    )
    return EXIT_OK


def _keys_history(args: argparse.Namespace) -> int:
    from farmtrace.store.database import open_database
    from farmtrace.store.key_history import key_history

    try:
        with open_database(args.db) as database:
            periods = key_history(database)
    except StoreError as exc:
        print(f"farmtrace keys history: {exc}", file=sys.stderr)
        return EXIT_ERROR

    def when(seconds: float | None) -> str:
        if seconds is None:
            return "current"
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))

    if args.json:
        rows = [
            {
                "kind": p.kind,
                "scope": p.scope,
                "key_id": p.key_id,
                "public_key": p.public_key,
                "valid_from": p.valid_from,
                "valid_until": p.valid_until,
            }
            for p in periods
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for p in periods:
        scope = p.scope or "-"
        print(
            f"{p.kind:<10} {scope:<32} {p.key_id:<40} {when(p.valid_from)}  {when(p.valid_until)}"
        )
    return EXIT_OK


def _privacy_erase(args: argparse.Namespace) -> int:
    from farmtrace.store.campaigns import Campaigns
    from farmtrace.store.database import open_database

    pledges: list[str] | None = None if args.all else list(args.pledge)
    for pledge in pledges or ():
        if not _PLEDGE_ID.fullmatch(pledge):
            print(
                f"farmtrace privacy erase: pledge ID {pledge!r} is not 32 lowercase hex digits",
                file=sys.stderr,
            )
            return EXIT_ERROR
    try:
        with open_database(args.db) as database:
            erased = Campaigns(database).erase_contacts(pledges)
    except StoreError as exc:
        print(f"farmtrace privacy erase: {exc}", file=sys.stderr)
        return EXIT_ERROR
    scope = "of every pledge" if pledges is None else f"of {len(pledges)} pledge IDs given"
    print(f"erased {erased} backers' contact and delivery details ({scope})")
    return EXIT_OK
