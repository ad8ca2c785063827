"""One-way architecture: the provider runtime never imports the compiler (runtime → plan → core)."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "promptc"
RUNTIME_MODULES = ["runtime/client.py", "runtime/config.py", "runtime/cost.py", "runtime/errors.py",
                   "runtime/layout.py", "runtime/retention.py", "runtime/sse.py", "runtime/trace.py",
                   "runtime/usage.py", "core/prices.py"]


def imported(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_providers_runtime_and_simulator_never_import_the_compiler():
    files = [PKG / m for m in RUNTIME_MODULES] + sorted((PKG / "runtime" / "providers").glob("*.py")) + \
        sorted((PKG / "runtime" / "sim").glob("*.py"))
    assert len(files) > 12
    offenders = {f.relative_to(PKG).as_posix(): sorted(m for m in imported(f)
                                                         if m.startswith(("promptc.compiler", "promptc.cli",
                                                                          "promptc.lint", "promptc.engine")))
                 for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}
