# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The browser wallet's page (``/wallet``) as HTML: :func:`render_wallet_page`.

Server-rendered, mobile first, in Chinese or English (chosen like the provenance page's:
``?lang=`` over ``Accept-Language``). Every control has a label and is reachable by keyboard;
nothing inline (no script, style or handler: the CSP of
:mod:`farmtrace.api.http.headers` holds). The page works only with JavaScript: the module
``/static/wallet/wallet.js`` fills it, with the keys in the browser (``keys.js``; WebCrypto
Ed25519, IndexedDB), and says so when the browser lacks WebCrypto Ed25519.

Scripting contract (stable for end-to-end tests; ids unless noted):

* ``main#wallet`` ``data-state``: ``loading``, then ``ready`` (a wallet is current),
  ``empty`` (no wallet yet) or ``unsupported`` (no WebCrypto Ed25519 here); ``data-lang``.
  ``data-busy`` is present while an action runs.
* ``#wallet-message`` (``role=status``): the last action's outcome, ``data-kind`` ``ok`` or
  ``error``; errors carry the server's own detail text.
* Wallets: ``#wallet-select`` (the current wallet, one option a wallet, value its name),
  ``#wallet-delete``; ``#create-form`` with ``#create-name``, ``#create-backup`` (checkbox:
  allow backup = extractable key), ``#create-submit``. ``#wallet-address`` ``data-address``.
* Backup: ``#backup-form`` (``#backup-passphrase``, ``#backup-confirm``, ``#backup-submit``;
  the file is offered as ``a#backup-download``), ``#backup-locked`` shown for a wallet made
  without backup, with ``#backup-new`` (starts a wallet with backup allowed); restore:
  ``#restore-form`` (``#restore-file``, ``#restore-passphrase``, ``#restore-submit``).
* Receive: ``#receive-address`` (text), ``#receive-qr`` (the SVG), ``#receive-copy``.
* Coupons: ``#coupons-refresh``, ``ul#coupon-list`` of ``li[data-coupon=ID]`` with
  ``data-status``, ``data-state``, ``data-moves``, a link ``a.coupon-link`` to ``/255/{ID}``, and
  buttons ``button[data-action=send|redeem]``.
* ``section#send`` and ``section#redeem`` are hidden while the wallet holds no active coupon.
* Send: ``#send-form`` (``#send-coupon`` select, ``#send-to``, ``#send-scan`` when the browser
  has BarcodeDetector and a camera, ``video#send-video``, ``#send-price-amount`` in major
  units, ``#send-price-currency``, ``#send-submit``); ``#send-result`` ``data-state``
  ``signing``, ``accepted``, ``anchored`` or ``failed``, ``data-statement-state``.
* Redeem: ``#redeem-form`` (``#redeem-coupon``, ``#redeem-submit``); ``#redeem-qr`` (the SVG),
  ``textarea#redeem-text`` (the statement in base64), ``#redeem-result`` ``data-state``
  ``shown`` or ``failed``.
* ``section#market-panel[data-module]``: left empty here; the module it names is loaded when
  it exists (the coupon market's panel), called as ``mount(section, context)`` if it exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from farmtrace.api.services.page.model import Lang

__all__ = ["MARKET_PANEL_MODULE", "SCRIPT", "STYLESHEETS", "render_wallet_page"]

SCRIPT = "/static/wallet/wallet.js"
STYLESHEETS = ("/static/page/page.css", "/static/wallet/wallet.css")
MARKET_PANEL_MODULE = "/static/market/wallet_panel.js"
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}

_TEXT: dict[str, dict[Lang, str]] = {
    "title": {"en": "Wallet · farmtrace", "zh": "钱包 · farmtrace"},
    "heading": {"en": "Your wallet", "zh": "我的钱包"},
    "intro": {
        "en": "Hold coupons for a farm's harvest, send them to anyone, and show one at pickup. "
        "Your keys are made and kept in this browser; nothing secret leaves it.",
        "zh": "持有农场收成的提货券，转给任何人，取货时出示。密钥在本浏览器中生成并保存，任何秘密都不会离开它。",
    },
    "lang_nav": {"en": "Language", "zh": "语言"},
    "noscript": {
        "en": "The wallet needs JavaScript: its keys are made and used by this page in your browser.",
        "zh": "钱包需要 JavaScript：密钥由本页在您的浏览器中生成和使用。",
    },
    "unsupported": {
        "en": "This browser cannot make Ed25519 keys with WebCrypto, so it cannot hold a "
        "wallet. A recent Chrome, Edge, Firefox or Safari can.",
        "zh": "此浏览器无法用 WebCrypto 生成 Ed25519 密钥，因此不能使用钱包。请使用较新的 Chrome、Edge、Firefox 或 Safari。",
    },
    "loss_heading": {"en": "Before you start", "zh": "开始之前"},
    "loss": {
        "en": "A wallet's key exists only in this browser on this device. If you lose the "
        "device, reset it, or clear this site's data without a backup file, the coupons "
        "the wallet holds are lost for good: nobody (not the farm, not farmtrace) can move "
        "or redeem them for you.",
        "zh": "钱包的密钥只存在于本设备的这个浏览器中。如果没有备份文件而丢失设备、重置设备或清除本网站数据，钱包中的提货券将永久丢失：任何人（包括农场和 farmtrace）都无法替您转让或兑换。",
    },
    "loss_backup": {
        "en": "Make the wallet with “allow backup” and save a backup file somewhere safe, "
        "or send your coupons to a wallet that has one.",
        "zh": "创建钱包时勾选“允许备份”，并把备份文件保存在安全的地方；或把提货券转到已备份的钱包。",
    },
    "wallets": {"en": "Wallets", "zh": "钱包"},
    "current": {"en": "Current wallet", "zh": "当前钱包"},
    "delete": {"en": "Delete this wallet", "zh": "删除此钱包"},
    "address": {"en": "Address", "zh": "地址"},
    "none_yet": {"en": "No wallet in this browser yet.", "zh": "此浏览器中还没有钱包。"},
    "create": {"en": "New wallet", "zh": "新建钱包"},
    "create_name": {"en": "Name (only you see it)", "zh": "名称（仅您可见）"},
    "create_backup": {
        "en": "Allow backup (the key can be saved, encrypted, to a file)",
        "zh": "允许备份（密钥可加密保存到文件）",
    },
    "create_backup_hint": {
        "en": "Without it the key can never leave this browser: safer from theft, lost with "
        "the device.",
        "zh": "不勾选时密钥永远无法离开此浏览器：更难被盗，但设备丢失即随之丢失。",
    },
    "create_submit": {"en": "Create wallet", "zh": "创建钱包"},
    "backup": {"en": "Backup and restore", "zh": "备份与恢复"},
    "backup_text": {
        "en": "The backup file holds the wallet's key encrypted with your passphrase "
        "(PBKDF2-SHA-256, 600,000 rounds, AES-256-GCM). Whoever has the file and the "
        "passphrase owns the coupons; without the passphrase the file is useless.",
        "zh": "备份文件包含用您的口令加密的钱包密钥（PBKDF2-SHA-256，600,000 轮，AES-256-GCM）。"
        "同时拥有文件和口令的人即拥有这些提货券；没有口令，文件毫无用处。",
    },
    "backup_locked": {
        "en": "This wallet was made without “allow backup”: its key cannot leave this "
        "browser, so it cannot be backed up. To be safe, create a wallet with backup allowed, "
        "back it up, and send your coupons to it.",
        "zh": "此钱包创建时未勾选“允许备份”：密钥无法离开此浏览器，因此不能备份。为安全起见，请新建一个允许备份的钱包，备份后把提货券转给它。",
    },
    "backup_new": {"en": "Create a wallet with backup allowed", "zh": "新建允许备份的钱包"},
    "passphrase": {"en": "Passphrase (at least 8 characters)", "zh": "口令（至少 8 个字符）"},
    "passphrase_confirm": {"en": "Passphrase again", "zh": "再次输入口令"},
    "backup_submit": {"en": "Make backup file", "zh": "生成备份文件"},
    "backup_download": {"en": "Save the backup file", "zh": "保存备份文件"},
    "restore": {"en": "Restore from a backup file", "zh": "从备份文件恢复"},
    "restore_file": {"en": "Backup file", "zh": "备份文件"},
    "restore_passphrase": {"en": "The backup's passphrase", "zh": "备份的口令"},
    "restore_submit": {"en": "Restore", "zh": "恢复"},
    "receive": {"en": "Receive", "zh": "接收"},
    "receive_text": {
        "en": "Give this address (or let them scan the code) to whoever sends you a coupon.",
        "zh": "把此地址（或二维码）给向您转让提货券的人。",
    },
    "copy": {"en": "Copy address", "zh": "复制地址"},
    "coupons": {"en": "Your coupons", "zh": "我的提货券"},
    "refresh": {"en": "Refresh", "zh": "刷新"},
    "coupons_none": {"en": "No coupons yet.", "zh": "还没有提货券。"},
    "send": {"en": "Send a coupon", "zh": "转让提货券"},
    "send_text": {
        "en": "The transfer is signed here, with this wallet's key, and sent to the farm's "
        "chain; once accepted only the new holder can move the coupon.",
        "zh": "转让在此处用本钱包的密钥签名并提交到农场的链上；一旦被接受，只有新持有人才能转让该提货券。",
    },
    "coupon": {"en": "Coupon", "zh": "提货券"},
    "send_to": {"en": "Recipient's address (64 hex digits)", "zh": "收款人地址（64 位十六进制）"},
    "scan": {"en": "Scan a QR code", "zh": "扫描二维码"},
    "scan_stop": {"en": "Stop scanning", "zh": "停止扫描"},
    "price": {
        "en": "Declared price (optional; paid outside farmtrace)",
        "zh": "申报价格（可选；付款在 farmtrace 之外进行）",
    },
    "price_amount": {"en": "Amount", "zh": "金额"},
    "price_currency": {"en": "Currency (ISO 4217)", "zh": "币种（ISO 4217）"},
    "send_submit": {"en": "Sign and send", "zh": "签名并转让"},
    "redeem": {"en": "Redeem at pickup", "zh": "取货兑换"},
    "redeem_text": {
        "en": "Shows a signed redeem statement for the farm to scan when it hands over the "
        "goods. Show it to the farm only: until the coupon moves, it is worth the coupon.",
        "zh": "生成签名的兑换声明，供农场交货时扫描。只向农场出示：在提货券转让之前，它与提货券等值。",
    },
    "redeem_submit": {"en": "Show redeem code", "zh": "显示兑换码"},
    "redeem_statement": {"en": "Redeem statement (base64)", "zh": "兑换声明（base64）"},
    "market": {"en": "Coupon market", "zh": "提货券市场"},
    "lang_zh": {"en": "中文", "zh": "中文"},
    "lang_en": {"en": "English", "zh": "English"},
}


def _t(lang: Lang, key: str) -> str:
    return _TEXT[key][lang]


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _top(lang: Lang, lang_hrefs: Mapping[str, str]) -> str:
    links = []
    for code in ("zh", "en"):
        name = _e(_t(lang, f"lang_{code}"))
        html_lang = _HTML_LANG[code]
        current = ' aria-current="page"' if code == lang else f' hreflang="{html_lang}"'
        links.append(f'<a href="{_e(lang_hrefs[code])}" lang="{html_lang}"{current}>{name}</a>')
    return (
        '<div class="top"><a class="brand" href="/">farmtrace</a>'
        f'<nav class="langs" aria-label="{_e(_t(lang, "lang_nav"))}">{" / ".join(links)}</nav>'
        "</div>"
    )


def _field(lang: Lang, id_: str, key: str, control: str) -> str:
    return f'<div class="field"><label for="{id_}">{_e(_t(lang, key))}</label>{control}</div>'


def _wallets(lang: Lang) -> str:
    return (
        '<section id="wallets" aria-labelledby="wallets-h">'
        f'<h2 id="wallets-h">{_e(_t(lang, "wallets"))}</h2>'
        f'<p id="wallet-none" class="muted" hidden>{_e(_t(lang, "none_yet"))}</p>'
        '<div id="wallet-current" hidden>'
        + _field(lang, "wallet-select", "current", '<select id="wallet-select"></select>')
        + f'<p class="address-line"><span class="label">{_e(_t(lang, "address"))}</span> '
        '<code id="wallet-address" data-address=""></code></p>'
        f'<button type="button" id="wallet-delete" class="secondary danger">'
        f"{_e(_t(lang, 'delete'))}</button></div>"
        '<form id="create-form" novalidate>'
        f"<h3>{_e(_t(lang, 'create'))}</h3>"
        + _field(
            lang,
            "create-name",
            "create_name",
            '<input id="create-name" name="name" type="text" maxlength="64" required '
            'autocomplete="off">',
        )
        + '<div class="check"><input id="create-backup" name="backup" type="checkbox" '
        'aria-describedby="create-backup-hint">'
        f'<label for="create-backup">{_e(_t(lang, "create_backup"))}</label></div>'
        f'<p id="create-backup-hint" class="hint">{_e(_t(lang, "create_backup_hint"))}</p>'
        f'<button type="submit" id="create-submit">{_e(_t(lang, "create_submit"))}</button>'
        "</form></section>"
    )


def _backup(lang: Lang) -> str:
    return (
        '<section id="backup" aria-labelledby="backup-h">'
        f'<h2 id="backup-h">{_e(_t(lang, "backup"))}</h2>'
        f"<p>{_e(_t(lang, 'backup_text'))}</p>"
        f'<div id="backup-locked" class="notice warn" hidden><p>{_e(_t(lang, "backup_locked"))}</p>'
        f'<button type="button" id="backup-new" class="secondary">{_e(_t(lang, "backup_new"))}'
        "</button></div>"
        '<form id="backup-form" novalidate hidden>'
        + _field(
            lang,
            "backup-passphrase",
            "passphrase",
            '<input id="backup-passphrase" type="password" minlength="8" required '
            'autocomplete="new-password">',
        )
        + _field(
            lang,
            "backup-confirm",
            "passphrase_confirm",
            '<input id="backup-confirm" type="password" minlength="8" required '
            'autocomplete="new-password">',
        )
        + f'<button type="submit" id="backup-submit">{_e(_t(lang, "backup_submit"))}</button>'
        f'<p><a id="backup-download" href="#" download hidden>{_e(_t(lang, "backup_download"))}'
        "</a></p></form>"
        '<form id="restore-form" novalidate>'
        f"<h3>{_e(_t(lang, 'restore'))}</h3>"
        + _field(
            lang,
            "restore-file",
            "restore_file",
            '<input id="restore-file" type="file" accept="application/json,.json" required>',
        )
        + _field(
            lang,
            "restore-passphrase",
            "restore_passphrase",
            '<input id="restore-passphrase" type="password" required '
            'autocomplete="current-password">',
        )
        + f'<button type="submit" id="restore-submit">{_e(_t(lang, "restore_submit"))}</button>'
        "</form></section>"
    )


def _receive(lang: Lang) -> str:
    return (
        '<section id="receive" aria-labelledby="receive-h" hidden>'
        f'<h2 id="receive-h">{_e(_t(lang, "receive"))}</h2>'
        f"<p>{_e(_t(lang, 'receive_text'))}</p>"
        '<div id="receive-qr" class="qr"></div>'
        '<p><code id="receive-address" class="address"></code></p>'
        f'<button type="button" id="receive-copy" class="secondary">{_e(_t(lang, "copy"))}</button>'
        "</section>"
    )


def _coupons(lang: Lang) -> str:
    return (
        '<section id="coupons" aria-labelledby="coupons-h" hidden>'
        f'<div class="row"><h2 id="coupons-h">{_e(_t(lang, "coupons"))}</h2>'
        f'<button type="button" id="coupons-refresh" class="secondary">{_e(_t(lang, "refresh"))}'
        "</button></div>"
        f'<p id="coupons-none" class="muted" hidden>{_e(_t(lang, "coupons_none"))}</p>'
        '<ul id="coupon-list" class="coupons"></ul></section>'
    )


def _send(lang: Lang) -> str:
    return (
        '<section id="send" aria-labelledby="send-h" hidden>'
        f'<h2 id="send-h">{_e(_t(lang, "send"))}</h2>'
        f"<p>{_e(_t(lang, 'send_text'))}</p>"
        '<form id="send-form" novalidate>'
        + _field(lang, "send-coupon", "coupon", '<select id="send-coupon" required></select>')
        + _field(
            lang,
            "send-to",
            "send_to",
            '<input id="send-to" type="text" inputmode="text" autocomplete="off" '
            'spellcheck="false" maxlength="200" required>',
        )
        + f'<button type="button" id="send-scan" class="secondary" hidden '
        f'data-stop="{_e(_t(lang, "scan_stop"))}">{_e(_t(lang, "scan"))}</button>'
        '<video id="send-video" class="scanner" muted playsinline hidden></video>'
        f'<fieldset class="price"><legend>{_e(_t(lang, "price"))}</legend>'
        + _field(
            lang,
            "send-price-amount",
            "price_amount",
            '<input id="send-price-amount" type="text" inputmode="decimal" autocomplete="off" '
            'maxlength="20">',
        )
        + _field(
            lang,
            "send-price-currency",
            "price_currency",
            '<input id="send-price-currency" type="text" maxlength="3" value="CNY" '
            'autocomplete="off" spellcheck="false">',
        )
        + "</fieldset>"
        f'<button type="submit" id="send-submit">{_e(_t(lang, "send_submit"))}</button>'
        "</form>"
        '<div id="send-result" class="result" data-state="idle" aria-live="polite"></div>'
        "</section>"
    )


def _redeem(lang: Lang) -> str:
    return (
        '<section id="redeem" aria-labelledby="redeem-h" hidden>'
        f'<h2 id="redeem-h">{_e(_t(lang, "redeem"))}</h2>'
        f"<p>{_e(_t(lang, 'redeem_text'))}</p>"
        '<form id="redeem-form" novalidate>'
        + _field(lang, "redeem-coupon", "coupon", '<select id="redeem-coupon" required></select>')
        + f'<button type="submit" id="redeem-submit">{_e(_t(lang, "redeem_submit"))}</button>'
        "</form>"
        '<div id="redeem-result" class="result" data-state="idle" aria-live="polite">'
        '<div id="redeem-qr" class="qr"></div>'
        '<div class="field" id="redeem-text-field" hidden>'
        f'<label for="redeem-text">{_e(_t(lang, "redeem_statement"))}</label>'
        '<textarea id="redeem-text" readonly rows="5" spellcheck="false"></textarea></div>'
        "</div></section>"
    )


def render_wallet_page(lang: Lang, lang_hrefs: Mapping[str, str]) -> str:
    """The wallet page's HTML in ``lang``; ``lang_hrefs`` the page's address in each language."""
    if lang not in ("en", "zh"):
        raise ValueError(f"language {lang!r} must be 'en' or 'zh'")
    sheets = "".join(f'<link rel="stylesheet" href="{href}">' for href in STYLESHEETS)
    body = (
        f'<main id="wallet" class="wallet" data-state="loading" data-lang="{lang}">'
        f'<header class="product">{_top(lang, lang_hrefs)}'
        f"<h1>{_e(_t(lang, 'heading'))}</h1>"
        f'<p class="tagline">{_e(_t(lang, "intro"))}</p>'
        f'<noscript><p class="notice warn">{_e(_t(lang, "noscript"))}</p></noscript>'
        f'<p id="wallet-unsupported" class="notice bad" hidden>{_e(_t(lang, "unsupported"))}</p>'
        '<p id="wallet-message" role="status" aria-live="polite" data-kind=""></p>'
        "</header>"
        '<section id="loss" class="notice-section" aria-labelledby="loss-h">'
        f'<h2 id="loss-h">{_e(_t(lang, "loss_heading"))}</h2>'
        f'<p id="loss-warning"><strong>{_e(_t(lang, "loss"))}</strong></p>'
        f"<p>{_e(_t(lang, 'loss_backup'))}</p></section>"
        + _wallets(lang)
        + _receive(lang)
        + _coupons(lang)
        + _send(lang)
        + _redeem(lang)
        + _backup(lang)
        + f'<section id="market-panel" data-module="{MARKET_PANEL_MODULE}" '
        f'aria-label="{_e(_t(lang, "market"))}" hidden></section>'
        "</main>"
    )
    return (
        "<!doctype html>\n"
        f'<html lang="{_HTML_LANG[lang]}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        '<meta name="referrer" content="no-referrer">'
        '<link rel="icon" href="data:,">'  # no favicon request (and no 404 in the console)
        f"<title>{_e(_t(lang, 'title'))}</title>{sheets}"
        f'<script type="module" src="{SCRIPT}"></script>'
        f"</head><body>{body}</body></html>\n"
    )
