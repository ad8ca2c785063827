"""Write plans and the lockfile, or compare them with what is on disk (``build --check``)."""

from __future__ import annotations

from pathlib import Path

from promptc.compiler.build import BuildResult
from promptc.core.errors import PromptcError
from promptc.lock import LOCK_NAME, Change, compare, read_lock, render_lock

PLAN_SUFFIX = ".plan.json"


class OutputError(PromptcError):
    """An output path cannot be written: the lockfile path is a directory, or the plans directory
    is a file (E811)."""

    code = "E811"


def default_out(root: Path) -> Path:
    return root / ".promptc" / "plans"


def default_lock(root: Path) -> Path:
    return root / LOCK_NAME


def write_outputs(result: BuildResult, out: Path, lock_path: Path, contents: dict[Path, bytes] | None = None) -> list[Path]:
    """Write ``<out>/<plan>.plan.json`` for each plan and the lockfile; returns the files written
    (``contents``, when given, receives every output's bytes).

    Files are written only when their bytes change, and plan files of plans that no longer exist
    are removed, so the output directory always mirrors the sources.
    """
    if out.exists() and not out.is_dir():
        raise OutputError(f"error[E811]: cannot write plans: {out} exists and is not a directory; remove it or "
                          "pass --out DIR")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    wanted = {f"{name}{PLAN_SUFFIX}": plan.to_json() for name, plan in result.plans.items()}
    for fname, text in wanted.items():
        path = out / fname
        data = text.encode("utf-8")
        if contents is not None:
            contents[path.resolve()] = data
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            written.append(path)
    for stale in out.glob(f"*{PLAN_SUFFIX}"):
        if stale.name not in wanted:
            stale.unlink()
    lock_text = render_lock(result.plans).encode("utf-8")
    if contents is not None:
        contents[lock_path.resolve()] = lock_text
    if lock_path.exists() and not lock_path.is_file():
        raise OutputError(f"error[E811]: cannot write the lockfile: {lock_path} exists and is not a regular file "
                          "(a directory?); remove it or pass --lock PATH")
    if not lock_path.exists() or lock_path.read_bytes() != lock_text:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path.write_bytes(lock_text)
        written.append(lock_path)
    return written


def check_outputs(result: BuildResult, out: Path, lock_path: Path) -> list[Change]:
    """Changes between the committed lock/plan files and a fresh build (empty when up to date).

    The lock is always checked; plan files only when ``out`` exists (teams that commit only the
    lock have no plans directory in a fresh checkout).
    """
    changes = compare(read_lock(lock_path), result.plans)
    if not changes and lock_path.is_file() and lock_path.read_bytes() != render_lock(result.plans).encode("utf-8"):
        changes.append(Change("*", "promptc.lock is not in canonical form; run `promptc build`", False))
    if not out.is_dir():
        return changes
    for name, plan in result.plans.items():
        path = out / f"{name}{PLAN_SUFFIX}"
        if not path.exists():
            changes.append(Change(name, f"plan file {path} is missing", False))
        elif path.read_bytes() != plan.to_json().encode("utf-8"):
            changes.append(Change(name, f"plan file {path} is stale", False))
    for stale in sorted(out.glob(f"*{PLAN_SUFFIX}")) if out.is_dir() else []:
        if stale.name[: -len(PLAN_SUFFIX)] not in result.plans:
            changes.append(Change(stale.name, f"plan file {stale} has no plan in the sources", False))
    return changes
