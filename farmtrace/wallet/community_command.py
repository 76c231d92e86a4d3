"""``farmtrace community``: a value community's operator and members at the command line, over
the API (``docs/community.md``, ``docs/api.md``).

The operator founds a community from a rules file and records deposits, services, work hours
and surplus distributions (the API computes every mint with the rules and signs the entry with
the community's operator key); the operator's API key (scope ``community:write``) is read from
the environment, ``FARMTRACE_API_KEY``, never from the command line (it would show in the
process list and the shell history). A member downloads their statement: balance, how each
token was earned, sent or received, their part of each distribution, and the statement bundle
that ``farmtrace verify`` checks offline; and sends tokens with a transfer signed by their wallet
key (the same wallet as coupons, ``farmtrace wallet``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmtrace.commerce.community.entries import sign_transfer
from farmtrace.commerce.errors import CommerceError
from farmtrace.wallet.client import ApiClient, ApiRefused, check_api_url
from farmtrace.wallet.keyfile import ENV_FILE, WalletError, address_of, default_path, load_key

__all__ = ["register", "run"]

ENV_API = "FARMTRACE_API"
ENV_KEY = "FARMTRACE_API_KEY"
DEFAULT_API = "http://127.0.0.1:8000"

EXIT_CODES = """\
exit codes:
  0  done
  1  refused by the API: 422 (the detail names the field or the rule: a negative deposit, an
     unknown rule kind, an allocation that does not sum to the supply...), 404 (unknown
     community or member), 409 (a state already spent, a community that exists), 401/403 (no
     key with scope community:write in FARMTRACE_API_KEY)
  2  could not run: bad arguments, an unreadable rules file, the API unreachable
"""


@dataclass(frozen=True)
class _Client(ApiClient):
    """The wallet's API client, sending the operator's key with each request when given."""

    token: str | None = None

    def post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        return self._call(request)


def _client(args: argparse.Namespace) -> _Client:
    base = check_api_url(args.api or os.environ.get(ENV_API) or DEFAULT_API)
    return _Client(base, token=os.environ.get(ENV_KEY) or None)


def _community(args: argparse.Namespace, client: _Client) -> str:
    """``--community``, or the API's only community."""
    if args.community:
        return str(args.community)
    found = [c["community"] for c in client.get("/v1/communities")]
    if len(found) == 1:
        return str(found[0])
    if not found:
        raise WalletError(f"{client.base} holds no community yet (farmtrace community create)")
    raise WalletError(f"name the community with --community: {', '.join(found)}")


def _recorded(answer: dict[str, Any]) -> None:
    minted = answer.get("minted", 0)
    print(
        f"entry {answer['n']} ({answer['op']}) of community {answer['community']}: "
        f"{minted} tokens minted, supply {answer['supply']}, {answer['holders']} holders; "
        f"hash {answer['hash']} (pending anchoring until the gateway's next block)"
    )


def _create(args: argparse.Namespace) -> int:
    try:
        rules = json.loads(Path(args.rules).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise WalletError(
            f"--rules {args.rules}: cannot read a JSON rules document: {exc}"
        ) from None
    client = _client(args)
    found = client.post("/v1/communities", rules)
    print(
        f"community {found['community']} founded: {found['token']} ({found['symbol']}), "
        f"supply {found['supply']}, {found['members']} members, rules version "
        f"{found['rules_version']} (sha256 {found['rules_sha256']}); operator key "
        f"{found['operator_key']}"
    )
    return 0


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> int:
    client = _client(args)
    community = _community(args, client)
    _recorded(client.post(f"/v1/communities/{community}/{path}", body))
    return 0


def _deposit(args: argparse.Namespace) -> int:
    body = {"member": args.member, "amount": args.amount, "payment_reference": args.reference}
    return _post(args, "deposits", body)


def _service(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "member": args.member,
        "revenue": args.revenue,
        "reference": args.reference,
    }
    if args.cost is not None:
        body["cost"] = args.cost
    return _post(args, "services", body)


def _work(args: argparse.Namespace) -> int:
    body = {"member": args.member, "minutes": args.minutes, "reference": args.reference}
    return _post(args, "work", body)


def _distribute(args: argparse.Namespace) -> int:
    body = {
        "period": {"from_ms": args.from_ms, "until_ms": args.until_ms},
        "surplus": args.surplus,
    }
    return _post(args, "distributions", body)


def _statement(args: argparse.Namespace) -> int:
    client = _client(args)
    community = _community(args, client)
    base = f"/v1/communities/{community}/members/{args.key}"
    view = client.get(base)
    print(
        f"member {view['fingerprint']} of community {community}: balance {view['balance']}, "
        f"{view['moves']} transfers sent, spend state {view['spend_state']}"
    )
    for line in view["history"]:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(line["detail"].items()))
        print(f"  entry {line['n']} {line['op']}: {line['delta']:+d} tokens ({detail})")
    for part in view["distributions"]:
        print(
            f"  distribution at entry {part['n']} ({part['kind']}): part {part['part']} of "
            f"{part['total']}"
        )
    bundle = client.get(base + "/statement")
    out = Path(args.out) if args.out else Path(f"community-{community}-{view['fingerprint']}.json")
    try:
        out.write_text(json.dumps(bundle, indent=1) + "\n", "utf-8")
    except OSError as exc:
        raise WalletError(f"--out {out}: cannot write: {exc.strerror}") from None
    pending = sum(1 for e in bundle["entries"] if e["status"] != "anchored")
    print(
        f"statement bundle written to {out} ({len(bundle['entries'])} entries, {pending} "
        f"pending anchoring); check it offline: farmtrace verify {out} --key VKEY"
    )
    return 0


def _transfer(args: argparse.Namespace) -> int:
    """Sign a transfer with the wallet's key, from its current spend state, and send it."""
    key = load_key(Path(args.file).expanduser() if args.file else default_path())
    sender = address_of(key)
    client = _client(args)
    community = _community(args, client)
    view = client.get(f"/v1/communities/{community}/members/{sender}")
    try:
        statement = sign_transfer(
            view["moves"] + 1,
            int(time.time() * 1000),
            community,
            args.to,
            args.amount,
            view["spend_state"],
            key,
        )
    except CommerceError as exc:
        raise WalletError(f"transfer: {exc}") from None
    encoded = base64.b64encode(statement.payload).decode("ascii")
    _recorded(client.post(f"/v1/communities/{community}/transfers", {"statement": encoded}))
    print(f"your spend state is now {statement.hash}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run a ``farmtrace community`` subcommand; its exit code."""
    try:
        code: int = args.action(args)
        return code
    except ApiRefused as exc:
        print(f"refused (HTTP {exc.status}): {exc}", file=sys.stderr)
        return 1
    except WalletError as exc:
        print(f"farmtrace community: {exc}", file=sys.stderr)
        return exc.code


def register(sub: Any) -> None:
    """Add ``community`` to the ``farmtrace`` command."""
    parser = sub.add_parser(
        "community",
        help="a value community over the API: found, record, distribute, member statements",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="community_command", metavar="ACTION", required=True)

    def action(name: str, help_text: str, func: Any, community: bool = True) -> Any:
        p = actions.add_parser(name, help=help_text, description=help_text, epilog=EXIT_CODES)
        p.add_argument("--api", help=f"the API's base URL (default ${ENV_API} or {DEFAULT_API})")
        if community:
            p.add_argument(
                "--community", help="the community ID (default: the API's only community)"
            )
        p.set_defaults(func=run, action=func)
        return p

    create = action(
        "create", "found a community from its rules document (version 1)", _create, False
    )
    create.add_argument("--rules", required=True, help="the rules file (docs/communities/)")

    deposit = action("deposit", "record a member's deposit (consumption mining)", _deposit)
    deposit.add_argument("--member", required=True, help="the member's address (64 hex)")
    deposit.add_argument("--amount", required=True, type=int, help="minor units deposited")
    deposit.add_argument("--reference", required=True, help="the payment reference (hashed)")

    service = action("service", "record a service a member performed (service mining)", _service)
    service.add_argument("--member", required=True, help="the professional's address")
    service.add_argument("--revenue", required=True, type=int, help="minor units")
    service.add_argument("--cost", type=int, help="minor units (default: the rules' margin)")
    service.add_argument("--reference", required=True, help="the service record (hashed)")

    work = action("work", "record a member's work hours", _work)
    work.add_argument("--member", required=True, help="the worker's address")
    work.add_argument("--minutes", required=True, type=int)
    work.add_argument("--reference", required=True, help="the rota or timesheet (hashed)")

    distribute = action(
        "distribute", "share a period's surplus pro rata to the holders", _distribute
    )
    distribute.add_argument("--surplus", required=True, type=int, help="minor units")
    distribute.add_argument("--from-ms", required=True, type=int, help="period start (ms)")
    distribute.add_argument("--until-ms", required=True, type=int, help="period end (ms)")

    transfer = action(
        "transfer", "send tokens from this wallet: a statement signed with its key", _transfer
    )
    transfer.add_argument("--to", required=True, help="the receiver's address (64 hex)")
    transfer.add_argument("--amount", required=True, type=int, help="tokens")
    transfer.add_argument(
        "--file",
        metavar="PATH",
        help=f"the wallet's key file (default: ${ENV_FILE}, else ~/.farmtrace/wallet.key)",
    )

    statement = action(
        "statement",
        "a member's balance and history, and their statement bundle for farmtrace verify",
        _statement,
    )
    statement.add_argument("--key", required=True, help="the member's address (64 hex)")
    statement.add_argument(
        "--out", help="where to write the bundle (default community-ID-FINGERPRINT.json)"
    )
