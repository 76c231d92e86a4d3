"""``farmtrace wallet``: create, show, export and import a holder's key; list its coupons,
transfer one and produce the redeem statement a farm scans (docs/wallet.md); and the coupon
market (docs/commerce.md, "Market"): list a coupon at a price, withdraw a listing, offer to buy
one, see the offers received and sell to a buyer who offered."""

from __future__ import annotations

import argparse
import base64
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from farmtrace.commerce.canonical import MAX_INT
from farmtrace.commerce.entries import parse_address
from farmtrace.commerce.errors import CommerceError
from farmtrace.commerce.gcn import parse_coupon_id
from farmtrace.commerce.listing import list_statement, offer_statement, withdraw_statement
from farmtrace.commerce.units import validate_currency
from farmtrace.qr import qr_png, qr_svg, qr_terminal
from farmtrace.store.errors import KeyFileError
from farmtrace.store.keys import write_private_file
from farmtrace.wallet.client import ApiClient, ApiRefused, check_api_url
from farmtrace.wallet.keyfile import (
    ENV_FILE,
    WalletError,
    address_of,
    default_path,
    load_key,
    parse_seed,
    save_key,
    seed_hex,
)
from farmtrace.wallet.statements import (
    CouponHead,
    encode,
    parse_coupon_view,
    sign_redeem,
    sign_transfer,
)

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_REFUSED", "register", "run"]

EXIT_OK, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2
ENV_API = "FARMTRACE_API"

EXIT_CODES = """\
exit codes:
  0  done
  1  refused: the API refused the request (409: the coupon's state was spent or changed first,
     the message names its current head; 404: unknown coupon; 422: malformed), or the coupon
     is not held by this wallet or no longer active
  2  could not run: bad arguments, the key file missing, readable by others or malformed, a
     file that exists without --force, the API unreachable or not answering as the API
"""

EXPORT_WARNING = """\
WARNING: this is the private key of wallet address
  {address}
Whoever holds it owns every coupon of that address and can transfer or redeem them; nobody can
undo that. Keep it offline (paper, an encrypted backup) and never send it to anyone, a farm
included. Restore it with: farmtrace wallet import FILE
"""

REDEEM_NOTE = """\
Show this to the farm at pickup; it is worth the coupon until the farm confirms it, so show it
to no one else. It is valid while coupon {coupon} stays at state {state}: a transfer made
after it makes it void.
"""


def _key_file(args: argparse.Namespace) -> Path:
    return Path(args.file).expanduser() if args.file else default_path()


def _api(args: argparse.Namespace) -> ApiClient:
    url = args.api or os.environ.get(ENV_API)
    if not url:
        raise WalletError(f"--api URL is required (or set ${ENV_API}), e.g. http://127.0.0.1:8000")
    return ApiClient(check_api_url(url))


def _coupon(value: str) -> str:
    try:
        parse_coupon_id(value)
    except CommerceError as exc:
        raise WalletError(f"COUPON {value!r}: {exc}") from None
    return value


def _price(raw: list[str] | None) -> tuple[int, str] | None:
    if raw is None:
        return None
    amount, currency = raw
    if not amount.isascii() or not amount.isdigit() or int(amount) > MAX_INT:
        raise WalletError(
            f"--price: amount {amount!r} must be a whole number of minor units "
            f"(4500 CNY is 45.00 yuan), 0 to {MAX_INT}"
        )
    try:
        return int(amount), validate_currency(currency, "--price: currency")
    except CommerceError as exc:
        raise WalletError(str(exc)) from None


def _write_out(path: Path, data: str | bytes, force: bool) -> None:
    """Write ``data`` to ``path``, mode 0600 (what the wallet writes is worth coupons)."""
    try:
        write_private_file(path, data, exclusive=not force)
    except KeyFileError as exc:
        hint = "; replace it with --force" if path.exists() else ""
        raise WalletError(f"--out: {exc}{hint}") from None


# -- actions -----------------------------------------------------------------------------------


def _create(args: argparse.Namespace) -> int:
    path = _key_file(args)
    key = Ed25519PrivateKey.generate()
    save_key(path, key, force=args.force)
    print(address_of(key))
    print(
        f"wallet key written to {path} (mode 0600); back it up: farmtrace wallet export",
        file=sys.stderr,
    )
    return EXIT_OK


def _address(args: argparse.Namespace) -> int:
    address = address_of(load_key(_key_file(args)))
    print(address)
    if args.qr:
        qr_terminal(address, sys.stdout)
    return EXIT_OK


COUPON_COLUMNS = ("coupon", "status", "moves", "state")
LIST_LIMIT = 500  # the most coupons GET /v1/coupons lists in one answer


def _coupon_rows(answer: Any) -> list[tuple[str, ...]]:
    """``(coupon, status, moves, state)`` of each coupon the API listed."""
    if not isinstance(answer, list):
        raise WalletError("the API's list of coupons is not a JSON list")
    rows = []
    for item in answer:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str | int) for k in COUPON_COLUMNS
        ):
            raise WalletError(f"the API listed a coupon without {', '.join(COUPON_COLUMNS)}")
        rows.append(tuple(str(item[k]) for k in COUPON_COLUMNS))
    return rows


def _coupons(args: argparse.Namespace) -> int:
    address = address_of(load_key(_key_file(args)))
    answer = _api(args).get("/v1/coupons", holder=address, limit=str(LIST_LIMIT))
    rows = _coupon_rows(answer)
    if not rows:
        print(f"no coupons held by {address}", file=sys.stderr)
        return EXIT_OK
    table = [tuple(c.upper() for c in COUPON_COLUMNS), *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COUPON_COLUMNS))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    if len(rows) >= LIST_LIMIT:
        print(f"(the API lists at most {LIST_LIMIT} coupons; more may be held)", file=sys.stderr)
    return EXIT_OK


def _head(client: ApiClient, coupon: str) -> CouponHead:
    try:
        return parse_coupon_view(coupon, client.get(f"/v1/coupons/{coupon}"))
    except ApiRefused as exc:
        raise ApiRefused(exc.status, f"coupon {coupon}: {exc}") from None


def _transfer(args: argparse.Namespace) -> int:
    coupon = _coupon(args.coupon)
    try:
        to = parse_address(args.to.strip().lower(), "--to").hex()
    except CommerceError as exc:
        raise WalletError(str(exc)) from None
    price = _price(args.price)
    key = load_key(_key_file(args))
    client = _api(args)
    statement = sign_transfer(_head(client, coupon), key, to, price)
    try:
        answer = client.post(f"/v1/coupons/{coupon}/transfers", {"statement": encode(statement)})
    except ApiRefused as exc:
        raise ApiRefused(
            exc.status, f"the API refused the transfer (HTTP {exc.status}): {exc}"
        ) from None
    state = answer.get("state") if isinstance(answer, dict) else None
    moves = answer.get("moves") if isinstance(answer, dict) else None
    if state != statement.state:
        raise WalletError(
            f"the API accepted the transfer but answered state {state!r}, "
            f"not the statement's {statement.state}"
        )
    print(f"coupon {coupon} now held by {to}")
    print(f"state: {state}")
    print(f"moves: {moves}")
    return EXIT_OK


def _redeem(args: argparse.Namespace) -> int:
    coupon = _coupon(args.coupon)
    key = load_key(_key_file(args))
    head = _head(_api(args), coupon)
    text = encode(sign_redeem(head, key))
    if args.out is not None:
        suffix = args.out.suffix.lower()
        data = (
            qr_png(text) if suffix == ".png" else qr_svg(text) if suffix == ".svg" else text + "\n"
        )
        _write_out(args.out, data, args.force)
        print(f"redeem statement written to {args.out} (mode 0600)", file=sys.stderr)
    else:
        print(text)
    if args.qr:
        qr_terminal(text, sys.stdout)
    print(REDEEM_NOTE.format(coupon=coupon, state=head.state), end="", file=sys.stderr)
    return EXIT_OK


# -- the coupon market -------------------------------------------------------------------------


def _signature(key: Ed25519PrivateKey, signed: bytes) -> str:
    return base64.b64encode(key.sign(signed)).decode("ascii")


def _market_post(client: ApiClient, path: str, body: dict[str, Any], what: str) -> Any:
    try:
        return client.post(path, body)
    except ApiRefused as exc:
        raise ApiRefused(
            exc.status, f"the API refused the {what} (HTTP {exc.status}): {exc}"
        ) from None


def _listing_id(value: str) -> str:
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise WalletError(f"LISTING {value!r}: expected the listing's ID, 32 lowercase hex digits")
    return value


def _list(args: argparse.Namespace) -> int:
    coupon = _coupon(args.coupon)
    price = _price(args.price)
    assert price is not None  # --price is required
    key = load_key(_key_file(args))
    client = _api(args)
    head = _head(client, coupon)
    seller = address_of(key)
    if head.holder != seller:
        raise WalletError(f"cannot list coupon {coupon}: it is held by {head.holder}", code=1)
    now = int(time.time() * 1000)
    signed = list_statement(coupon, head.state, seller, price[0], price[1], now)
    body = {
        "state": head.state,
        "seller": seller,
        "price": {"amount": price[0], "currency": price[1]},
        "time_ms": now,
        "signature": _signature(key, signed),
    }
    answer = _market_post(client, f"/v1/coupons/{coupon}/listings", body, "listing")
    print(f"listing {answer.get('id') if isinstance(answer, dict) else '?'}")
    print(f"coupon {coupon} at {price[0]} {price[1]} (minor units), state {head.state}")
    return EXIT_OK


def _withdraw(args: argparse.Namespace) -> int:
    listing = _listing_id(args.listing)
    key = load_key(_key_file(args))
    now = int(time.time() * 1000)
    body = {"time_ms": now, "signature": _signature(key, withdraw_statement(listing, now))}
    _market_post(_api(args), f"/v1/listings/{listing}/withdraw", body, "withdrawal")
    print(f"listing {listing} withdrawn")
    return EXIT_OK


def _offer(args: argparse.Namespace) -> int:
    listing = _listing_id(args.listing)
    key = load_key(_key_file(args))
    buyer = address_of(key)
    now = int(time.time() * 1000)
    signed = offer_statement(listing, buyer, now)
    body = {"buyer": buyer, "time_ms": now, "signature": _signature(key, signed)}
    _market_post(_api(args), f"/v1/listings/{listing}/offers", body, "offer")
    print(f"offer to buy listing {listing} recorded for {buyer}")
    print("agree on payment with the seller; they transfer the coupon to this address")
    return EXIT_OK


def _offers(args: argparse.Namespace) -> int:
    address = address_of(load_key(_key_file(args)))
    answer = _api(args).get("/v1/listings", address=address)
    if not isinstance(answer, dict):
        raise WalletError("the API's market view is not a JSON object")
    selling, offered = answer.get("selling") or [], answer.get("offered") or []
    for item in selling:
        state = item.get("ended") or "open"
        price = item.get("price") or {}
        print(
            f"selling {item.get('id')}  {item.get('coupon')}  "
            f"{price.get('amount')} {price.get('currency')}  {state}"
        )
        for offer in item.get("offers") or []:
            print(f"  offer from {offer.get('buyer')}")
    for item in offered:
        state = item.get("ended") or "open"
        price = item.get("price") or {}
        print(
            f"offered {item.get('id')}  {item.get('coupon')}  "
            f"{price.get('amount')} {price.get('currency')}  {state}"
        )
    if not selling and not offered:
        print(f"no listings or offers for {address}", file=sys.stderr)
    return EXIT_OK


def _sell(args: argparse.Namespace) -> int:
    listing_id = _listing_id(args.listing)
    try:
        to = parse_address(args.to.strip().lower(), "--to").hex()
    except CommerceError as exc:
        raise WalletError(str(exc)) from None
    key = load_key(_key_file(args))
    client = _api(args)
    try:
        listing = client.get(f"/v1/listings/{listing_id}")
    except ApiRefused as exc:
        raise ApiRefused(exc.status, f"listing {listing_id}: {exc}") from None
    if not isinstance(listing, dict) or not isinstance(listing.get("price"), dict):
        raise WalletError(f"the API's view of listing {listing_id} is malformed")
    if listing.get("ended"):
        raise WalletError(f"listing {listing_id} has ended ({listing['ended']})", code=1)
    if to not in {o.get("buyer") for o in listing.get("offers") or []}:
        raise WalletError(f"{to} has not offered on listing {listing_id}", code=1)
    coupon = _coupon(str(listing.get("coupon")))
    price = (int(listing["price"]["amount"]), str(listing["price"]["currency"]))
    statement = sign_transfer(_head(client, coupon), key, to, price)
    _market_post(
        client, f"/v1/coupons/{coupon}/transfers", {"statement": encode(statement)}, "transfer"
    )
    print(f"coupon {coupon} sold to {to} at {price[0]} {price[1]} (minor units)")
    print(f"state: {statement.state}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    key = load_key(_key_file(args))
    print(EXPORT_WARNING.format(address=address_of(key)), end="", file=sys.stderr)
    if args.out is not None:
        _write_out(args.out, seed_hex(key) + "\n", args.force)
        print(f"key written to {args.out} (mode 0600)", file=sys.stderr)
    else:
        print(seed_hex(key))
    return EXIT_OK


def _read_import(source: str) -> str:
    if source == "-":
        return sys.stdin.read()
    path = Path(source).expanduser()
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode) and mode & 0o077:
            print(
                f"note: {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
                "whoever read it can spend your coupons. Delete it once imported.",
                file=sys.stderr,
            )
        return path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        return ""
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from None


def _import(args: argparse.Namespace) -> int:
    key = parse_seed(_read_import(args.source), "stdin" if args.source == "-" else args.source)
    path = _key_file(args)
    if not args.force and path.exists():
        try:
            same = seed_hex(load_key(path)) == seed_hex(key)
        except WalletError:
            same = False
        if same:
            print(address_of(key))
            print(f"{path} already holds this key", file=sys.stderr)
            return EXIT_OK
    save_key(path, key, force=args.force)
    print(address_of(key))
    print(f"wallet key written to {path} (mode 0600)", file=sys.stderr)
    return EXIT_OK


# -- the command line --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run a wallet action; a :class:`WalletError` becomes its message on stderr and its exit
    code, never a traceback."""
    try:
        code: int = args.wallet_func(args)
    except WalletError as exc:
        print(f"farmtrace wallet: {exc}", file=sys.stderr)
        return exc.code
    return code


def register(sub: Any) -> None:
    """Add ``wallet`` to the ``farmtrace`` command."""
    wallet = sub.add_parser(
        "wallet",
        help="a coupon holder's key: address, coupons, transfers, redeem statements",
        description="A wallet is one Ed25519 key in a file of mode 0600 (--file, default "
        f"${ENV_FILE} or ~/.farmtrace/wallet.key); its address (the public key in hex) is what "
        "coupons name as their holder. Holder actions need only this key's signature. "
        "See docs/wallet.md.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = wallet.add_subparsers(dest="wallet_command", metavar="ACTION", required=True)

    key_file = argparse.ArgumentParser(add_help=False)
    key_file.add_argument(
        "--file",
        metavar="PATH",
        help=f"the wallet's key file (default: ${ENV_FILE}, else ~/.farmtrace/wallet.key)",
    )
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument("--api", metavar="URL", help=f"the API's base URL (default: ${ENV_API})")
    force = argparse.ArgumentParser(add_help=False)
    force.add_argument("--force", action="store_true", help="replace an existing file")

    def action(name: str, func: Any, parents: list[argparse.ArgumentParser], **kw: Any) -> Any:
        parser = actions.add_parser(
            name,
            parents=parents,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kw,
        )
        parser.set_defaults(func=run, wallet_func=func)
        return parser

    action(
        "create",
        _create,
        [key_file, force],
        help="make a new key (mode 0600) and print its address",
        description="Make a new Ed25519 key, write it to the key file (mode 0600, written whole "
        "then renamed into place; an existing file is kept unless --force) and print its "
        "address. Back it up with 'farmtrace wallet export'.",
    )
    address = action(
        "address",
        _address,
        [key_file],
        help="print the wallet's address (and its QR code)",
        description="Print the address coupons are sent to: the raw Ed25519 public key as 64 "
        "lowercase hex digits.",
    )
    address.add_argument("--qr", action="store_true", help="also print it as a QR code")
    action(
        "coupons",
        _coupons,
        [key_file, api],
        help="list the coupons this wallet holds",
        description="List the coupons held by this wallet's address (GET /v1/coupons?holder=), "
        "with their status, moves and state (the head a transfer or redeem statement names).",
    )
    transfer = action(
        "transfer",
        _transfer,
        [key_file, api],
        help="send a coupon to another address",
        description="Fetch the coupon's head state and move count, check this wallet holds it, "
        "sign a transfer statement to ADDRESS and post it. If another statement spent that "
        "state first the API answers 409 naming the current head; nothing changes (exit 1).",
    )
    transfer.add_argument("coupon", metavar="COUPON", help="the coupon ID (GCN and serial)")
    transfer.add_argument("--to", required=True, metavar="ADDRESS", help="the new holder")
    transfer.add_argument(
        "--price",
        nargs=2,
        metavar=("AMOUNT", "CURRENCY"),
        help="declare the price paid, in minor units and an ISO 4217 code (4500 CNY); "
        "farmtrace moves no money, it records the declaration",
    )
    redeem = action(
        "redeem",
        _redeem,
        [key_file, api, force],
        help="produce the signed redeem statement a farm scans at pickup",
        description="Fetch the coupon's head, check this wallet holds it and sign a redeem "
        "statement; print it as base64 text (and --qr as a QR code) for the farm to scan and "
        "confirm. Nothing is sent: the farm posts it when it hands over the goods.",
    )
    redeem.add_argument("coupon", metavar="COUPON", help="the coupon ID (GCN and serial)")
    redeem.add_argument("--qr", action="store_true", help="also print it as a QR code")
    redeem.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="write it to FILE instead of printing the text (mode 0600): a QR image for .png "
        "or .svg, else the base64 text",
    )
    listed = action(
        "list",
        _list,
        [key_file, api],
        help="list a coupon on the market at a price",
        description="Sign a listing of the coupon in its current state at a price and post it "
        "(docs/commerce.md, Market). Buyers offer with their address; payment is arranged "
        "outside farmtrace; the listing ends when the coupon moves.",
    )
    listed.add_argument("coupon", metavar="COUPON", help="the coupon ID (GCN and serial)")
    listed.add_argument(
        "--price",
        nargs=2,
        required=True,
        metavar=("AMOUNT", "CURRENCY"),
        help="minor units and the campaign's ISO 4217 code (4800 CNY is 48.00 yuan)",
    )
    withdrawn = action(
        "withdraw",
        _withdraw,
        [key_file, api],
        help="withdraw one of this wallet's listings",
        description="Sign and post the withdrawal of a listing this wallet made.",
    )
    withdrawn.add_argument("listing", metavar="LISTING", help="the listing's ID (32 hex)")
    offer = action(
        "offer",
        _offer,
        [key_file, api],
        help="ask to buy a listed coupon with this wallet's address",
        description="Sign and post a request to buy a listing; the seller sees this wallet's "
        "address (nothing else) and may transfer the coupon to it once payment is agreed.",
    )
    offer.add_argument("listing", metavar="LISTING", help="the listing's ID (32 hex)")
    action(
        "offers",
        _offers,
        [key_file, api],
        help="show this wallet's listings, the offers they received, and its own offers",
        description="List this wallet's listings with the buyers who offered on each, and the "
        "listings this wallet offered on (GET /v1/listings?address=).",
    )
    sell = action(
        "sell",
        _sell,
        [key_file, api],
        help="sell a listed coupon to a buyer who offered",
        description="Transfer the listing's coupon to --to (a buyer who offered on it), "
        "declaring the listed price; the listing then ends as sold. Do it once paid.",
    )
    sell.add_argument("listing", metavar="LISTING", help="the listing's ID (32 hex)")
    sell.add_argument("--to", required=True, metavar="ADDRESS", help="the buyer's address")
    export = action(
        "export",
        _export,
        [key_file, force],
        help="print the private key (hex seed) for a backup",
        description="Print the wallet's private key as 64 hex digits (its seed), or write it to "
        "--out FILE (mode 0600). Whoever holds it owns the wallet's coupons.",
    )
    export.add_argument("--out", type=Path, metavar="FILE", help="write the key to FILE")
    imported = action(
        "import",
        _import,
        [key_file, force],
        help="install a key from an export",
        description="Read a key exported by 'farmtrace wallet export' (64 hex digits) from FILE "
        "('-': standard input) and write it to the key file (mode 0600); an existing different "
        "key is kept unless --force.",
    )
    imported.add_argument("source", metavar="FILE", help="the exported key, or - for stdin")
