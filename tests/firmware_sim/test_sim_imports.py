"""firmware_sim imports only the standard library, paho-mqtt, cryptography and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "firmware_sim"
ALLOWED = set(sys.stdlib_module_names) | {"paho", "cryptography", "firmware_sim"}
# The protocol module is the gateway's copy of the format: no paho there either.
PROTOCOL_ALLOWED = set(sys.stdlib_module_names) | {"cryptography", "firmware_sim"}
_PROTOCOL_FILES = ("protocol.py", "topics.py", "dropfloor.py")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_only_allowed_imports() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert PACKAGE / "protocol.py" in files
    wrong = []
    for path in files:
        allowed = PROTOCOL_ALLOWED if path.name in _PROTOCOL_FILES else ALLOWED
        for line, name in _imports(path):
            top = name.split(".")[0]
            if top not in allowed:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {name}")
    assert wrong == []


def test_dynamic_imports_are_not_used() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text("utf-8")
        assert "importlib" not in text and "__import__" not in text, path


def test_requirements_list_exactly_the_runtime_dependencies() -> None:
    lines = (PACKAGE / "requirements.txt").read_text("utf-8").split()
    names = sorted(line.split(">")[0].split("=")[0].split("<")[0] for line in lines)
    assert names == ["cryptography", "paho-mqtt"]
