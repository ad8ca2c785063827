"""The package graph (DESIGN.md §2, docs/architecture.md): data flows one way over a small core.

Every import in every module counts, including imports inside functions: a lazy import that goes
"up" the graph is still an edge, and is how the old cycle hid.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "promptc"

#: unit → the units it may import. A unit is a top-level module or subpackage of promptc.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "tokenizers": {"core"},
    "syntax": {"core"},
    "plan": {"core"},
    "lock": {"plan", "core"},
    "engine": {"core", "tokenizers"},
    "compiler": {"syntax", "plan", "lock", "core", "tokenizers"},
    "runtime": {"plan", "core", "tokenizers", "engine"},
    "lint": {"compiler", "syntax", "plan", "lock", "core", "tokenizers"},
    "report": {"lint", "compiler", "runtime", "plan", "lock", "core", "tokenizers"},
    "fmt": {"compiler", "syntax", "core"},
    "scaffold": {"core"},
    "observe": {"runtime", "core", "tokenizers"},
    "integrations": {"runtime", "plan", "core"},
    "deploy": {"engine", "core"},
    "lsp": {"fmt", "lint", "compiler", "syntax", "plan", "lock", "core", "tokenizers"},
}
#: The application layer: thin front ends that may call any library unit (never imported by one).
APPS = {"cli", "show", "demo", "__init__", "__main__"}


def unit_of(module: str) -> str:
    """``promptc.compiler.build`` → ``compiler``; ``promptc`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(module: str, source: str, is_package: bool = False) -> set[str]:
    """Every promptc module ``source`` imports, anywhere in the file (relative imports resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "promptc"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "promptc":
                continue
            if target == "promptc":  # `from promptc import compiler` imports the submodule
                found |= {f"promptc.{a.name}" for a in node.names}
            else:
                found.add(target)
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """The forbidden edges of one module, as ``"a → b (promptc.x.y)"``."""
    src_unit = unit_of(module)
    if src_unit in APPS:
        return []
    if src_unit not in ALLOWED:
        return [f"{module}: unit `{src_unit}` is not in the architecture table; add it to ALLOWED and docs/architecture.md"]
    out = []
    for target in sorted(imported_modules(module, source, is_package)):
        dst = unit_of(target)
        if dst == src_unit:
            continue
        if dst in APPS or dst not in ALLOWED[src_unit]:
            out.append(f"{src_unit} → {dst} ({module} imports {target})")
    return out


def all_violations() -> list[str]:
    out: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_data" in path.parts:
            continue
        out += violations(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    return out


def test_the_package_graph_has_only_allowed_edges():
    assert all_violations() == []


def test_the_allowed_graph_is_acyclic():
    seen: dict[str, int] = {}

    def visit(unit: str, stack: tuple[str, ...]) -> None:
        assert unit not in stack, f"cycle: {' → '.join(stack + (unit,))}"
        for dep in ALLOWED[unit]:
            visit(dep, stack + (unit,))
        seen[unit] = 1

    for unit in ALLOWED:
        visit(unit, ())


@pytest.mark.parametrize("module,source", [
    ("promptc.core.hashing", "from promptc.compiler import build"),
    ("promptc.engine.runner", "def f():\n    from promptc.compiler.hashing import chain\n"),  # lazy counts
    ("promptc.plan", "import promptc.runtime.engine_client"),
    ("promptc.runtime.client", "from ..compiler import build"),  # relative
    ("promptc.tokenizers", "from promptc import engine"),
    ("promptc.core.x", "from promptc.cli import main"),
])
def test_a_forbidden_edge_is_reported(module, source):
    assert violations(module, source, module.count(".") == 1 and module.endswith("tokenizers"))


@pytest.mark.parametrize("module,source", [
    ("promptc.compiler.build", "from promptc.plan import Plan\nfrom promptc.core.hashing import chain"),
    ("promptc.runtime.engine_client", "from promptc.engine.runner import Engine"),
    ("promptc.cli", "from promptc.compiler.build import compile_project"),
])
def test_an_allowed_edge_is_not_reported(module, source):
    assert violations(module, source) == []


def test_core_imports_nothing_from_promptc_outside_core():
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        mods = imported_modules(module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
        assert all(m.startswith("promptc.core") for m in mods), (path, mods)
