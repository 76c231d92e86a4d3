"""The backer's pages (campaign, coupon, market, wallet) in headless Chromium at phone (390x844)
and desktop (1280x900) widths, and their accessibility basics.

Served by the real API on 127.0.0.1 (uvicorn in a thread, the ``shop`` campaign over the served
lot: four coupons issued to Alice, one sold to Bob at a declared price, one listed on the market,
two held by a wallet made in the browser, everything sealed into a block). Driven over the
DevTools protocol (tests/support/cdp.py).

Screens: each page loads without a console error, an uncaught exception or a CSP violation
(``securitypolicyviolation`` events are recorded from before the page's first script), nothing
is wider than the screen at phone width (``document.scrollingElement.scrollWidth <=
innerWidth``, naming the elements that stick out otherwise), and a full-page screenshot is
written to the test's temporary directory (or to ``$FARMTRACE_SCREENSHOTS`` to look at them).

Accessibility: the server's HTML (every control labelled by ``label[for]``, ``aria-label`` or
``aria-labelledby``; buttons and links named; images and SVG charts with a text alternative;
headings in order; ``lang`` set; no negative ``tabindex``), the same checks in the browser once
the scripts have filled the page, the contrast of the main text against its background computed
from computed styles (at least 4.5:1), every visible interactive element reached by Tab, and the
main actions (create a wallet, pledge, send) done with the keyboard alone (Enter or Space).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.api import ORIGIN
from support.cdp import Browser
from support.commerce_api import DAY, GCN, Shop, address, sign_transfer
from support.tamper import update_row
from test_api_market import listing_body

from farmtrace.commerce.gcn import coupon_id
from farmtrace.store.ledger import Ledger

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START_TIMEOUT_S = 30
ALICE = Ed25519PrivateKey.from_private_bytes(bytes([1] * 32))
BOB = Ed25519PrivateKey.from_private_bytes(bytes([2] * 32))
SOLD = coupon_id(GCN, 1)
LISTED = coupon_id(GCN, 2)
SIZES = {"phone": (390, 844), "desktop": (1280, 900)}

# Each page, and the expression that is truthy once its scripts have finished filling it.
PAGES: dict[str, tuple[str, str]] = {
    "campaign": (
        f"/campaigns/{GCN}",
        "['none', 'ready'].includes(document.getElementById('pledge-form')?.dataset.wallet)",
    ),
    "coupon": (
        f"/255/{SOLD}",
        "['verified', 'pending', 'failed', 'unavailable']"
        ".includes(document.getElementById('coupon-proof')?.dataset.state)",
    ),
    "market": (
        f"/campaigns/{GCN}/market",
        "['none', 'ready'].includes(document.getElementById('market-wallet')?.dataset.state)"
        " && [...document.querySelectorAll('li.listing:not(.ended)')]"
        ".every((li) => li.dataset.verified)",
    ),
    "wallet": (
        "/wallet",
        "document.getElementById('wallet')?.dataset.state === 'ready'"
        " && document.querySelectorAll('#coupon-list li[data-coupon]').length > 0"
        " && !!document.getElementById('market-panel')?.dataset.market",
    ),
}

# Recorded from before the page's own scripts: the CSP violations the page caused.
CSP_RECORDER = (
    "window.__cspViolations = [];"
    "document.addEventListener('securitypolicyviolation', (e) =>"
    " window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));"
)


@dataclass
class Site:
    url: str
    shop: Shop


@pytest.fixture
def site(shop: Shop) -> Iterator[Site]:
    """The campaign funded (4 coupons to Alice), coupon 1 sold to Bob at 50.00 CNY, coupon 2
    listed by Alice at 50.00 CNY, all sealed into a block; the app on a free 127.0.0.1 port."""
    # On the real clock: statements signed in the browser carry the browser's time.
    now = shop.clock.ms = int(time.time() * 1000)
    shop.open_and_issue(
        ALICE, 4, opens_ms=now - DAY, deadline_ms=now + 10 * DAY,
        delivery={"from_ms": now + 20 * DAY, "until_ms": now + 30 * DAY},
    )  # fmt: skip
    assert shop.client.post(f"/v1/campaigns/{GCN}/settle", headers=shop.farm).status_code == 200
    state = shop.client.get(f"/v1/coupons/{SOLD}").json()["state"]
    statement = sign_transfer(shop, SOLD, state, ALICE, address(BOB), price=(5000, "CNY"))
    moved = shop.client.post(f"/v1/coupons/{SOLD}/transfers", json={"statement": statement})
    assert moved.status_code == 201, moved.text
    listed = shop.client.post(
        f"/v1/coupons/{LISTED}/listings", json=listing_body(shop, LISTED, ALICE)
    )
    assert listed.status_code == 201, listed.text
    with Ledger.open(shop.served.db_url, shop.served.tmp / "gw", ORIGIN) as ledger:
        assert ledger.append_batch([]).block is not None
    config = uvicorn.Config(
        shop.client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Site(f"http://127.0.0.1:{port}", shop)
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)


def js(value: str) -> str:
    return json.dumps(value)


def open_browser(tmp_path: Path, lang: str, size: str) -> Browser:
    browser = Browser(tmp_path / f"profile-{lang}-{size}", lang)
    width, height = SIZES[size]
    browser.command(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": size == "phone"},
        session=True,
    )
    browser.command("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_RECORDER}, session=True)
    return browser


def give_wallet_coupons(browser: Browser, site: Site, name: str = "Carol") -> str:
    """A wallet made in this browser (keys.js, as /wallet does) holding one confirmed coupon
    (5; the cap leaves room for one more pledge); its address."""
    browser.goto(f"{site.url}/wallet")
    browser.wait_for("document.getElementById('wallet')?.dataset.state", what="/wallet")
    mine: str = browser.evaluate(
        "import('/static/wallet/keys.js').then((k) => k.createWallet("
        + js(name)
        + ")).then((w) => w.address)"
    )
    client, farm = site.shop.client, site.shop.farm
    pledged = client.post(f"/v1/campaigns/{GCN}/pledges", json={"holder": mine, "count": 1})
    assert pledged.status_code == 201, pledged.text
    confirmed = client.post(
        f"/v1/campaigns/{GCN}/pledges/{pledged.json()['pledge']}/confirm",
        json={"payment_reference": "carol-bank"},
        headers=farm,
    )
    assert confirmed.status_code == 200, confirmed.text
    return mine


def load(browser: Browser, site: Site, page: str) -> None:
    """Open ``page`` and wait until its scripts have filled it."""
    path, ready = PAGES[page]
    browser.goto(f"{site.url}{path}")
    browser.wait_for(
        f"document.readyState === 'complete' && ({ready})", timeout=60, what=f"the {page} page"
    )


# -- screens -------------------------------------------------------------------------------------

# A phone's browser zooms out to show content wider than the screen (innerWidth and the layout
# viewport then grow past the device's width): measured against the device's width, WIDTH.
OVERFLOW = """(() => {
  const width = WIDTH;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    // A box past the edge, or text spilling out of its box (a long code that does not wrap).
    const spills = el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
      && getComputedStyle(el).overflowX === 'visible';
    if ((r.width > 0 && r.right > width + 0.5) || spills) {
      out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}`
        + `${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''}`
        + (spills ? ` text ${el.scrollWidth} px in ${el.clientWidth}` : ` right=${Math.round(r.right)}`));
    }
  }
  return {scrollWidth: document.scrollingElement.scrollWidth, innerWidth, width, out: out.slice(0, 12)};
})()"""


def screenshot(browser: Browser, path: Path) -> None:
    shot = browser.command(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=True
    )
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.parametrize(
    ("size", "lang"), [("phone", "en-US"), ("phone", "zh-CN"), ("desktop", "en-US")]
)
def test_pages_load_clean_and_fit_the_screen(
    site: Site, tmp_path: Path, size: str, lang: str
) -> None:
    shots = Path(os.environ.get("FARMTRACE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[size]
    problems: list[str] = []
    with open_browser(tmp_path, lang, size) as browser:
        give_wallet_coupons(browser, site)
        for page in PAGES:
            browser.console.clear()
            load(browser, site, page)
            csp = browser.evaluate("window.__cspViolations")
            problems += [f"{page}: CSP {v}" for v in csp]
            problems += [f"{page}: {line}" for line in browser.console]
            fit = browser.evaluate(OVERFLOW.replace("WIDTH", str(width)))
            wide = max(fit["scrollWidth"], fit["innerWidth"])
            if size == "phone" and wide > width:
                problems.append(f"{page}: {wide} px wide on {width}: {fit['out']}")
            target = shots / f"{page}-{width}x{height}-{lang}.png"
            screenshot(browser, target)
            assert target.stat().st_size > 1000
    assert problems == [], "\n".join(problems)


# -- accessibility: the server's HTML ------------------------------------------------------------

_VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str]
    parent: Node | None

    def text(self) -> str:
        return " ".join((c if isinstance(c, str) else c.text()) for c in self.children).strip()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def inside(self, tag: str) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == tag:
                return True
            node = node.parent
        return False


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, [], None)
        self.open = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, [], self.open)
        self.open.children.append(node)
        if tag not in _VOID:
            self.open = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.children.append(Node(tag, {k: v or "" for k, v in attrs}, [], self.open))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.open = node.parent

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.open.children.append(data.strip())


def html_problems(html: str) -> list[str]:
    """What the server's HTML lacks for the accessibility basics, one line per element."""
    tree = _Tree()
    tree.feed(html)
    nodes = list(tree.root.walk())
    ids = {n.attrs["id"]: n for n in nodes if "id" in n.attrs}
    labelled = {n.attrs["for"] for n in nodes if n.tag == "label" and n.text() and "for" in n.attrs}

    def name(node: Node) -> str:
        by = [ids[i].text() for i in node.attrs.get("aria-labelledby", "").split() if i in ids]
        return node.attrs.get("aria-label", "").strip() or " ".join(by).strip()

    def where(node: Node) -> str:
        return f"<{node.tag}{' id=' + node.attrs['id'] if 'id' in node.attrs else ''}>"

    problems: list[str] = []
    (html_node,) = [n for n in nodes if n.tag == "html"]
    if not html_node.attrs.get("lang"):
        problems.append("<html> has no lang")
    for node in nodes:
        kind = node.attrs.get("type", "")
        control = node.tag in ("input", "select", "textarea") and kind != "hidden"
        if control and not (node.attrs.get("id") in labelled or node.inside("label") or name(node)):
            problems.append(f"{where(node)} has no label")
        if node.tag == "button" and not (node.text() or name(node)):
            problems.append(f"{where(node)} has no name")
        if node.tag == "a" and "href" in node.attrs and not (node.text() or name(node)):
            problems.append(f"{where(node)} link has no name")
        if node.tag == "img" and "alt" not in node.attrs:
            problems.append(f"{where(node)} has no alt")
        if node.tag == "svg" and not node.inside("svg") and node.attrs.get("aria-hidden") != "true":
            titled = any(
                isinstance(c, Node) and c.tag == "title" and c.text() for c in node.children
            )
            if node.attrs.get("role") != "img" or not (name(node) or titled):
                problems.append(f"{where(node)} has no role=img with a text alternative")
        if "tabindex" in node.attrs and int(node.attrs["tabindex"]) < 0:
            problems.append(f"{where(node)} has a negative tabindex")
    levels = [int(n.tag[1]) for n in nodes if n.tag in ("h1", "h2", "h3", "h4", "h5", "h6")]
    if not levels or levels[0] != 1:
        problems.append(f"the first heading is not h1: {levels}")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            problems.append(f"heading h{after} follows h{before}")
    return problems


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_served_html_meets_the_accessibility_basics(site: Site, lang: str) -> None:
    problems: list[str] = []
    for page, (path, _) in PAGES.items():
        answer = site.shop.client.get(f"{path}?lang={lang}", headers={"Accept": "text/html"})
        assert answer.status_code == 200, (page, answer.text[:300])
        problems += [f"{page}: {p}" for p in html_problems(answer.text)]
    assert problems == [], "\n".join(problems)


def test_the_html_checks_find_what_is_missing() -> None:
    found = html_problems(
        "<html><body><h2>x</h2><h1>a</h1><h3>b</h3><input id=a><label for=b>B</label>"
        "<input id=b><button></button><svg><path/></svg><svg role=img><title>t</title></svg>"
        "<img src=x><a href=/x></a><div tabindex=-1></div></body></html>"
    )
    assert found == [
        "<html> has no lang", "<input id=a> has no label", "<button> has no name",
        "<svg> has no role=img with a text alternative", "<img> has no alt",
        "<a> link has no name", "<div> has a negative tabindex",
        "the first heading is not h1: [2, 1, 3]", "heading h3 follows h1",
    ]  # fmt: skip


# -- accessibility: in the browser, once the scripts ran -----------------------------------------

# The same basics over the live DOM (what the scripts added included), visible elements only, and
# the contrast of the main text: each element with its own text, its colour against the first
# opaque background behind it (translucent layers composited), WCAG 2 relative luminance.
LIVE_CHECKS = r"""(() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const where = (el) => `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}`
    + `${el.dataset.action ? ' data-action=' + el.dataset.action : ''}> "${(el.textContent || '').trim().slice(0, 30)}"`;
  const named = (el) => (el.getAttribute('aria-label') || '').trim()
    || (el.getAttribute('aria-labelledby') || '').split(/\s+/).map((i) => document.getElementById(i)?.textContent || '').join(' ').trim();
  const problems = [];
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!visible(el)) continue;
    const labels = [...(el.labels || [])].map((l) => l.textContent.trim()).join('');
    if (!labels && !named(el)) problems.push(`${where(el)} has no label`);
  }
  for (const el of document.querySelectorAll('button, a[href], summary')) {
    if (visible(el) && !(el.textContent.trim() || named(el) || el.title)) problems.push(`${where(el)} has no name`);
  }
  for (const el of document.querySelectorAll('img')) if (!el.hasAttribute('alt')) problems.push(`${where(el)} has no alt`);
  for (const el of document.querySelectorAll('svg')) {
    if (el.parentElement.closest('svg') || el.closest('[aria-hidden=true]') || !visible(el)) continue;
    const title = [...el.children].some((c) => c.tagName.toLowerCase() === 'title' && c.textContent.trim());
    if (el.getAttribute('role') !== 'img' || !(named(el) || title)) problems.push(`${where(el)} has no role=img with a text alternative`);
  }
  for (const el of document.querySelectorAll('[tabindex]')) if (el.tabIndex < 0) problems.push(`${where(el)} has a negative tabindex`);
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(visible).map((h) => Number(h.tagName[1]));
  if (levels[0] !== 1) problems.push(`the first heading is not h1: ${levels}`);
  levels.forEach((l, i) => { if (i > 0 && l > levels[i - 1] + 1) problems.push(`heading h${l} follows h${levels[i - 1]}`); });

  const rgba = (text) => { const m = text.match(/[\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const over = (top, below) => [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3])).concat(1);
  const backdrop = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const bg = rgba(getComputedStyle(node).backgroundColor);
      if (bg[3] > 0) { layers.push(bg); if (bg[3] === 1) break; }
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const luminance = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let checked = 0;
  let lowest = 21;
  const main = 'p, li, label, a, button, h1, h2, h3, h4, dt, dd, td, th, span, code, small, strong, em, summary, legend, figcaption, time, output, b';
  for (const el of document.querySelectorAll(main)) {
    if (!visible(el) || el.closest('svg') || el.disabled) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const back = backdrop(el);
    const fore = over(rgba(getComputedStyle(el).color), back);
    const [hi, lo] = [luminance(fore), luminance(back)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    checked += 1;
    lowest = Math.min(lowest, ratio);
    if (ratio < 4.5) problems.push(`${where(el)} contrast ${ratio.toFixed(2)}:1 (${getComputedStyle(el).color} on rgb(${back.slice(0, 3).map(Math.round)}))`);
  }
  return { problems, checked, lowest };
})()"""


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
def test_the_live_pages_meet_the_accessibility_basics(
    site: Site, tmp_path: Path, lang: str
) -> None:
    problems: list[str] = []
    with open_browser(tmp_path, lang, "phone") as browser:
        give_wallet_coupons(browser, site)
        for page in PAGES:
            load(browser, site, page)
            found = browser.evaluate(LIVE_CHECKS)
            assert found["checked"] > 10, (page, found)  # the contrast saw the page's text
            problems += [f"{page}: {p}" for p in found["problems"]]
        # The checks themselves find faint text, an unlabelled field and an SVG without text.
        browser.evaluate(
            "(() => { const p = document.createElement('p'); p.textContent = 'Faint';"
            " p.style.color = '#bbbbbb'; const i = document.createElement('input'); i.id = 'bare';"
            " const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');"
            " svg.setAttribute('width', '10'); svg.setAttribute('height', '10');"
            " document.querySelector('main').append(p, i, svg); return true; })()"
        )
        planted = browser.evaluate(LIVE_CHECKS)["problems"]
        assert planted == [
            '<input id=bare> "" has no label',
            '<svg> "" has no role=img with a text alternative',
            '<p> "Faint" contrast 1.76:1 (rgb(187, 187, 187) on rgb(243,246,244))',
        ], planted
    assert problems == [], "\n".join(problems)


# -- keyboard ------------------------------------------------------------------------------------

KEYS = {
    "Tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "Enter": {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
    "Space": {"key": " ", "code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
}

# Every visible, enabled element a keyboard user must reach, numbered (radio groups count once).
MARK_INTERACTIVE = r"""(() => {
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const seen = new Set();
  let n = 0;
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]')) {
    delete el.dataset.kbd;
    if (!visible(el) || el.disabled || el.closest('[inert]')) continue;
    if (el.type === 'radio') { if (seen.has(el.name)) continue; seen.add(el.name); }
    el.dataset.kbd = String(n++);
  }
  return n;
})()"""
FOCUSED = (
    "(() => { const el = document.activeElement;"
    " const group = el?.type === 'radio' ? document.querySelector(`[name=\"${el.name}\"][data-kbd]`) : el;"
    " if (!group?.dataset.kbd) return null;"
    " const style = getComputedStyle(el);"
    " const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)"
    "   || style.boxShadow !== 'none';"
    " return [group.dataset.kbd, ring]; })()"
)
DESCRIBE = (
    "[...document.querySelectorAll('[data-kbd]')].filter((el) => !REACHED.includes(el.dataset.kbd))"
    ".map((el) => `<${el.tagName.toLowerCase()}${el.id ? ' id=' + el.id : ''}> "
    '"${el.textContent.trim().slice(0, 30)}"`)'
)


def press(browser: Browser, key: str) -> None:
    for kind in ("keyDown", "keyUp"):
        event = dict(KEYS[key])
        if kind == "keyUp":
            event.pop("text", None)
        browser.command("Input.dispatchKeyEvent", {"type": kind, **event}, session=True)


def tab_to(browser: Browser, id_: str, limit: int = 200) -> None:
    """Press Tab until the element ``id_`` has the focus (fails after ``limit`` presses)."""
    for _ in range(limit):
        if browser.evaluate("document.activeElement?.id") == id_:
            return
        press(browser, "Tab")
    raise AssertionError(f"#{id_} was not reached with Tab in {limit} presses")


def unreached_by_tab(browser: Browser) -> list[str]:
    """The interactive elements Tab never reaches, going once round the page, and those it
    reaches without a visible focus indicator."""
    total = browser.evaluate(MARK_INTERACTIVE)
    browser.evaluate("document.activeElement?.blur(); true")
    reached: set[str] = set()
    unringed: set[str] = set()
    for _ in range(total + 10):
        press(browser, "Tab")
        focused = browser.evaluate(FOCUSED)
        if focused is not None:
            reached.add(focused[0])
            if not focused[1]:
                unringed.add(focused[0])
    missing: list[str] = browser.evaluate(DESCRIBE.replace("REACHED", json.dumps(sorted(reached))))
    # Reached, but nothing shows where the focus is (no outline, no shadow).
    ringed = sorted(set(map(str, range(total))) - unringed)
    missing += [
        f"{m} shows no focus ring"
        for m in browser.evaluate(DESCRIBE.replace("REACHED", json.dumps(ringed)))
    ]
    return missing


def test_every_control_is_reached_by_tab_and_the_main_actions_work_by_keyboard(
    site: Site, tmp_path: Path
) -> None:
    unreached: list[str] = []
    with open_browser(tmp_path, "en-US", "phone") as browser:
        # Create a wallet: Tab to the name, type it, Tab to the button, Space.
        browser.goto(f"{site.url}/wallet")
        browser.wait_for("document.getElementById('wallet')?.dataset.state === 'empty'")
        unreached += [f"wallet (empty): {m}" for m in unreached_by_tab(browser)]
        # The walk itself finds a control that Tab skips.
        browser.evaluate(
            "(() => { const b = document.createElement('button'); b.id = 'skipped';"
            " b.tabIndex = -1; b.textContent = 'Skipped'; const r = document.createElement('button');"
            " r.id = 'ringless'; r.textContent = 'Ringless'; r.style.outline = 'none';"
            " document.querySelector('main').append(b, r); return true; })()"
        )
        assert unreached_by_tab(browser) == [
            '<button id=skipped> "Skipped"',
            '<button id=ringless> "Ringless" shows no focus ring',
        ]
        browser.evaluate(
            "['skipped', 'ringless'].forEach((i) => document.getElementById(i).remove()); true"
        )
        tab_to(browser, "create-name")
        browser.command("Input.insertText", {"text": "Keyboard"}, session=True)
        tab_to(browser, "create-submit")
        press(browser, "Space")
        browser.wait_for(
            "document.getElementById('wallet').dataset.state === 'ready'", what="created by Space"
        )
        mine = browser.evaluate("document.getElementById('wallet-address').dataset.address")

        # Pledge one coupon: Tab to the pledge button, Enter.
        load(browser, site, "campaign")
        assert browser.evaluate("document.getElementById('pledge-form').dataset.wallet") == "ready"
        unreached += [f"campaign: {m}" for m in unreached_by_tab(browser)]
        tab_to(browser, "pledge-count")
        browser.evaluate("document.getElementById('pledge-count').select(); true")
        browser.command("Input.insertText", {"text": "1"}, session=True)
        tab_to(browser, "pledge-submit")
        press(browser, "Enter")
        result = "document.getElementById('pledge-result')"
        state = browser.wait_for(
            f"['done', 'refused'].includes({result}.dataset.state) && {result}.dataset.state",
            what="the pledge made with Enter",
        )
        assert state == "done", browser.evaluate(f"{result}.textContent")
        pledge = browser.evaluate(f"{result}.dataset.pledge")
        confirmed = site.shop.client.post(
            f"/v1/campaigns/{GCN}/pledges/{pledge}/confirm",
            json={"payment_reference": "keyboard"},
            headers=site.shop.farm,
        )
        assert confirmed.status_code == 200, confirmed.text
        (coupon,) = confirmed.json()["coupons"]

        # Send it to Bob: Tab to the address, type it, Tab to the button, Space.
        load(browser, site, "wallet")
        unreached += [f"wallet: {m}" for m in unreached_by_tab(browser)]
        tab_to(browser, "send-to")
        browser.command("Input.insertText", {"text": address(BOB)}, session=True)
        tab_to(browser, "send-submit")
        press(browser, "Space")
        sent = browser.wait_for(
            "(() => { const r = document.getElementById('send-result');"
            " return ['accepted', 'anchored', 'failed'].includes(r.dataset.state) && r.dataset.state; })()",
            what="the transfer sent with Space",
        )
        assert sent != "failed", browser.evaluate(
            "document.getElementById('send-result').textContent"
        )
        assert site.shop.client.get(f"/v1/coupons/{coupon}").json()["holder"] == address(BOB)
        assert mine != address(BOB)

        for page in ("coupon", "market"):
            load(browser, site, page)
            unreached += [f"{page}: {m}" for m in unreached_by_tab(browser)]
        assert browser.console == [], browser.console
    assert unreached == [], "\n".join(unreached)


def test_results_with_long_codes_fit_a_phone(site: Site, tmp_path: Path) -> None:
    """What the scripts write after an action (a refusal quoting 64-digit addresses, a redeem
    code, the coupon badge's failure naming a step) stays within a phone's width."""
    shots = Path(os.environ.get("FARMTRACE_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def fits(browser: Browser, what: str) -> None:
        fit = browser.evaluate(OVERFLOW.replace("WIDTH", str(SIZES["phone"][0])))
        wide = max(fit["scrollWidth"], fit["innerWidth"])
        if wide > SIZES["phone"][0]:
            problems.append(f"{what}: {wide} px wide: {fit['out']}")
        screenshot(browser, shots / f"{what}-390x844.png")
        # The result's colours (red on red wash, amber, green) keep their contrast too.
        problems.extend(f"{what}: {p}" for p in browser.evaluate(LIVE_CHECKS)["problems"])

    with open_browser(tmp_path, "en-US", "phone") as browser:
        mine = give_wallet_coupons(browser, site)
        (held,) = [c["coupon"] for c in site.shop.client.get(f"/v1/coupons?holder={mine}").json()]
        load(browser, site, "wallet")
        # Redeem code shown.
        browser.evaluate(f"document.getElementById('redeem-coupon').value = {js(held)}; true")
        browser.evaluate("document.getElementById('redeem-submit').click(); true")
        browser.wait_for("document.getElementById('redeem-result').dataset.state === 'shown'")
        fits(browser, "wallet-redeem")
        # A send the page refuses, quoting the holder's address: the coupon left in another tab.
        browser.evaluate(
            "(async () => { const keys = await import('/static/wallet/keys.js');"
            " const w = await keys.currentWallet();"
            " const s = await import('/static/wallet/statements.js');"
            " const api = await import('/static/wallet/api.js');"
            f" const head = s.parseCouponView({js(held)}, await api.getCoupon({js(held)}));"
            f" const t = await s.transferStatement(head, w, {js(address(BOB))}, {{ price: null }});"
            f" await api.postTransfer({js(held)}, t.base64); return true; }})()"
        )
        browser.evaluate(
            f"document.getElementById('send-to').value = {js(address(ALICE))};"
            "document.getElementById('send-submit').click(); true"
        )
        browser.wait_for("document.getElementById('send-result').dataset.state === 'failed'")
        fits(browser, "wallet-refused")
        # The market's list form for a coupon that left the wallet after the page was read.
        give_wallet_coupons(browser, site, "Dan")
        load(browser, site, "market")
        browser.wait_for("document.getElementById('list-coupon').options.length > 0")
        moved = browser.evaluate("document.getElementById('list-coupon').value")
        browser.evaluate(
            "(async () => { const keys = await import('/static/wallet/keys.js');"
            " const w = await keys.currentWallet();"
            " const s = await import('/static/wallet/statements.js');"
            " const api = await import('/static/wallet/api.js');"
            f" const head = s.parseCouponView({js(moved)}, await api.getCoupon({js(moved)}));"
            f" const t = await s.transferStatement(head, w, {js(address(BOB))}, {{ price: null }});"
            f" await api.postTransfer({js(moved)}, t.base64); return true; }})()"
        )
        browser.evaluate(
            "document.getElementById('list-price').value = '50.00';"
            "document.getElementById('list-submit').click(); true"
        )
        kind = browser.wait_for(
            "['ok', 'error'].includes(document.getElementById('market-message').dataset.kind)"
            " && document.getElementById('market-message').dataset.kind"
        )
        assert kind == "error", browser.evaluate(
            "document.getElementById('market-message').textContent"
        )
        fits(browser, "market-refused")
        # A coupon whose last transfer is not anchored yet: the badge and history say pending.
        browser.goto(f"{site.url}/255/{held}")
        state = browser.wait_for(
            "['verified', 'pending', 'failed'].includes("
            "document.getElementById('coupon-proof')?.dataset.state)"
            " && document.getElementById('coupon-proof').dataset.state"
        )
        assert state == "pending", state
        fits(browser, "coupon-pending")
        # The coupon badge naming the failing step: the sale's stored price altered.
        where = {"serial": 1, "move": 1}
        assert update_row(site.shop.served.db_url, "coupon_moves", where, {"price_amount": 1}) == 1
        load(browser, site, "coupon")
        assert browser.evaluate("document.getElementById('coupon-proof').dataset.state") == "failed"
        browser.evaluate(
            "document.querySelectorAll('#coupon-proof details').forEach((d) => d.open = true); true"
        )
        fits(browser, "coupon-failed")
    assert problems == [], "\n".join(problems)


def tab_to_match(browser: Browser, selector: str, limit: int = 200) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if browser.evaluate(f"!!document.activeElement?.matches({js(selector)})"):
            return
        press(browser, "Tab")
    raise AssertionError(f"{selector} was not reached with Tab in {limit} presses")


def test_the_market_by_keyboard(site: Site, tmp_path: Path) -> None:
    """List with Enter on the market page, offer with Space from another wallet, sell with
    Enter twice (arm, confirm) in the seller's wallet panel."""
    panel_message = (
        "(() => { const m = document.getElementById('ID');"
        " return m && ['ok', 'error'].includes(m.dataset.kind) && [m.dataset.kind, m.textContent]; })()"
    )
    with open_browser(tmp_path, "en-US", "phone") as browser:
        seller = give_wallet_coupons(browser, site)
        load(browser, site, "market")
        browser.wait_for("document.getElementById('list-coupon').options.length > 0")
        tab_to(browser, "list-price")
        browser.command("Input.insertText", {"text": "48.00"}, session=True)
        tab_to(browser, "list-submit")
        press(browser, "Enter")
        kind, words = browser.wait_for(panel_message.replace("ID", "market-message"))
        assert kind == "ok", words
        listings = site.shop.client.get(f"/v1/campaigns/{GCN}/listings").json()["open"]
        (mine,) = [item for item in listings if item["seller"] == seller]

        buyer = browser.evaluate(
            "import('/static/wallet/keys.js').then((k) => k.createWallet('Erin')).then((w) => w.address)"
        )
        load(browser, site, "market")
        offer = f'li[data-listing="{mine["id"]}"] button[data-action=offer]'
        browser.wait_for(f"document.querySelector({js(offer)})?.disabled === false")
        tab_to_match(browser, offer)
        press(browser, "Space")
        kind, words = browser.wait_for(panel_message.replace("ID", "market-message"))
        assert kind == "ok", words

        browser.evaluate("import('/static/wallet/keys.js').then((k) => k.selectWallet('Carol'))")
        load(browser, site, "wallet")
        sell = f'#market-selling li[data-buyer="{buyer}"] button[data-action=sell]'
        browser.wait_for(f"!!document.querySelector({js(sell)})", what="the offer in the panel")
        tab_to_match(browser, sell)
        press(browser, "Enter")
        assert browser.evaluate(f"document.querySelector({js(sell)}).dataset.armed") == "1"
        assert browser.evaluate(f"document.activeElement.matches({js(sell)})")
        press(browser, "Enter")
        kind, words = browser.wait_for(panel_message.replace("ID", "market-panel-message"))
        assert kind == "ok", words
        assert browser.console == [], browser.console
    assert site.shop.client.get(f"/v1/listings/{mine['id']}").json()["ended"] == "sold"
    assert site.shop.client.get(f"/v1/coupons/{mine['coupon']}").json()["holder"] == buyer


# Where the pages' scripts write a result that may quote the server's words.
MESSAGE_REGIONS = {
    "campaign": ("pledge-result",),
    "market": ("market-message",),
    "wallet": ("wallet-message", "send-result", "redeem-result", "market-panel-message"),
}


def test_every_message_region_wraps_a_long_refusal(site: Site, tmp_path: Path) -> None:
    """Each place a script writes the API's words, given a refusal that quotes a 64-digit
    address and state (as a 409 does), keeps the page within a phone's width."""
    refusal = (
        f"Refused: cannot transfer coupon {SOLD}: it is held by {address(BOB)} "
        f"(fingerprint {address(BOB)[:16]}), its current state is {'e8' * 32} after 1 moves"
    )
    problems: list[str] = []
    with open_browser(tmp_path, "en-US", "phone") as browser:
        give_wallet_coupons(browser, site)
        for page, regions in MESSAGE_REGIONS.items():
            load(browser, site, page)
            for region in regions:
                found = browser.evaluate(
                    f"(() => {{ const m = document.getElementById({js(region)});"
                    " if (!m) return false; m.hidden = false;"
                    " for (let p = m.parentElement; p; p = p.parentElement) p.hidden = false;"
                    " m.dataset.kind = 'error'; m.dataset.state = m.dataset.state ? 'failed' : '';"
                    f" m.textContent = {js(refusal)}; return true; }})()"
                )
                assert found, f"{page}: no #{region}"
                fit = browser.evaluate(OVERFLOW.replace("WIDTH", str(SIZES["phone"][0])))
                wide = max(fit["scrollWidth"], fit["innerWidth"])
                if wide > SIZES["phone"][0] or fit["out"]:
                    problems.append(f"{page} #{region}: {wide} px wide: {fit['out']}")
    assert problems == [], "\n".join(problems)
