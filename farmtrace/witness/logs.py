"""The logs a witness trusts: a text file of ``log <vkey> [<url>]`` lines.

The same line as in a C2SP tlog-policy (c2sp.org/tlog-policy): the verifier key's name is the
log's origin, so a log is known by its checkpoints' first line. Blank lines and lines starting
with ``#`` are ignored; tabs count as spaces. An origin may be listed with several keys (a log
that rotated its key: a checkpoint signed by any of them is accepted). The same key twice is an
error. :class:`LogListError` names the line.
"""

from __future__ import annotations

from pathlib import Path

from farmtrace.tlog.errors import NoteError
from farmtrace.tlog.note import Verifier

__all__ = ["LogListError", "parse_log_list", "read_log_list"]


class LogListError(ValueError):
    """A trusted-log list that cannot be used."""


def parse_log_list(text: str, source: str = "log list") -> dict[str, list[Verifier]]:
    """The trusted keys by origin; :class:`LogListError` for a bad line or an empty list."""
    logs: dict[str, list[Verifier]] = {}
    seen: set[bytes] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        words = [w for w in line.replace("\t", " ").split(" ") if w]
        if not words or words[0].startswith("#"):
            continue
        if words[0] != "log" or len(words) not in (2, 3):
            raise LogListError(f"{source}, line {number}: want 'log <vkey> [<url>]'")
        try:
            key = Verifier.from_vkey(words[1])
        except NoteError as exc:
            raise LogListError(f"{source}, line {number}: {exc}") from None
        if key.public_key in seen:
            raise LogListError(f"{source}, line {number}: the same key is listed twice")
        seen.add(key.public_key)
        logs.setdefault(key.name, []).append(key)
    if not logs:
        raise LogListError(f"{source}: lists no log")
    return logs


def read_log_list(path: Path) -> dict[str, list[Verifier]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LogListError(f"cannot read the log list {path}: {exc}") from None
    return parse_log_list(text, str(path))
