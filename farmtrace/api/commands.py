"""``farmtrace api``, ``farmtrace api-keys create`` and ``farmtrace verify``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from farmtrace.store.database import Database

T = TypeVar("T")

__all__ = ["register"]


def register(sub: Any) -> None:
    api = sub.add_parser("api", help="serve the provenance API (uvicorn)")
    api.add_argument("--db", required=True, help="database URL (sqlite:///PATH, postgresql://...)")
    api.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (127.0.0.1; 0.0.0.0 for every interface, e.g. for phones)",
    )
    api.add_argument("--port", type=int, default=8000)
    api.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help="state directory holding the event key (DIR/event.key, created on first use); "
        "without it the API signs with a key of its own only while the database has no "
        "signed events (see 'farmtrace keys rotate-event')",
    )
    api.add_argument("--origin", help="the default chain (default: the oldest in the database)")
    api.add_argument("--link-domain", help="host[:port] of Digital Link URIs in QR codes")
    api.add_argument(
        "--public-url",
        metavar="URL",
        help="http(s)://HOST[:PORT] people reach this API at, named by QR codes and pages "
        "(e.g. http://192.168.1.20:8000 with --host 0.0.0.0); overrides --link-domain",
    )
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=_serve)

    keys = sub.add_parser("api-keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--db", required=True)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="lots:write, events:write, excursions:ack, campaigns:write, coupons:redeem, "
        "community:write",
    )
    create.set_defaults(func=_create_key)
    revoke = keys_sub.add_parser("revoke", help="revoke every live key of a name")
    revoke.add_argument("--db", required=True)
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=_revoke_key)

    verify = sub.add_parser(
        "verify",
        help="check a lot, campaign or coupon bundle offline (plain Python only)",
        description="Check a bundle downloaded from the API, offline, with the plain-Python "
        "reference (no Rust, no network): a lot's (farmtrace-bundle/v2, GET "
        "/v1/lots/{gtin}/{lot}/bundle, docs/bundle.md), a campaign's "
        "(farmtrace-campaign-bundle/v1, GET /v1/campaigns/{gcn}/bundle) or a coupon's "
        "(farmtrace-coupon-bundle/v1, GET /v1/coupons/{coupon}/bundle; docs/commerce.md). "
        "Checkpoint signatures, block headers and inclusion proofs, every signed entry, and for "
        "campaigns and coupons the replay of the rules with the caps recounted. Prints each "
        "check; exit 0 if it verifies, 1 naming the first failure, 2 if it could not run "
        "(unreadable file, no key).",
    )
    verify.add_argument("bundle", type=Path, help="the bundle's JSON file")
    verify.add_argument(
        "--key",
        action="append",
        default=[],
        help="C2SP verifier key of the gateway whose chain anchors the bundle ('farmtrace "
        "keys show --state DIR'); repeatable",
    )
    verify.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="C2SP tlog-policy: its log keys are trusted, and each checkpoint must carry the "
        "witness cosignatures its quorum asks for (docs/witness.md)",
    )
    verify.set_defaults(func=_verify)


def _settings(args: argparse.Namespace) -> Any:
    from farmtrace.api.settings import Settings

    values: dict[str, Any] = {"db_url": args.db, "state_dir": args.state, "origin": args.origin}
    values["link_domain"] = args.link_domain or f"{args.host}:{args.port}"
    values["public_url"] = args.public_url
    return Settings(**values)


def _serve(args: argparse.Namespace) -> int:
    import os

    import uvicorn

    from farmtrace.api.main import create_app
    from farmtrace.api.services.digital_link import DigitalLinkError, public_base_url
    from farmtrace.store.errors import StoreError

    if args.public_url is not None:
        try:
            public_base_url(args.public_url)
        except DigitalLinkError as exc:
            print(f"farmtrace api: --public-url: {exc}", file=sys.stderr)
            return 2
    if args.state is None and args.workers > 1:
        import tempfile

        # Every worker must sign with the one key the database records, not each its own.
        args.state = Path(tempfile.mkdtemp(prefix="farmtrace-api-"))
    settings = _settings(args)
    try:
        app = create_app(settings)  # also checks the database before serving
    except StoreError as exc:
        print(f"farmtrace api: {exc}", file=sys.stderr)
        return 2
    # The expensive reads (bundles, pages) run in worker threads for tens of milliseconds; a
    # 1 ms GIL switch interval (Python's default is 5) lets the event loop and the cheap reads
    # (checkpoints, proofs) in between sooner (docs/api.md, "Rate limits").
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any 127.0.0.1 peer;
    # the app reads it itself, only when configured (FARMTRACE_API_TRUST_FORWARDED_FOR).
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "warning",
        "proxy_headers": False,
    }
    if args.workers > 1:
        # Worker processes build their own app from the environment.
        for name, value in settings.model_dump(exclude_none=True).items():
            os.environ[f"FARMTRACE_API_{name.upper()}"] = str(value)
        uvicorn.run(
            "farmtrace.api.main:app_from_env",
            factory=True,
            workers=args.workers,
            access_log=False,
            **options,
        )
    else:
        uvicorn.run(app, access_log=False, **options)
    return 0


def _create_key(args: argparse.Namespace) -> int:
    from farmtrace.api.auth import create_key

    def create(database: Database) -> str:
        return create_key(database, args.name, args.scope)

    token = _with_keys_table(args.db, create)
    if token is None:
        return 2
    # The key on stdout, once; what it is on stderr, without the key.
    print(token)
    print(f"(key {args.name!r} with {', '.join(args.scope)}; shown only now)", file=sys.stderr)
    return 0


def _revoke_key(args: argparse.Namespace) -> int:
    from farmtrace.api.auth import revoke_key

    def revoke(database: Database) -> int:
        return revoke_key(database, args.name)

    count = _with_keys_table(args.db, revoke)
    if count is None:
        return 2
    print(f"revoked {count} key(s) named {args.name!r}")
    return 0


def _with_keys_table(db: str, action: Callable[[Database], T]) -> T | None:
    """``action(database)`` on the database at ``db`` (its schema brought up to date);
    ``None`` after printing why it failed (store errors name the URL with its password hidden
    and the driver's error class only: its message can quote connection parameters)."""
    from farmtrace.store.database import open_database
    from farmtrace.store.errors import StoreError

    try:
        with open_database(db) as database:
            return action(database)
    except (StoreError, ValueError) as exc:
        print(f"farmtrace api-keys: {exc}", file=sys.stderr)
    return None


def _verify(args: argparse.Namespace) -> int:
    from farmtrace.api.services.verify import BundleError, verify_bundle

    try:
        data = args.bundle.read_bytes()
    except OSError as exc:
        print(f"FAIL  cannot read {args.bundle}: {exc.strerror}", file=sys.stderr)
        return 2
    policy = None
    if args.policy is not None:
        from farmtrace.tlog.errors import TlogError
        from farmtrace.tlog.policy import Policy

        try:
            policy = Policy.parse(args.policy.read_bytes())
        except (OSError, TlogError) as exc:
            print(f"FAIL  policy {args.policy}: {exc}", file=sys.stderr)
            return 2
    elif not args.key:
        print(
            "FAIL  give the gateway's key (--key VKEY) or a policy (--policy FILE)", file=sys.stderr
        )
        return 2
    try:
        report = verify_bundle(data, args.key, policy=policy)
    except BundleError as exc:
        print(f"FAIL  {exc}")
        return 1
    if report.commerce is not None:
        print(report.commerce.verdict())
        return 0
    if report.community is not None:
        print(report.community.verdict())
        return 0
    print(
        f"bundle verifies: {report.readings} readings, {report.events} anchored events, "
        f"{report.pending} pending"
    )
    return 0
