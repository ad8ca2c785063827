"""Write plans and the lockfile, or compare them with what is on disk (``build --check``).

A build covers the whole project, or a **subset** (``promptc build one.prompt`` in a project with
other .prompt files). A subset build never deletes what it did not build: the lock keeps the
entries of every plan declared in files outside the subset, and only plan files of plans that the
subset's own files no longer declare are removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from promptc.compiler.build import BuildResult
from promptc.compiler.sources import find_sources
from promptc.core import safewrite
from promptc.core.errors import PromptcError
from promptc.lock import LOCK_NAME, Change, compare, lock_data, read_lock, render_lock_data

PLAN_SUFFIX = ".plan.json"


class OutputError(PromptcError):
    """An output path cannot be written: the lockfile path is a directory, or the plans directory
    is a file (E811)."""

    code = "E811"


def default_out(root: Path) -> Path:
    return root / ".promptc" / "plans"


def default_lock(root: Path) -> Path:
    return root / LOCK_NAME


@dataclass(frozen=True)
class Scope:
    """Which plans a build speaks for: all of the project's, or those declared in ``files``
    (display paths, as plans record them in ``source.path``)."""

    files: frozenset[str] | None  # None: the whole project

    @property
    def whole_project(self) -> bool:
        return self.files is None

    def owns(self, source: str) -> bool:
        """Does this build decide about a plan declared in ``source``?"""
        return self.files is None or source in self.files


def build_scope(result: BuildResult) -> Scope:
    """The whole project when the build read every .prompt file under its root, else its entry files."""
    _, everything, _ = find_sources([result.root])
    if set(everything) <= set(result.sources):
        return Scope(None)
    return Scope(frozenset(Path(os.path.relpath(f, result.root)).as_posix() for f in result.sources))


def lock_text(result: BuildResult, lock_path: Path, scope: Scope) -> str:
    """The lockfile for this build: its plans, plus (for a subset) every locked plan it does not own."""
    data = lock_data(result.plans)
    if not scope.whole_project:
        old = read_lock(lock_path) or {}
        for name, entry in (old.get("plan") or {}).items():
            if name not in data["plan"] and isinstance(entry, dict) and not scope.owns(entry.get("source", "")):
                data["plan"][name] = entry
    return render_lock_data(data)


def _owned_plan_names(lock_path: Path, scope: Scope) -> set[str] | None:
    """Names of locked plans this subset owns (None: the whole project owns every plan file)."""
    if scope.whole_project:
        return None
    old = read_lock(lock_path) or {}
    return {n for n, e in (old.get("plan") or {}).items() if isinstance(e, dict) and scope.owns(e.get("source", ""))}


def write_outputs(result: BuildResult, out: Path, lock_path: Path, contents: dict[Path, bytes] | None = None,
                  scope: Scope | None = None) -> list[Path]:
    """Write ``<out>/<plan>.plan.json`` for each plan and the lockfile; returns the files written
    (``contents``, when given, receives every output's bytes).

    Files are written only when their bytes change. Plan files of plans that no longer exist are
    removed — for a subset build (``scope``) only those its own files used to declare.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"error[E811]: cannot write plans: {out} exists and is not a directory; remove it or "
                          "pass --out DIR")
    scope = scope or Scope(None)
    root = result.root  # no write or delete follows a symlink out of it (promptc.core.safewrite)
    safewrite.check_output_path(out, root)
    safewrite.check_output_path(lock_path, root)
    out.mkdir(parents=True, exist_ok=True)
    safewrite.check_output_path(out, root)
    owned = _owned_plan_names(lock_path, scope)
    lock_bytes = lock_text(result, lock_path, scope).encode("utf-8")
    written = []
    wanted = {f"{name}{PLAN_SUFFIX}": plan.to_json() for name, plan in result.plans.items()}
    for fname, text in wanted.items():
        path = out / fname
        data = text.encode("utf-8")
        if contents is not None:
            contents[path.resolve()] = data
        if path.is_symlink() or not path.exists() or path.read_bytes() != data:
            safewrite.write_bytes(path, data, root, mkdir=False)
            written.append(path)
    for stale in out.glob(f"*{PLAN_SUFFIX}"):
        if stale.name not in wanted and (owned is None or stale.name[: -len(PLAN_SUFFIX)] in owned):
            safewrite.unlink(stale, root)
    if contents is not None:
        contents[lock_path.resolve()] = lock_bytes
    if lock_path.exists() and not lock_path.is_file():
        raise OutputError(f"error[E811]: cannot write the lockfile: {lock_path} exists and is not a regular file "
                          "(a directory?); remove it or pass --lock PATH")
    if lock_path.is_symlink() or not lock_path.exists() or lock_path.read_bytes() != lock_bytes:
        safewrite.write_bytes(lock_path, lock_bytes, root)
        written.append(lock_path)
    return written


def check_outputs(result: BuildResult, out: Path, lock_path: Path, scope: Scope | None = None,
                  plans: bool = True) -> list[Change]:
    """Changes between the committed lock/plan files and a fresh build (empty when up to date).

    The lock is always checked; plan files only when ``plans`` and ``out`` exists (teams that commit
    only the lock have no plans directory in a fresh checkout; the default ``.promptc/plans`` is a
    gitignored build output, so ``build --check`` leaves it out: a local check must give a fresh
    clone's verdict). A subset build checks only the plans its files declare (or used to declare).
    """
    scope = scope or Scope(None)
    old = read_lock(lock_path)
    if old is not None and not scope.whole_project and isinstance(old.get("plan"), dict):
        old = {**old, "plan": {n: e for n, e in old["plan"].items()
                               if n in result.plans or (isinstance(e, dict) and scope.owns(e.get("source", "")))}}
    changes = compare(old, result.plans)
    if not changes and lock_path.is_file() and lock_path.read_bytes() != lock_text(result, lock_path, scope).encode("utf-8"):
        changes.append(Change("*", "promptc.lock is not in canonical form; run `promptc build`", False))
    if not plans or not out.is_dir():
        return changes
    owned = _owned_plan_names(lock_path, scope)
    for name, plan in result.plans.items():
        path = out / f"{name}{PLAN_SUFFIX}"
        if not path.exists():
            changes.append(Change(name, f"plan file {path} is missing", False))
        elif path.read_bytes() != plan.to_json().encode("utf-8"):
            changes.append(Change(name, f"plan file {path} is stale", False))
    for stale in sorted(out.glob(f"*{PLAN_SUFFIX}")):
        name = stale.name[: -len(PLAN_SUFFIX)]
        if name not in result.plans and (owned is None or name in owned):
            changes.append(Change(stale.name, f"plan file {stale} has no plan in the sources", False))
    return changes
