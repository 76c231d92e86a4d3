"""``farmtrace bench coupons``: holder-signed coupon transfers accepted per second, and how long
an accepted transfer waits for its block.

1. A database (SQLite in the work directory, or ``--db``) with ``--coupons`` coupons stored:
   one declared lot, campaigns of :data:`PLEDGES_PER_CAMPAIGN` pledges of ``--per-pledge``
   coupons each, every pledge confirmed through the campaign service in this process (no HTTP:
   the setup is not measured). Each pledge's coupons belong to one holder key, derived from
   the pledge's number, so the bench can sign for them.
2. ``farmtrace api --workers N`` as a process (its rate limit lifted), and ``--clients`` client
   threads, each owning the keys of whole pledges: before a run, each client signs one transfer
   of each coupon it will spend (move 1, spending the issue state it knows, each to a new
   address, so that no check of an address is ever served from a cache) and encodes the request bodies, so the timed loop only posts them over one
   keep-alive ``http.client`` connection. A run lasts ``--seconds`` or ``--transfers`` in
   total; every run spends coupons no earlier run touched, so no spend is stale and a 409
   means something is wrong. Reported per run and over ``--repeats`` runs (min/median/max):
   accepted transfers per second, latency p50/p99/max (request sent → answer read, accepted
   transfers only), 409s and other answers, and the CPU seconds of the API process and its
   workers (from ``/proc``) and of the clients, so a shared machine's figures read per core.
3. Accepted → anchored (``--anchored`` K, 0 skips it): Mosquitto and ``farmtrace gateway`` are
   started with no sensor traffic; the backlog queued so far (every issue entry and transfer
   of step 2) is sealed first and its drain time reported; then ``--repeats`` rounds of K
   transfers, and one round of ``--confirmations`` pledge confirmations (campaign entries),
   are timed from the API's 201 to the entry's first sight in a committed block, by
   :func:`farmtrace.bench.anchoring.measure_round`.

Nothing is asserted on the figures; the exit status is 1 when a transfer was refused or an
entry was not anchored.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmtrace.bench.anchoring import (
    Accepted,
    AnchorWatch,
    ApiClient,
    PostEntry,
    Round,
    measure_round,
)
from farmtrace.bench.ingest_broker import free_port, start_broker
from farmtrace.gateway.ingest.cpu import tree_cpu_seconds

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["Holding", "register", "run"]

GTIN = "09506000134352"
PLEDGES_PER_CAMPAIGN = 10
DAY_MS = 86_400_000
WRITE_SCOPES = ["campaigns:write"]
START_TIMEOUT_S = 120.0


@dataclass
class Holding:
    """The coupons of one pledge: their IDs and issue state, and the holder's key."""

    key: Ed25519PrivateKey
    coupons: list[str]
    state: str


@dataclass
class RunResult:
    """One timed run of the clients."""

    seconds: float
    accepted: int = 0
    conflicts: int = 0
    other: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    api_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    first_refusal: str | None = None

    def as_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def ms(q: float) -> float | None:  # nearest rank
            if not ordered:
                return None
            index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
            return round(ordered[index] * 1000, 2)

        rate = self.accepted / self.seconds if self.seconds > 0 else 0.0
        return {
            "seconds": round(self.seconds, 3),
            "accepted": self.accepted,
            "transfers_per_s": round(rate, 1),
            "p50_ms": ms(0.5),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "conflicts_409": self.conflicts,
            "other_answers": self.other,
            "first_refusal": self.first_refusal,
            "api_cpu_s": round(self.api_cpu_s, 2),
            "api_cores_busy": round(self.api_cpu_s / self.seconds, 2) if self.seconds else None,
            "api_cpu_ms_per_transfer": (
                round(self.api_cpu_s / self.accepted * 1000, 3) if self.accepted else None
            ),
            "client_cpu_s": round(self.client_cpu_s, 2),
        }


def _holder_key(n: int) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = hashlib.sha256(f"farmtrace-bench/coupons-holder-{n}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def _address(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes_raw().hex()


def _gcn(prefix: str, n: int) -> str:
    from farmtrace.commerce.gcn import check_digit

    body = f"{prefix}{n:03d}"
    return body + check_digit(body)


def _terms(gcn: str, lot: str, cap: int) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {
        "campaign": gcn,
        "farm": "benchfarm",
        "gtin": GTIN,
        "lot": lot,
        "per_coupon": {"quantity": 1, "unit": "KGM"},
        "price": {"amount": 100, "currency": "EUR"},
        "target": 1,
        "cap": cap,
        "opens_ms": now - DAY_MS,
        "deadline_ms": now + DAY_MS,
        "delivery": {"from_ms": now + 2 * DAY_MS, "until_ms": now + 3 * DAY_MS},
        "text": {"zh": "一公斤。", "en": "One kilogram."},
    }


def prepare(
    db_url: str, state: Path, coupons: int, per_pledge: int
) -> tuple[list[Holding], str, str]:
    """Store ``coupons`` coupons through the campaign service; the holdings, the GCN of a
    spare open campaign (for timed confirmations) and the lot."""
    from farmtrace.api.schemas.lots import LotCreate
    from farmtrace.api.settings import Settings
    from farmtrace.api.state import AppState
    from farmtrace.bench.anchoring import _lot_body
    from farmtrace.commerce.gcn import coupon_id

    lot = f"CPN-{time.time_ns() // 1000 % 10**12}"
    prefix = f"95060{time.time_ns() // 10**6 % 10**4:04d}"
    app = AppState.open(Settings(db_url=db_url, state_dir=state))
    holdings: list[Holding] = []
    try:
        app.lots.create(LotCreate.model_validate(_lot_body(lot, ["bench-coupons-1"])), GTIN)
        pledge_counts = [per_pledge] * (coupons // per_pledge)
        if coupons % per_pledge:
            pledge_counts.append(coupons % per_pledge)
        campaign = 0
        for start in range(0, len(pledge_counts), PLEDGES_PER_CAMPAIGN):
            counts = pledge_counts[start : start + PLEDGES_PER_CAMPAIGN]
            campaign += 1
            gcn = _gcn(prefix, campaign)
            app.campaigns.create(_terms(gcn, lot, sum(counts)))
            first = 1
            for offset, count in enumerate(counts):
                key = _holder_key(start + offset)
                pledge = app.campaigns.pledge(gcn, _address(key), count, None, None)
                _, change = app.campaigns.confirm(gcn, pledge.id, f"bench-{start + offset}")
                ids = [coupon_id(gcn, s) for s in range(first, first + count)]
                holdings.append(Holding(key, ids, change.state))
                first += count
        spare = _gcn(prefix, campaign + 1)
        app.campaigns.create(_terms(spare, lot, 100_000))
        # The issue entry's state is what the first transfer spends: checked once here.
        _, record = app.campaigns.coupon(holdings[0].coupons[0])
        if record.state != holdings[0].state:
            raise RuntimeError(
                f"coupon {holdings[0].coupons[0]}: stored state {record.state} is not the "
                f"issue entry's {holdings[0].state}"
            )
    finally:
        app.close()
    return holdings, spare, lot


def _new_address() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return _address(Ed25519PrivateKey.generate())


def _sign_bodies(coupons: list[tuple[str, str, Ed25519PrivateKey]]) -> list[tuple[str, bytes]]:
    """One encoded transfer request per coupon ``(id, issue state, holder key)``: move 1, to a
    new address each."""
    from farmtrace.commerce.entries import sign_statement

    now = int(time.time() * 1000)
    bodies = []
    for coupon, prev, key in coupons:
        to = _new_address()
        payload = sign_statement(1, now, "transfer", coupon, prev, key, to=to).payload
        body = json.dumps({"statement": base64.b64encode(payload).decode("ascii")}).encode()
        bodies.append((f"/v1/coupons/{coupon}/transfers", body))
    return bodies


class _Client(threading.Thread):
    """Posts its pre-signed transfers one after another until they run out or time is up."""

    def __init__(
        self,
        port: int,
        bodies: list[tuple[str, bytes]],
        start: threading.Barrier,
        until: list[float],
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.bodies, self.start_line, self.until = port, bodies, start, until
        self.latencies: list[float] = []
        self.conflicts = 0
        self.other: dict[str, int] = {}
        self.first_refusal: str | None = None
        self.failure: BaseException | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        try:
            self.start_line.wait()
            for path, body in self.bodies:
                if time.monotonic() >= self.until[0]:
                    break
                sent = time.perf_counter()
                conn.request("POST", path, body, headers)
                answer = conn.getresponse()
                data = answer.read()
                took = time.perf_counter() - sent
                if answer.status == 201:
                    self.latencies.append(took)
                    continue
                if answer.status == 409:
                    self.conflicts += 1
                else:
                    self.other[str(answer.status)] = self.other.get(str(answer.status), 0) + 1
                if self.first_refusal is None:
                    self.first_refusal = f"{answer.status} {data[:300].decode('utf-8', 'replace')}"
        except BaseException as exc:  # reported by the caller
            self.failure = exc
        finally:
            conn.close()


def _timed_run(
    port: int, api_pid: int, per_client: list[list[tuple[str, bytes]]], seconds: float | None
) -> RunResult:
    start = threading.Barrier(len(per_client) + 1)
    until = [float("inf")]
    clients = [_Client(port, bodies, start, until) for bodies in per_client]
    for client in clients:
        client.start()
    cpu_api, cpu_here = tree_cpu_seconds(api_pid), time.process_time()
    began = time.monotonic()
    if seconds is not None:
        until[0] = began + seconds
    start.wait()
    for client in clients:
        client.join()
    took = time.monotonic() - began
    result = RunResult(
        seconds=took,
        api_cpu_s=tree_cpu_seconds(api_pid) - cpu_api,
        client_cpu_s=time.process_time() - cpu_here,
    )
    for client in clients:
        if client.failure is not None:
            raise RuntimeError(f"a client failed: {client.failure!r}")
        result.latencies += client.latencies
        result.conflicts += client.conflicts
        for status, count in client.other.items():
            result.other[status] = result.other.get(status, 0) + count
        result.first_refusal = result.first_refusal or client.first_refusal
    result.accepted = len(result.latencies)
    return result


def _start(
    command: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "farmtrace", *command],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )


def _wait(condition: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text("utf-8", "replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not happen within {timeout:g} s; {log}:\n{tail}")
        time.sleep(0.1)


def _api_up(port: int) -> bool:
    try:
        status, _ = ApiClient(port).call("GET", "/v1/chains")
    except OSError:
        return False
    return status == 200


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def run(where: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Set up, measure throughput then accepted → anchored, stop everything; the result."""
    from farmtrace.api.auth import create_key
    from farmtrace.store.database import open_database

    db_url = args.db or f"sqlite:///{where / 'coupons.db'}"
    began = time.monotonic()
    holdings, spare, _ = prepare(db_url, where / "api", args.coupons, args.per_pledge)
    setup_s = time.monotonic() - began
    with open_database(db_url) as database:
        token = create_key(database, f"bench-coupons-{time.time_ns()}", WRITE_SCOPES)

    # Each client owns whole pledges (their holder keys); its coupons in order.
    owned: list[list[tuple[str, str, Ed25519PrivateKey]]] = [[] for _ in range(args.clients)]
    for n, holding in enumerate(holdings):
        owned[n % args.clients] += [(c, holding.state, holding.key) for c in holding.coupons]
    # The anchoring phase spends from the end of each client's coupons; runs from the start.
    reserve = -(-(args.anchored * args.repeats + 1) // args.clients) if args.anchored else 0
    if args.transfers is not None:
        per_run = -(-args.transfers // args.clients)
    else:
        per_run = max(1, (min(len(c) for c in owned) - reserve) // args.repeats)
    if min(len(c) for c in owned) < per_run * args.repeats + reserve:
        raise RuntimeError(
            f"{args.coupons} coupons are too few for {args.repeats} runs of {per_run} transfers "
            f"per client and {reserve} kept for anchoring per client"
        )

    processes: list[subprocess.Popen[bytes]] = []
    runs: list[RunResult] = []
    signing_s: list[float] = []
    anchoring: dict[str, Any] | None = None
    try:
        api_port = free_port()
        api_log = where / "api.log"
        api_process = _start(
            [
                *("api", "--db", db_url, "--port", str(api_port)),
                *("--state", str(where / "api"), "--workers", str(args.workers)),
            ],
            api_log,
            {"FARMTRACE_API_RATE_PER_S": "1000000", "FARMTRACE_API_RATE_BURST": "1000000"},
        )
        processes.append(api_process)
        _wait(lambda: _api_up(api_port), START_TIMEOUT_S, "the API's start", api_log)
        # Warm-up, not measured: each worker's first transfer loads code and connections.
        warm = [_sign_bodies([c.pop()]) for c in owned]
        _timed_run(api_port, api_process.pid, warm, None)
        for r in range(args.repeats):
            signed_at = time.monotonic()
            per_client = [_sign_bodies(c[r * per_run : (r + 1) * per_run]) for c in owned]
            signing_s.append(time.monotonic() - signed_at)
            runs.append(_timed_run(api_port, api_process.pid, per_client, args.seconds))

        if args.anchored:
            anchoring = _anchoring(
                where, db_url, api_port, token, spare, owned, reserve, args, processes
            )
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    if anchoring is not None:
        report = Path(anchoring.pop("gateway_report"))
        anchoring["gateway_blocks"] = (
            json.loads(report.read_text()).get("blocks") if report.exists() else None
        )
    found = [r.as_dict() for r in runs]
    summary: dict[str, Any] = {}
    for figure in ("transfers_per_s", "p50_ms", "p99_ms", "max_ms", "api_cores_busy"):
        summary[figure] = _spread([f[figure] for f in found if f[figure] is not None])
    return {
        "database": "PostgreSQL" if db_url.startswith("postgresql") else "SQLite",
        "coupons": args.coupons,
        "per_pledge": args.per_pledge,
        "setup_s": round(setup_s, 1),
        "workers": args.workers,
        "clients": args.clients,
        "seconds": args.seconds,
        "transfers": args.transfers,
        "repeats": args.repeats,
        "signing_s": [round(s, 2) for s in signing_s],
        "cpus": os.cpu_count(),
        "load_average_after": round(os.getloadavg()[0], 2),
        "runs": found,
        "summary": summary,
        "conflicts_409": sum(r.conflicts for r in runs),
        "other_answers": sum(sum(r.other.values()) for r in runs),
        "anchoring": anchoring,
    }


def _anchoring(
    where: Path,
    db_url: str,
    api_port: int,
    token: str,
    spare: str,
    owned: list[list[tuple[str, str, Ed25519PrivateKey]]],
    reserve: int,
    args: argparse.Namespace,
    processes: list[subprocess.Popen[bytes]],
) -> dict[str, Any]:
    """Start Mosquitto and a gateway, let it seal the backlog, then time transfers and
    confirmations from accepted to anchored."""
    from farmtrace.commerce.entries import (
        decode_campaign_entry,
        sign_statement,
        statement_signer,
    )

    host, port, broker = start_broker(where)
    processes.append(broker)
    gateway_log = where / "gateway.log"
    report = where / "gateway-report.json"
    gateway = _start(
        [
            *("gateway", "--broker", f"mqtt://{host}:{port}", "--db", db_url),
            *("--state", str(where / "gateway"), "--batch-age", str(args.batch_age)),
            *("--report", str(report)),
        ],
        gateway_log,
    )
    processes.append(gateway)
    _wait(
        lambda: (
            "subscribed to" in gateway_log.read_text("utf-8", "replace")
            or gateway.poll() is not None
        ),
        START_TIMEOUT_S,
        "the gateway's subscription",
        gateway_log,
    )
    if gateway.poll() is not None:
        raise RuntimeError(f"the gateway exited: {gateway_log.read_text()[-2000:]}")
    api = ApiClient(api_port, token)
    watch = AnchorWatch(db_url, args.poll).start()
    try:
        # The coupons kept at the end of each client's list, which no run touched.
        spendable = [cs[-1 - k] for k in range(reserve) for cs in owned]

        def transfer_poster() -> PostEntry:
            def post(n: int) -> Accepted:
                coupon, prev, key = spendable.pop(0)
                statement = sign_statement(
                    1, int(time.time() * 1000), "transfer", coupon, prev, key, to=_new_address()
                )
                body = {"statement": base64.b64encode(statement.payload).decode("ascii")}
                status, answer = api.call("POST", f"/v1/coupons/{coupon}/transfers", body)
                at = time.monotonic()
                if status != 201:
                    raise RuntimeError(f"a transfer answered {status}: {str(answer)[:300]}")
                return Accepted((statement_signer(coupon), 1), at)

            return post

        status, view = api.call("GET", f"/v1/campaigns/{spare}")
        if status != 200:
            raise RuntimeError(f"reading campaign {spare} answered {status}")
        farm_signer = str(view["farm_signer"])
        backer = _address(_holder_key(2 * 10**9))
        confirm_answers: list[float] = []  # seconds from sending a confirmation to its answer

        def confirm(n: int) -> Accepted:
            status, pledge = api.call(
                "POST", f"/v1/campaigns/{spare}/pledges", {"holder": backer, "count": 1}
            )
            if status != 201:
                raise RuntimeError(f"a pledge answered {status}: {str(pledge)[:300]}")
            sent = time.monotonic()
            status, issued = api.call(
                "POST",
                f"/v1/campaigns/{spare}/pledges/{pledge['pledge']}/confirm",
                {"payment_reference": f"anchoring-{n}"},
            )
            at = time.monotonic()
            confirm_answers.append(at - sent)
            if status != 200:
                raise RuntimeError(f"a confirmation answered {status}: {str(issued)[:300]}")
            # The entry is queued under the farm's own sequence (one farm signs every campaign
            # of its own), not the campaign's cseq: read it from the issue entry itself.
            status, coupon = api.call("GET", f"/v1/coupons/{issued['coupons'][0]}")
            if status != 200:
                raise RuntimeError(f"reading an issued coupon answered {status}")
            entry = decode_campaign_entry(base64.b64decode(coupon["history"][0]["entry"]))
            if entry.signer != farm_signer or entry.cseq != int(issued["cseq"]):
                raise RuntimeError(f"the issue entry of {issued['coupons'][0]} is not cseq's")
            return Accepted((entry.signer, entry.seq), at)

        rng = random.Random(20261207)
        timeout = 30 + 10 * args.batch_age
        # The backlog (issues and every transfer so far) is sealed oldest first: one more
        # transfer anchored means it is gone.
        drain_began = time.monotonic()
        measure_round(transfer_poster(), watch, api, 1, 0.0, args.drain_timeout, rng)
        drain_s = time.monotonic() - drain_began
        rounds = [
            measure_round(transfer_poster(), watch, api, args.anchored, args.interval, timeout, rng)
            for _ in range(args.repeats)
        ]
        confirmations = (
            measure_round(confirm, watch, api, args.confirmations, args.interval, timeout, rng)
            if args.confirmations
            else Round()
        )
    finally:
        watch.stop()
        api.close()
    found = [r.as_dict() for r in rounds]
    out: dict[str, Any] = {
        "batch_age_s": args.batch_age,
        "poll_s": args.poll,
        "mean_interval_s": args.interval,
        "backlog_drain_s": round(drain_s, 1),
        "transfer_rounds": found,
        "confirmations": confirmations.as_dict(),
        # An entry can be sealed before its answer arrives (the answer comes after the commit):
        # then accepted → anchored is only the poll's delay; this says how long answers took.
        "confirmation_answer_ms": _spread([round(a * 1000, 1) for a in confirm_answers]),
        "gateway_report": str(report),  # written when the gateway stops
    }
    for figure in ("p50_ms", "p99_ms", "max_ms"):
        out[figure] = _spread([f[figure] for f in found if f[figure] is not None])
    out["posted"] = sum(r.posted for r in rounds) + confirmations.posted
    out["not_anchored"] = sum(r.not_anchored for r in rounds) + confirmations.not_anchored
    out["proofs_refused"] = sum(sum(r.proofs_refused.values()) for r in [*rounds, confirmations])
    return out


def register(kinds: Any) -> None:
    """Add ``coupons`` to the ``farmtrace bench`` subcommands."""
    p: argparse.ArgumentParser = kinds.add_parser(
        "coupons",
        help="holder-signed coupon transfers per second and their latency; accepted → anchored",
        description="Store many coupons, start the API, post pre-signed transfers of distinct "
        "coupons from concurrent clients; then start a gateway and time transfers and "
        "campaign entries from the API's answer to their block.",
    )
    p.add_argument("--coupons", type=int, default=100_000, help="coupons stored (100000)")
    p.add_argument("--per-pledge", type=int, default=1000, help="coupons per pledge (1000)")
    p.add_argument("--workers", type=int, default=2, help="farmtrace api --workers (2)")
    p.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (8)")
    limit = p.add_mutually_exclusive_group()
    limit.add_argument("--seconds", type=float, help="length of a run, s (10 unless --transfers)")
    limit.add_argument("--transfers", type=int, help="transfers per run, in total")
    p.add_argument("--repeats", type=int, default=3, help="runs, and anchoring rounds (3)")
    p.add_argument(
        "--anchored", type=int, default=100, help="transfers per anchoring round; 0 skips (100)"
    )
    p.add_argument(
        "--confirmations", type=int, default=10, help="confirmations timed to anchoring (10)"
    )
    p.add_argument("--interval", type=float, default=0.05, help="mean gap when anchoring, s (0.05)")
    p.add_argument("--batch-age", type=float, default=1.0, help="the gateway's, s (1.0)")
    p.add_argument("--poll", type=float, default=0.01, help="database poll interval, s (0.01)")
    p.add_argument(
        "--drain-timeout", type=float, default=900.0, help="wait for the backlog, s (900)"
    )
    p.add_argument("--db", metavar="URL", help="database (default: SQLite in the work directory)")
    p.add_argument("--dir", type=Path, help="keep the database, logs and state here (temp)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    if args.seconds is None and args.transfers is None:
        args.seconds = 10.0
    if (
        min(args.coupons, args.per_pledge, args.workers, args.clients, args.repeats) < 1
        or args.anchored < 0
        or args.confirmations < 0
        or (args.seconds is not None and args.seconds <= 0)
        or (args.transfers is not None and args.transfers < 1)
        or not 0 < args.batch_age <= 60
        or not 0 < args.poll <= 1
        or args.interval < 0
    ):
        print(
            "farmtrace bench coupons: counts >= 1 (--anchored, --confirmations >= 0), "
            "--seconds > 0, 0 < --batch-age <= 60, 0 < --poll <= 1, --interval >= 0",
            file=sys.stderr,
        )
        return 2
    try:
        if args.dir is not None:
            args.dir.mkdir(parents=True, exist_ok=True)
            result = run(args.dir, args)
        else:
            with tempfile.TemporaryDirectory(prefix="farmtrace-coupons-") as tmp:
                result = run(Path(tmp), args)
    except RuntimeError as exc:
        print(f"farmtrace bench coupons: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else _text(result))
    anchoring = result["anchoring"]
    clean = (
        result["conflicts_409"] == 0
        and result["other_answers"] == 0
        and (
            anchoring is None
            or (anchoring["not_anchored"] == 0 and not anchoring["proofs_refused"])
        )
    )
    return 0 if clean else 1


def _text(result: dict[str, Any]) -> str:
    def spread(f: dict[str, float] | None, unit: str = "") -> str:
        if f is None:
            return "-"
        return f"{f['median']:g}{unit} ({f['min']:g}-{f['max']:g})"

    s = result["summary"]
    limit = (
        f"{result['seconds']:g} s"
        if result["seconds"] is not None
        else f"{result['transfers']} transfers"
    )
    lines = [
        f"holder-signed coupon transfers ({result['database']}, {result['coupons']} coupons "
        f"stored, set up in {result['setup_s']} s): farmtrace api --workers {result['workers']}, "
        f"{result['clients']} clients, {result['repeats']} runs of {limit}; "
        "median (min-max) over the runs",
        f"  accepted/s {spread(s['transfers_per_s'])}   p50 {spread(s['p50_ms'], ' ms')}   "
        f"p99 {spread(s['p99_ms'], ' ms')}   max {spread(s['max_ms'], ' ms')}",
        f"  409s {result['conflicts_409']}, other refusals {result['other_answers']}; "
        f"API cores busy {spread(s['api_cores_busy'])}",
    ]
    for n, r in enumerate(result["runs"], 1):
        lines.append(
            f"    run {n}: {r['accepted']} in {r['seconds']} s = {r['transfers_per_s']}/s, "
            f"p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms max {r['max_ms']} ms; API CPU "
            f"{r['api_cpu_s']} s ({r['api_cpu_ms_per_transfer']} ms/transfer), clients' CPU "
            f"{r['client_cpu_s']} s"
            + (f"; first refusal: {r['first_refusal']}" if r["first_refusal"] else "")
        )
    a = result["anchoring"]
    if a is not None:
        c = a["confirmations"]
        lines += [
            f"  accepted → anchored, no sensor traffic (gateway batch age {a['batch_age_s']} s, "
            f"polled every {a['poll_s'] * 1000:g} ms; backlog sealed in {a['backlog_drain_s']} s):",
            f"    transfers: p50 {spread(a['p50_ms'], ' ms')}   p99 {spread(a['p99_ms'], ' ms')}"
            f"   max {spread(a['max_ms'], ' ms')}",
            f"    confirmations: p50 {c['p50_ms']} ms   p99 {c['p99_ms']} ms   max {c['max_ms']} ms"
            f" ({c['anchored']} of {c['posted']}; the API's answer took "
            f"{spread(a['confirmation_answer_ms'], ' ms')})",
            f"    {a['posted']} posted, {a['not_anchored']} not anchored, "
            f"{a['proofs_refused']} proofs refused; gateway blocks {a['gateway_blocks']}",
        ]
    lines.append(
        f"  load average after {result['load_average_after']} on {result['cpus']} CPUs; "
        f"signing before each run {result['signing_s']} s"
    )
    return "\n".join(lines)
