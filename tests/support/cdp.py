"""Drive headless Chromium through the DevTools protocol over a pipe (no extra package).

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3 and
write answers and events to 4, each JSON message ended by a NUL byte. :class:`Browser` starts
it with a fresh profile, opens one page and offers what page tests need: navigate, evaluate an
expression (awaiting its promise), wait until an expression is truthy, and the console errors,
uncaught exceptions and CSP reports seen so far. :meth:`Browser.open_tab` opens another tab
of the same profile (two tabs of one wallet) and :meth:`Browser.use_tab` picks which tab the
page commands go to. It stops Chromium when closed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from support.chromium import require_chromium

__all__ = ["Browser", "BrowserError"]


class BrowserError(AssertionError):
    """The page threw, a command failed, or a wait timed out."""


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, profile: Path, lang: str = "en-US") -> None:
        cmd_read, cmd_write = os.pipe()
        event_read, event_write = os.pipe()
        # Close-on-exec copies numbered 10 and up, out of the way of 3 and 4, which the child's
        # dup2 writes (without close-on-exec, so Chromium keeps exactly those two).
        high_cmd = fcntl.fcntl(cmd_read, fcntl.F_DUPFD_CLOEXEC, 10)
        high_event = fcntl.fcntl(event_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_read)
        os.close(event_write)

        def child_fds() -> None:
            os.dup2(high_cmd, 3)
            os.dup2(high_event, 4)

        self._process = subprocess.Popen(
            [
                require_chromium(),
                "--headless",
                "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
                "--disable-gpu",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--lang={lang}",
                f"--accept-lang={lang}",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "about:blank",
            ],
            # close_fds would close 3 and 4 after preexec_fn; Python's own descriptors are
            # close-on-exec anyway (PEP 446).
            close_fds=False,
            preexec_fn=child_fds,  # only dup2 between fork and exec
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(high_cmd)
        os.close(high_event)
        self._out = os.fdopen(cmd_write, "wb", buffering=0)
        self._in = os.fdopen(event_read, "rb", buffering=0)
        self._next = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.console: list[str] = []
        """Console errors, uncaught exceptions and log entries of level error, as text."""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._session = ""
        self.open_tab()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = self._in.read(65536)
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._answers[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self._event(message)

    def _event(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.console.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text")
            self.console.append(f"exception: {description}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            where = f" {entry['url']}" if entry.get("url") else ""
            self.console.append(f"log ({entry.get('source')}): {entry.get('text')}{where}")

    def command(
        self, method: str, params: dict[str, Any] | None = None, *, session: bool = False,
        timeout: float = 30.0,
    ) -> dict[str, Any]:  # fmt: skip
        """Send one protocol command and return its result; BrowserError on a protocol error."""
        with self._cond:
            self._next += 1
            number = self._next
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while number not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self._process.poll() is not None:
                    raise BrowserError(f"no answer to {method} (Chromium exited or hung)")
                self._cond.wait(left)
            answer = self._answers.pop(number)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def open_tab(self) -> str:
        """Open a new tab (same profile, so the same IndexedDB) and send page commands to it
        from now on; the tab's session ID, for :meth:`use_tab`."""
        target = self.command("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.command(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.command(f"{domain}.enable", session=True)
        return self._session

    def use_tab(self, tab: str) -> None:
        """Send page commands to ``tab`` (a session ID from :meth:`open_tab`)."""
        self._session = tab

    @property
    def tab(self) -> str:
        """The session ID of the tab page commands go to now."""
        return self._session

    def goto(self, url: str) -> None:
        self.command("Page.navigate", {"url": url}, session=True)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The expression's value (a promise is awaited); BrowserError if it throws."""
        result = self.command(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=True,
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0, what: str = "") -> Any:
        """Evaluate ``expression`` until it is truthy (page reloads in between are fine)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = self.evaluate(expression)
            except BrowserError as error:
                last = str(error)
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise BrowserError(f"timed out waiting for {what or expression}; last value {last!r}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._out.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(5)
        self._in.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
