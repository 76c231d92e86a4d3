"""farmtrace.sim imports only the standard library, paho-mqtt, cryptography, farmtrace.wire and
itself; farmtrace.wire only the standard library and cryptography (a Pi carries just these)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "farmtrace" / "sim"
WIRE = ROOT / "farmtrace" / "wire"
_STDLIB = set(sys.stdlib_module_names)
ALLOWED = _STDLIB | {"paho", "cryptography", "farmtrace.sim", "farmtrace.wire"}
# The wire format is the gateway's too: no paho there, and nothing of the simulator.
WIRE_ALLOWED = _STDLIB | {"cryptography", "farmtrace.wire"}


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def _allowed(name: str, allowed: set[str]) -> bool:
    parts = name.split(".")
    return parts[0] in allowed or ".".join(parts[:2]) in allowed


def test_only_allowed_imports() -> None:
    files = sorted(PACKAGE.rglob("*.py")) + sorted(WIRE.rglob("*.py"))
    assert WIRE / "protocol.py" in files and PACKAGE / "runner.py" in files
    wrong = []
    for path in files:
        allowed = WIRE_ALLOWED if path.is_relative_to(WIRE) else ALLOWED
        for line, name in _imports(path):
            if not _allowed(name, allowed):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert wrong == []


def test_the_namespace_package_imports_nothing() -> None:
    """``farmtrace/__init__.py`` is on the Pi too: importing farmtrace.sim must not pull the rest."""
    assert _imports(ROOT / "farmtrace" / "__init__.py") == []


def test_dynamic_imports_are_not_used() -> None:
    for path in [*PACKAGE.rglob("*.py"), *WIRE.rglob("*.py")]:
        text = path.read_text("utf-8")
        assert "importlib" not in text and "__import__" not in text, path


def test_requirements_list_exactly_the_runtime_dependencies() -> None:
    lines = (PACKAGE / "requirements.txt").read_text("utf-8").split()
    names = sorted(line.split(">")[0].split("=")[0].split("<")[0] for line in lines)
    assert names == ["cryptography", "paho-mqtt"]
