"""The baseline of a lint run: a git ref, a lockfile or a directory, as a :class:`Snapshot`.

A git baseline is built from git objects: ``git archive REF`` is extracted into a temporary
directory and compiled there, so the user's working tree is never checked out or written. The
token cache of the working tree is shared, so tokens of unchanged segments are not counted twice.
When nothing under the project changed since REF, no baseline is built at all (:attr:`identical`).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from promptc.compiler.build import compile_project
from promptc.compiler.context import BuildContext
from promptc.lint.config import load_lint_config
from promptc.lint.gitref import (BaselineError, _fail, _git, changed_paths, default_ref, label_for,
                                 renamed_paths, repo_root,
                                 resolve_commit)
from promptc.lint.incremental import affected
from promptc.lint.snapshot import Snapshot, view_lock, view_plans
from promptc.lock import LOCK_NAME, read_lock



@dataclass
class Baseline:
    snapshot: Snapshot | None  #: None when identical
    identical: bool = False
    label: str = ""
    notes: tuple[str, ...] = ()
    workdir: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        if self.workdir is not None:
            self.workdir.cleanup()


def _keep_inside(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, except that a link it refuses (absolute, or leaving the
    extraction directory: committed symlinks are ordinary) is left out instead of aborting."""
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError:
        return None


def _extract(repo: Path, commit: str, rel: str, dest: Path) -> None:
    """Extract the project's subtree (and each ``pyproject.toml`` above it, which configure lint)
    of ``commit`` into ``dest``; links that would leave ``dest`` are dropped."""
    specs = [rel] if rel else ["."]
    parts = rel.split("/") if rel else []
    for depth in range(len(parts)):
        config = "/".join([*parts[:depth], "pyproject.toml"])
        if _git(repo, "cat-file", "-e", f"{commit}:{config}", check=False).returncode == 0:
            specs.append(config)
    if rel and _git(repo, "cat-file", "-e", f"{commit}:{rel}", check=False).returncode != 0:
        return  # the project did not exist at that commit
    proc = _git(repo, "archive", "--format=tar", commit, "--", *specs, binary=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        tar.extractall(dest, filter=_keep_inside)


def _compiled(root: Path, kind: str, label: str, cache_dir: Path | None, stop: Path | None,
              context: BuildContext | None = None) -> Snapshot | None:
    result = compile_project([root], cache_dir=cache_dir, context=context)
    if result.errors:
        return None
    return Snapshot(kind, label, view_plans(result.plans), root=root,
                    config=load_lint_config(root, stop).__dict__)


def _partial(root: Path, label: str, cache_dir: Path | None, tree: Path, changed: list[str],
             new: Snapshot, context: BuildContext | None = None) -> Snapshot | None:
    """The baseline built only where it can differ from ``new`` (see :mod:`.incremental`)."""
    found = affected(changed, new)
    if found is None:
        return None
    plans, loose = found
    entries = {new.plans[p].span.path for p in plans} | loose
    entries = sorted(e for e in entries if (root / e).is_file())
    views = {name: v for name, v in new.plans.items() if name not in plans}
    if entries:
        result = compile_project([root / e for e in entries], cache_dir=cache_dir, context=context)
        if result.errors or result.root != root.resolve():
            return None
        built = view_plans(result.plans)
        if set(built) & set(views):
            views = {n: v for n, v in views.items() if n not in built}
        views.update(built)
    return Snapshot("git", label, dict(sorted(views.items())), root=root, config=load_lint_config(root, tree).__dict__)


def from_git(repo: Path, ref: str, project_root: Path, cache_dir: Path | None, new: Snapshot | None = None,
             context: BuildContext | None = None) -> Baseline:
    """Build the baseline of ``project_root`` at ``ref`` from git objects. With ``new`` (the new
    build), only the plans whose files changed are built again; ``context`` is the new build's (each
    tokenizer is loaded once per lint)."""
    commit = resolve_commit(repo, ref)
    rel = project_root.resolve().relative_to(repo).as_posix()
    rel = "" if rel == "." else rel
    label = label_for(ref, commit)
    changed = changed_paths(repo, commit, rel)
    if not changed:
        return Baseline(None, identical=True, label=label)
    work = tempfile.TemporaryDirectory(prefix="promptc-lint-")
    tree = Path(work.name)
    _extract(repo, commit, rel, tree)
    root = tree / rel if rel else tree
    snap = None
    # a renamed or moved file (git diff -M) is followed by a full build: its old plans live at the old path
    if new is not None and root.is_dir() and not renamed_paths(repo, commit, rel):
        local = [p[len(rel) + 1:] if rel else p for p in changed]
        snap = _partial(root, label, cache_dir, tree, local, new, context)
    if snap is None:
        snap = _compiled(root, "git", label, cache_dir, tree, context) if root.is_dir() \
            else Snapshot("git", label, {}, root=root)
    if snap is not None:
        return Baseline(snap, workdir=work)
    lock = root / LOCK_NAME
    data = read_lock(lock)
    if data is None or data.get("version", -1) < 0:
        work.cleanup()
        raise _fail("E922", f"the project at {label} does not compile and has no readable {LOCK_NAME}",
                    "lint against another ref, or a lockfile (--against path/to/promptc.lock)")
    return Baseline(Snapshot("git", label, view_lock(data), root=root,
                             config=load_lint_config(root, tree).__dict__), workdir=work,
                    notes=(f"the project at {label} does not compile; compared with its committed {LOCK_NAME}",))


def from_lock(path: Path) -> Baseline:
    data = read_lock(path)
    if data is None or data.get("version", -1) < 0:
        raise _fail("E921", f"{path} is not a readable promptc.lock", "name a lockfile written by `promptc build`")
    return Baseline(Snapshot("lock", str(path), view_lock(data)))


def from_dir(path: Path, cache_dir: Path | None, context: BuildContext | None = None) -> Baseline:
    snap = _compiled(path, "dir", str(path), cache_dir, None, context)
    if snap is None:
        raise _fail("E922", f"the baseline directory {path} does not compile", "lint against a directory that builds")
    return Baseline(snap)


def load_baseline(against: str | None, project_root: Path, cache_dir: Path | None = None,
                  new: Snapshot | None = None, context: BuildContext | None = None) -> Baseline:
    """Resolve ``--against``: a lockfile, a directory, or a git ref (default: the merge-base with the
    default branch)."""
    if against is not None:
        p = Path(against)
        if p.is_file():
            return from_lock(p)
        if p.is_dir():
            return from_dir(p, cache_dir, context)
    repo = repo_root(project_root)
    if repo is None:
        raise _fail("E921", f"`{against}` is not a file or directory, and {project_root} is not in a git repository"
                    if against else f"{project_root} is not in a git repository",
                    "pass --against with a lockfile or a directory")
    return from_git(repo, against or default_ref(repo), project_root, cache_dir, new, context)


__all__ = ["Baseline", "BaselineError", "load_baseline", "repo_root"]
