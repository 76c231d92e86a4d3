"""Headless Chromium for the browser tests: find it, load a page, return its DOM.

``--dump-dom`` serialises the DOM once the page's scripts ran (``--virtual-time-budget`` lets
timers and fetches settle first); with ``console=True`` Chromium also writes the page's console
messages, Content-Security-Policy violations included, to stderr, returned line by line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["dump_dom", "load_page", "require_chromium"]

_CONSOLE = re.compile(r"^\[[^\]]*:CONSOLE[^\]]*\] (.*)$", re.M)


def require_chromium() -> str:
    """The path of Chromium; skip (or fail when CI=true) if it is missing."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_page(
    url: str, profile: Path, lang: str = "en-US", console: bool = False
) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and (with ``console``) its console messages."""
    logging = ["--enable-logging=stderr", "--v=0"] if console else []
    done = subprocess.run(
        [
            require_chromium(),
            "--headless",
            "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--lang={lang}",
            f"--accept-lang={lang}",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            *logging,
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, _CONSOLE.findall(done.stderr) if console else []


def dump_dom(url: str, profile: Path, lang: str = "en-US") -> str:
    """The page's DOM after its scripts ran, as Chromium serialises it."""
    return load_page(url, profile, lang)[0]
