"""Access control of the API, and no secret in any process's output (issue 7, "API" bullet).

Properties, each against the real app or the real processes:

- every write operation (found from the app's routes, so a new one is covered) refuses a
  missing, malformed, unknown or revoked key (401) and a key without its scope (403), with a
  JSON error naming what was wrong and never echoing what was presented;
- ``farmtrace api-keys create`` prints the key once, and the database file holds no trace of
  it (its raw bytes are scanned);
- every operation is rate limited per client, writes before their key is looked up; a forged
  ``X-Forwarded-For`` neither escapes the limit nor spends another client's budget;
- every answer, errors included (400 ... 503, and Starlette's last-resort 500), carries the
  security headers and a fitting ``Cache-Control``; the page needs no inline script or style;
- ``farmtrace api``, ``gateway``, ``api-keys``, ``demo`` and ``python -m farmtrace.sim`` run with
  known secrets (database and broker passwords, password files, API keys): none appears in
  their output, log or report files or ``/metrics``, except the one intended display.
"""

from __future__ import annotations

import base64
import inspect
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from support.api import GTIN, LOT, ORIGIN, Served, lot_body, serve
from support.commerce_api import GCN, HOLDER_KEY, address, seed_campaign
from support.community_api import ADDR, seed_community
from support.mosquitto import MosquittoFactory, free_port

from farmtrace.api import auth
from farmtrace.api.auth import SCOPES, create_key, revoke_key
from farmtrace.api.http.bodylimit import MAX_BODY_BYTES
from farmtrace.api.http.headers import SECURITY_HEADERS
from farmtrace.api.http.ratelimit import RateLimiter, is_costly
from farmtrace.api.main import create_app
from farmtrace.api.settings import Settings
from farmtrace.commerce.listing import list_statement
from farmtrace.redact import redact_url
from farmtrace.store.engine import describe_url

ROOT = Path(__file__).resolve().parents[2]
PATH_VALUES = {
    "gtin": GTIN,
    "lot": LOT,
    "size": "2",
    "index": "0",
    "origin": ORIGIN,
    "height": "0",  # the tiles (docs/tiles.md): block 0, and the first tile of width 1
    "path": "0/000.p/1",
    "gcn": GCN,  # the campaign seed_campaign opens, its coupon and a pledge ID
    "coupon": GCN + "1",
    "code": GCN + "1",
    "pledge": "0" * 32,
    "community": "barbershop",  # the value community seed_community founds, and a member
    "address": ADDR["investor"],
    "listing": "0" * 32,  # a market listing ID (the rate-limit test lists a real one)
}
QUERY_VALUES = {
    "from": "1",
    "to": "3",
    "holder": address(HOLDER_KEY),
    "address": address(HOLDER_KEY),
}
PUBLIC_WRITES = {
    ("POST", f"/v1/campaigns/{GCN}/pledges"),
    ("POST", f"/v1/coupons/{GCN}1/transfers"),
    ("POST", "/v1/communities/barbershop/transfers"),
    ("POST", f"/v1/coupons/{GCN}1/listings"),
    ("POST", f"/v1/listings/{'0' * 32}/withdraw"),
    ("POST", f"/v1/listings/{'0' * 32}/offers"),
}
"""Writes a holder makes without a key: a pledge, a transfer of a coupon or of community
tokens, and the coupon market's listing, withdrawal and offer (the holder's or buyer's
signature is its authority, checked by the campaign, community or market service)."""
KEYED_READS = {f"/v1/campaigns/{GCN}/refunds"}
"""Reads that need a key: the refunds owed, which name backers' contacts."""
IMMUTABLE = "public, max-age=31536000, immutable"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(f"sqlite:///{tmp_path / 'chain.db'}", tmp_path) as found:
        yield found


def operations(served: Served, writes: bool) -> list[tuple[str, str]]:
    """(method, concrete path) of every API operation of the app's routes, reads or writes."""
    found = []
    for context in iter_route_contexts(served.client.app.routes):  # type: ignore[attr-defined]
        methods = set(context.methods or ()) - {"HEAD", "OPTIONS"}
        if not methods or (methods == {"GET"}) == writes:
            continue
        if not writes and not context.include_in_schema:
            continue  # /docs and /openapi.json
        route = context.original_route
        # A write that is not an APIRoute (no dependencies) would escape the checks below.
        assert isinstance(route, APIRoute), f"{context.path}: an operation outside the API"
        path = str(context.path_format)
        for name, value in PATH_VALUES.items():
            path = path.replace("{" + name + "}", value)
        assert "{" not in path, f"add a value for a parameter of {path} to PATH_VALUES"
        if any(p.alias in QUERY_VALUES for p in route.dependant.query_params):
            path += "?" + "&".join(f"{k}={v}" for k, v in QUERY_VALUES.items())
        found += [(method, path) for method in sorted(methods)]
    return found


def assert_error(response: Response, status: int, code: str, says: str, hidden: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == code and says in body["detail"], body
    assert hidden not in response.text and hidden not in str(response.headers)


# -- keys and scopes -----------------------------------------------------------------------


def test_every_write_needs_a_key_with_its_scope(served: Served) -> None:
    app = served.client.app
    database = app.state.farmtrace.database  # type: ignore[attr-defined]
    writes = operations(served, writes=True)
    assert len(writes) >= 3, writes
    single = {scope: create_key(database, scope.replace(":", "-"), [scope]) for scope in SCOPES}
    revoked = create_key(database, "gone", list(SCOPES))
    revoke_key(database, "gone")
    unknown = "ftk_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    for method, path in writes:
        if (method, path) in PUBLIC_WRITES:
            answer = served.client.request(method, path, json={})
            assert answer.status_code == 422, answer.text  # past any key check, to validation
            continue

        def call(authorization: str | None, path: str = path, method: str = method) -> Response:
            headers = {} if authorization is None else {"Authorization": authorization}
            return served.client.request(method, path, json={}, headers=headers)

        missing = call(None)
        assert_error(missing, 401, "unauthorized", "needs an API key", "ftk_")
        assert missing.headers["www-authenticate"].startswith("Bearer")
        basic = "Basic " + base64.b64encode(b"admin:hunter2-secret").decode()
        assert_error(call(basic), 401, "unauthorized", "malformed Authorization", "hunter2")
        short = unknown[:20]
        assert_error(call(f"Bearer {short}"), 401, "unauthorized", "malformed API key", short)
        assert_error(call(f"Bearer {unknown}"), 401, "unauthorized", "unknown API key", unknown)
        assert_error(call(f"Bearer {revoked}"), 401, "unauthorized", "revoked", revoked)
        # Exactly one scope admits the operation; a key with any other gets 403 naming it.
        admitted, refusals = [], []
        for scope, key in single.items():
            answer = call(f"Bearer {key}")
            if answer.status_code == 403:
                assert_error(answer, 403, "forbidden", "lacks scope", key)
                refusals.append(answer.json()["detail"])
            else:
                assert answer.status_code not in (401, 403), answer.text
                admitted.append(scope)
        assert len(admitted) == 1, (method, path, admitted)
        assert all(detail.endswith(f"lacks scope {admitted[0]}") for detail in refusals)
        # Bad JSON is still a 401 without a key: a stranger learns nothing of validation.
        garbage = served.client.request(method, path, content=b"{", headers={})
        assert garbage.status_code == 401, garbage.text


def test_bodies_are_capped_before_the_key_is_checked(served: Served) -> None:
    def streamed() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b" " * 65536

    for body in (b"[" + b"0," * (MAX_BODY_BYTES // 2) + b"0]", streamed()):
        answer = served.client.post("/v1/lots", content=body, headers=JSON)
        assert answer.status_code == 413 and answer.json()["error"] == "http", answer.text
        assert_headers(answer, "no-store")
    fits = served.client.post("/v1/lots", content=b" " * (MAX_BODY_BYTES - 2) + b"{}", headers=JSON)
    assert fits.status_code == 401  # under the cap it reaches the key check


@pytest.mark.slow
def test_api_keys_are_hashed_at_rest(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    url = f"sqlite:///{db}"
    keys = []
    for n in range(2):
        done = cli("api-keys", "create", "--db", url, "--name", f"k{n}", "--scope", "lots:write")
        assert done.returncode == 0, done.stderr
        key = done.stdout.strip()
        assert done.stdout == key + "\n" and key.startswith("ftk_")  # shown once, alone
        assert key not in done.stderr
        keys.append(key)
    # The stored form is the SHA-256 (checked by tests/api/test_api_keys.py); here: nothing of
    # the key itself -- neither as text, nor its secret part, nor the secret's raw bytes.
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("keys.db"))
    for key in keys:
        secret = key.removeprefix("ftk_")
        for form in (key, secret, base64.urlsafe_b64decode(secret + "=")):
            needle = form.encode() if isinstance(form, str) else form
            assert needle not in raw
    with sqlite3.connect(db) as conn:  # the keys are there, in another form
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (2,)
    # Looked up by hash, then compared in constant time (code review made executable).
    assert "hmac.compare_digest" in inspect.getsource(auth.check_key)
    done = cli("api-keys", "revoke", "--db", url, "--name", "k1")
    assert done.returncode == 0 and "revoked 1 key" in done.stdout


# -- rate limits ---------------------------------------------------------------------------


def seed_listing(client: TestClient, coupon: str) -> str:
    """A coupon market listing of ``coupon`` (held by :data:`HOLDER_KEY`); its ID."""
    state = client.get(f"/v1/coupons/{coupon}").json()["state"]
    at = int(time.time() * 1000)
    seller = address(HOLDER_KEY)
    signed = list_statement(coupon, state, seller, 4500, "CNY", at)
    body = {
        "state": state,
        "seller": seller,
        "price": {"amount": 4500, "currency": "CNY"},
        "time_ms": at,
        "signature": base64.b64encode(HOLDER_KEY.sign(signed)).decode(),
    }
    made = client.post(f"/v1/coupons/{coupon}/listings", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_every_operation_is_rate_limited(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    state = served.client.app.state.farmtrace  # type: ignore[attr-defined]
    every_scope = create_key(state.database, "all", list(SCOPES))
    auth_header = {"Authorization": f"Bearer {every_scope}"}
    coupon = seed_campaign(served.client, auth_header)
    monkeypatch.setitem(PATH_VALUES, "listing", seed_listing(served.client, coupon))
    seed_community(state, served.client, auth_header)
    reads = operations(served, writes=False)
    assert len(reads) >= 15, reads
    for method, path in reads + operations(served, writes=True):
        state.limiter = RateLimiter(rate=0.001, burst=2)
        keyed = method != "GET" or path.partition("?")[0] in KEYED_READS
        headers = auth_header if keyed else {}
        # An expensive read takes the whole bucket of 2 (its cost is capped at the burst).
        allowed = 1 if is_costly(method, path.partition("?")[0]) else 2
        first = [served.client.request(method, path, headers=headers) for _ in range(allowed)]
        if method == "GET":
            assert all(r.status_code == 200 for r in first), (path, first[0].text)
        limited = served.client.request(method, path, headers=headers)
        assert limited.status_code == 429, (method, path, limited.status_code)
        assert limited.json()["error"] == "rate-limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["cache-control"] == "no-store"
    # A stranger flooding a write is limited before any key is looked up.
    state.limiter = RateLimiter(rate=0.001, burst=1)
    codes = [served.client.post("/v1/lots", json={}).status_code for _ in range(2)]
    assert codes == [401, 429]


def forged(client: TestClient, forged_for: str, real: str) -> int:
    """GET /checkpoint from ``real`` (as the proxy appends it) claiming ``forged_for``."""
    xff = f"{forged_for}, {real}" if forged_for else real
    return client.get("/checkpoint", headers={"X-Forwarded-For": xff}).status_code


def test_forwarded_for_cannot_escape_the_limit_or_starve_others(served: Served) -> None:
    url = served.db_url
    direct = served.client
    direct.app.state.farmtrace.limiter = RateLimiter(rate=0.001, burst=3)  # type: ignore[attr-defined]
    # Not configured: the header is ignored; every forged address spends the peer's bucket.
    assert [forged(direct, f"198.51.100.{i}", "203.0.113.9") for i in range(4)] == [200] * 3 + [429]
    settings = Settings(
        db_url=url,
        state_dir=served.tmp / "api",  # the served API's event key: it signed the lot
        rate_per_s=0.001,
        rate_burst=3,
        trust_forwarded_for=True,
        trusted_proxies="testclient",  # the TestClient's peer address plays the proxy
    )
    with TestClient(create_app(settings)) as proxied:
        attacker, victim = "203.0.113.9", "198.51.100.7"
        # The proxy appends the attacker's real address; forged hops to its left are ignored.
        codes = [forged(proxied, f"10.0.0.{i}, {victim}", attacker) for i in range(4)]
        assert codes == [200, 200, 200, 429]
        assert [forged(proxied, "", victim) for _ in range(3)] == [200] * 3  # not starved
        assert forged(proxied, "", victim) == 429
    untrusted = settings.model_copy(update={"trusted_proxies": "192.0.2.1"})
    with TestClient(create_app(untrusted)) as proxied:
        # The header from a peer that is not a trusted proxy is ignored.
        assert [forged(proxied, "", f"192.0.2.{i}") for i in range(4)] == [200] * 3 + [429]


# -- headers -------------------------------------------------------------------------------


class _PageAudit(HTMLParser):
    """What in a page the CSP would block: inline scripts, styles and event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.problems += [f"<{tag} {k}=>" for k, _ in attrs if k == "style" or k.startswith("on")]
        if tag == "style":
            self.problems.append("<style>")
        if tag == "script":
            self.scripts += 1
            if not (values.get("src") or "").startswith("/static/"):
                self.problems.append(f"<script> not from /static: {values}")
        stylesheet = tag == "link" and values.get("rel") == "stylesheet"
        if stylesheet and not (values.get("href") or "").startswith("/static/"):
            self.problems.append(f"stylesheet not from /static: {values}")


def assert_headers(response: Response, cache: str | None) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name, response.headers)
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "strict-transport-security" not in response.headers  # plain http here
    if cache is not None:
        assert response.headers["cache-control"] == cache, (response.url, response.status_code)


def test_security_headers_on_every_answer(served: Served) -> None:
    app, client = served.client.app, served.client
    page = client.get(f"/01/{GTIN}/10/{LOT}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_headers(page, "no-cache")
    audit = _PageAudit()
    audit.feed(page.text)
    assert audit.scripts >= 1 and not audit.problems, audit.problems
    answers = {
        "/v1/readings/0/proof": (200, "no-cache"),
        f"/v1/lots/{GTIN}/{LOT}/bundle": (200, "no-cache"),
        "/checkpoint": (200, "no-cache"),
        "/v1/checkpoints/2": (200, IMMUTABLE),
        "/static/page/badge.js": (200, "no-cache"),
        "/no/such/route": (404, "no-store"),
        f"/v1/lots/{GTIN}/NOPE": (404, "no-store"),
        f"/v1/lots/{GTIN[:-1]}0/{LOT}": (400, "no-store"),
        "/v1/readings/abc": (422, "no-store"),
    }
    for path, (status, cache) in answers.items():
        response = client.get(path)
        assert response.status_code == status, (path, response.text)
        assert_headers(response, cache)
    assert_headers(client.post("/v1/lots", json={}), "no-store")  # 401
    created = client.post(
        f"/v1/lots/{GTIN}/{LOT}/events",
        json={"kind": "nonsense"},
        headers={"Authorization": f"Bearer {served.key}"},
    )
    assert_headers(created, "no-store")  # 422 behind a valid key
    assert_headers(client.delete("/checkpoint"), "no-store")  # 405
    app.state.farmtrace.limiter = RateLimiter(rate=0.001, burst=1)  # type: ignore[attr-defined]
    client.get("/checkpoint")
    assert_headers(client.get("/checkpoint"), "no-store")  # 429
    app.state.farmtrace.limiter = RateLimiter(rate=1000, burst=1000)  # type: ignore[attr-defined]

    def boom() -> None:
        raise RuntimeError("s3cret detail of an internal failure")

    app.add_api_route("/probe/boom", boom)  # type: ignore[attr-defined]
    failing = TestClient(app, raise_server_exceptions=False).get("/probe/boom")
    assert failing.status_code == 500 and failing.json() == {
        "error": "internal",
        "detail": "internal error",
    }
    assert_headers(failing, "no-store")
    # A real database failure: the lots table goes away under the running API.
    with sqlite3.connect(served.db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("ALTER TABLE lots RENAME TO lots_gone")
    unavailable = client.get(f"/v1/lots/{GTIN}/{LOT}")
    assert unavailable.status_code == 503 and unavailable.json()["error"] == "storage"
    assert_headers(unavailable, "no-store")


def test_hsts_only_over_https(served: Served) -> None:
    app = served.client.app
    over_https = TestClient(app, base_url="https://testserver").get("/checkpoint")
    assert over_https.headers["strict-transport-security"].startswith("max-age=")
    settings = Settings(
        db_url=served.db_url,
        state_dir=served.tmp / "api",  # the served API's event key: it signed the lot
        trust_forwarded_for=True,
        trusted_proxies="testclient",
    )
    with TestClient(create_app(settings)) as proxied:
        tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
        assert "strict-transport-security" in proxied.get("/checkpoint", headers=tls).headers
    # Without a trusted proxy the same header changes nothing.
    plain = served.client.get("/checkpoint", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in plain.headers


# -- no secret in logs ---------------------------------------------------------------------


def cli(
    *args: str, module: str = "farmtrace", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def secret(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://farm:pw@db:5432/trace", "postgresql://farm:***@db:5432/trace"),
        ("postgresql://farm:p@ss:w/rd@db:xx/t", "postgresql://farm:***@db:xx/t"),
        ("mqtts://gw:pw@broker", "mqtts://gw:***@broker"),
        ("mqtt://:pw@broker:1883", "mqtt://:***@broker:1883"),
        ("postgresql://db/t?user=farm&password=pw&sslmode=require",
         "postgresql://db/t?user=farm&password=***&sslmode=require"),
        ("sqlite:////var/lib/a:b@c.db", "sqlite:////var/lib/a:b@c.db"),
        ("mqtt://gw@broker:1883", "mqtt://gw@broker:1883"),
    ],
)  # fmt: skip
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert describe_url(url).count("pw") == 0


def assert_nowhere(secrets_: list[str], texts: dict[str, str]) -> None:
    for name, text in texts.items():
        for value in secrets_:
            assert value not in text, f"a secret appears in {name}: ...{text[-2000:]}"


def scan(root: Path, skip: set[Path]) -> dict[str, str]:
    """Every file under ``root`` (but ``skip`` and what lies under it), as text."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(path == s or s in path.parents for s in skip):
            found[str(path.relative_to(root))] = path.read_bytes().decode("latin-1")
    return found


ERROR_CASES = [
    ("api", "--db", "postgresql://farm:{pg}@127.0.0.1:1/trace", "--port", "1"),
    ("api", "--db", "postgresql://farm:{pg}@127.0.0.1:xx/trace", "--port", "1"),
    ("api-keys", "create", "--db", "postgresql://farm:{pg}@127.0.0.1:1/trace", "--name", "a",
     "--scope", "lots:write"),
    ("audit", "--db", "postgresql://farm:{pg}@127.0.0.1:xx/trace"),
    ("gateway", "--broker", "mqtt://gw:{mq}@127.0.0.1:1", "--state", "{tmp}/g1",
     "--db", "postgresql://farm:{pg}@127.0.0.1:1/trace"),
    ("gateway", "--broker", "mqtt://gw:{mq}@127.0.0.1:notaport", "--state", "{tmp}/g2"),
    ("gateway", "--broker", "mqtt://gw:{mq}@127.0.0.1:1/x", "--state", "{tmp}/g3"),
    ("farmtrace.sim", "run", "--broker", "mqtt://dev:{mq}@127.0.0.1:notaport", "--state",
     "{tmp}/s1", "--devices", "1"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("argv", ERROR_CASES, ids=lambda a: " ".join(a[:2]))
def test_failing_commands_name_the_url_without_its_password(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    pg, mq = secret("pg"), secret("mq")
    args = [a.format(pg=pg, mq=mq, tmp=tmp_path) for a in argv]
    module = "farmtrace.sim" if args[0] == "farmtrace.sim" else "farmtrace"
    done = cli(*(args[1:] if module == "farmtrace.sim" else args), module=module)
    assert done.returncode != 0, done.stdout
    output = done.stdout + done.stderr
    assert ":***@" in output, output  # the URL is named, its password masked
    assert_nowhere([pg, mq], {"output": output, **scan(tmp_path, set())})


def http(
    base: str, method: str, path: str, key: str | None = None, body: object = None, **headers: str
) -> tuple[int, str]:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until ``port`` accepts a TCP connection (no HTTP request: it would spend a token)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "the process ended while starting"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.1)


@pytest.mark.integration
def test_api_process_keeps_keys_out_of_its_output(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    created = cli("api-keys", "create", "--db", url, "--name", "ops", "--scope", "lots:write")
    key, wrong = created.stdout.strip(), "ftk_" + secrets.token_urlsafe(32)
    port, burst = free_port(), 12
    env = {
        **os.environ,
        "FARMTRACE_API_RATE_PER_S": "0.001",
        "FARMTRACE_API_RATE_BURST": str(burst),
    }
    argv = [sys.executable, "-m", "farmtrace", "api", "--db", url, "--port", str(port)]
    with (tmp_path / "api.out").open("wb") as out, (tmp_path / "api.err").open("wb") as err:
        process = subprocess.Popen(
            [*argv, "--state", str(tmp_path / "state")], stdout=out, stderr=err, env=env, cwd=ROOT
        )
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        answers = [
            http(base, "POST", "/v1/lots", key, lot_body(["urn:epc:id:giai:4012345.X1"])),
            http(base, "POST", "/v1/lots", wrong, lot_body(["urn:epc:id:giai:4012345.X2"])),
            http(base, "POST", f"/v1/lots/{GTIN}/{LOT}/events", key, {}),
            http(base, "GET", f"/checkpoint?api_key={key}"),
            http(base, "GET", f"/v1/readings/{key}", key),
        ]
        with sqlite3.connect(tmp_path / "api.db") as conn:  # a database failure, to be logged
            conn.execute("ALTER TABLE lots RENAME TO lots_gone")
        answers.append(http(base, "GET", f"/v1/lots/{GTIN}/{LOT}", key))
        assert [status for status, _ in answers] == [201, 401, 403, 404, 404, 503], answers
        # uvicorn must not take X-Forwarded-For from this 127.0.0.1 peer: fresh forged
        # addresses still spend the one bucket, which empties after exactly ``burst`` requests.
        forged = [
            http(base, "GET", "/v1/chains", **{"X-Forwarded-For": f"10.0.0.{i}"})[0]
            for i in range(burst - len(answers) + 1)
        ]
        assert forged == [200] * (burst - len(answers)) + [429]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    texts = {name: text for name, text in scan(tmp_path, set()).items() if name != "api.db"}
    texts["answers"] = json.dumps(answers)
    assert "database error: OperationalError" in texts["api.err"]  # the log was captured
    assert_nowhere([key, wrong], texts)
    assert key not in created.stderr and created.stdout == key + "\n"


def metrics(port: int) -> str:
    """The gateway's /metrics, once it answers."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return http(f"http://127.0.0.1:{port}", "GET", "/metrics")[1]
        except OSError:
            assert time.monotonic() < deadline, "/metrics never answered"
            time.sleep(0.2)


@pytest.mark.integration
def test_gateway_and_simulator_keep_broker_passwords_out_of_their_output(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    gw_pw, sim_pw, wrong = secret("gw"), secret("sim"), secret("wrong")
    devices = [f"urn:epc:id:giai:4012345.SIM-{n:06d}" for n in (1, 2)]
    per_device = {d: secret(f"dev{n}") for n, d in enumerate(devices)}
    users = {"gateway": gw_pw, "sim": sim_pw} | {
        d.rsplit(":", 1)[-1]: p for d, p in per_device.items()
    }
    broker = mosquitto_factory(users=users)
    password_file = tmp_path / "inputs" / "passwords.json"
    password_file.parent.mkdir()
    password_file.write_text(json.dumps(per_device))
    address, metrics_port = f"127.0.0.1:{broker.port}", free_port()
    gateway = [sys.executable, "-m", "farmtrace", "gateway", "--log-level", "DEBUG"]
    sim = [sys.executable, "-m", "farmtrace.sim", "run", "-v", "--devices", "2", "--interval", "1"]
    sim += ["--speed", "10", "--duration", "20", "--broker", f"mqtt://{address}"]
    runs = {
        "gateway": [*gateway, "--broker", f"mqtt://gateway:{gw_pw}@{address}", "--state",
                    str(tmp_path / "gw"), "--duration", "4", "--metrics-port", str(metrics_port),
                    "--report", str(tmp_path / "gw-report.json")],
        "gateway-refused": [*gateway, "--broker", f"mqtt://gateway:{wrong}@{address}",
                            "--state", str(tmp_path / "gw2"), "--duration", "4"],
        "sim-password": [*sim, "--username", "sim", "--password", sim_pw, "--state",
                         str(tmp_path / "sim1"), "--report", str(tmp_path / "sim1.json")],
        "sim-password-file": [*sim, "--username", "{asset}", "--password-file",
                              str(password_file), "--state", str(tmp_path / "sim2")],
        "sim-refused": [*sim, "--username", "sim", "--password", wrong, "--state",
                        str(tmp_path / "sim3")],
    }  # fmt: skip
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in runs.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                processes[name] = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                )
        scraped = metrics(metrics_port)
        codes = {name: p.wait(timeout=120) for name, p in processes.items()}
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    texts = scan(tmp_path, {broker.workdir, password_file.parent})
    # Real runs: the gateway connected and served metrics; the simulator's devices logged in
    # with both kinds of credentials; the wrong passwords were refused and said so.
    assert codes["gateway"] == 0 and "farmtrace_" in scraped, texts["gateway.log"][-2000:]
    assert "refused the connection" in texts["gateway-refused.log"]
    assert codes["sim-password"] == 0 and codes["sim-password-file"] == 0, codes
    assert codes["sim-refused"] != 0 and "refused" in texts["sim-refused.log"]
    texts["/metrics"] = scraped
    assert_nowhere([gw_pw, sim_pw, wrong, *per_device.values()], texts)


@pytest.mark.integration
@pytest.mark.slow
def test_demo_keeps_its_secrets_out_of_its_output(
    tmp_path: Path, mosquitto_factory: MosquittoFactory
) -> None:
    password = secret("demo")
    broker = mosquitto_factory(users={"demo": password})
    state, port = tmp_path / "demo", free_port()
    done = cli(
        "demo", "--state", str(state), "--broker", f"mqtt://demo:{password}@127.0.0.1:{broker.port}",
        "--speed", "120", "--port", str(port), "--duration", "3", timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"mqtt://demo:***@127.0.0.1:{broker.port}" in done.stdout  # named, masked
    key = json.loads((state / "demo.json").read_text())["api_key"]
    assert (state / "demo.json").stat().st_mode & 0o077 == 0  # the one place the key is kept
    texts = scan(state, {state / "demo.json"})
    assert any(name.startswith("logs/") for name in texts)
    texts |= {"stdout": done.stdout, "stderr": done.stderr}
    assert_nowhere([password, key, key.removeprefix("ftk_")], texts)
