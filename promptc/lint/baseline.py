"""The baseline of a lint run: a git ref, a lockfile or a directory, as a :class:`Snapshot`.

A git baseline is built from git objects: ``git archive REF`` is extracted into a temporary
directory and compiled there, so the user's working tree is never checked out or written. The
token cache of the working tree is shared, so tokens of unchanged segments are not counted twice.
When nothing under the project changed since REF, no baseline is built at all (:attr:`identical`).
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from promptc.compiler.build import compile_project
from promptc.core.errors import Diagnostic, PromptcError
from promptc.lint.config import load_lint_config
from promptc.lint.snapshot import Snapshot, view_lock, view_plans
from promptc.lock import LOCK_NAME, read_lock



class BaselineError(PromptcError):
    """The baseline cannot be read: a usage error (exit 2) with a coded diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        self.code = diagnostic.code
        super().__init__(diagnostic.render())


def _fail(code: str, message: str, hint: str) -> BaselineError:
    return BaselineError(Diagnostic(code, message, None, hint))


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise _fail("E721", "`git` is not installed", "install git, or lint against a lockfile or directory") from None
    if check and proc.returncode != 0:
        raise _fail("E721", f"git {' '.join(args)} failed: {proc.stderr.strip()}", "check the ref and the repository")
    return proc


def repo_root(path: Path) -> Path | None:
    """The top of the git work tree containing ``path``, or None."""
    try:
        proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    return Path(proc.stdout.strip()).resolve() if proc.returncode == 0 else None


def default_ref(repo: Path) -> str:
    """The merge-base of HEAD with the default branch (origin/HEAD, origin/main, main, ...)."""
    cands = []
    head = _git(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", check=False)
    if head.returncode == 0:
        cands.append(head.stdout.strip().removeprefix("refs/remotes/"))
    cands += ["origin/main", "origin/master", "main", "master"]
    for c in cands:
        if _git(repo, "rev-parse", "--verify", "--quiet", f"{c}^{{commit}}", check=False).returncode == 0:
            base = _git(repo, "merge-base", "HEAD", c, check=False)
            if base.returncode == 0:
                return base.stdout.strip()
    raise _fail("E720", "no default branch to lint against (tried origin/HEAD, origin/main, origin/master, main, "
                        "master)", "name one with --against REF; in CI fetch it (`fetch-depth: 0`)")


def resolve_commit(repo: Path, ref: str) -> str:
    """The commit ``ref`` names; E720 naming ``fetch-depth`` when a shallow clone lacks it."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode == 0:
        return proc.stdout.strip()
    shallow = _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"
    if shallow:
        raise _fail("E720", f"`{ref}` is not in this shallow clone",
                    "fetch more history: `fetch-depth: 0` in actions/checkout (or `git fetch --unshallow`, "
                    f"`git fetch origin {ref.removeprefix('origin/')}`)")
    raise _fail("E720", f"`{ref}` is not a commit in this repository",
                "name a branch, tag or commit; in CI make sure it is fetched (`fetch-depth: 0`)")


def changed_paths(repo: Path, commit: str, rel: str) -> list[str]:
    """Files under ``rel`` that differ between ``commit`` and the working tree (untracked included)."""
    specs = [rel or "."]
    if rel not in ("", "."):
        specs.append(":(top)pyproject.toml")
    diff = _git(repo, "diff", "--name-only", commit, "--", *specs).stdout.split("\n")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", rel or ".").stdout.split("\n")
    return sorted({p for p in diff + untracked if p and ".promptc" not in p.split("/")})  # build caches


@dataclass
class Baseline:
    snapshot: Snapshot | None  #: None when identical
    identical: bool = False
    notes: tuple[str, ...] = ()
    workdir: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        if self.workdir is not None:
            self.workdir.cleanup()


def _extract(repo: Path, commit: str, dest: Path) -> None:
    proc = subprocess.Popen(["git", "-C", str(repo), "archive", "--format=tar", commit], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        tar.extractall(dest, filter="data")
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise _fail("E721", f"git archive {commit[:12]} failed: {err.strip()}", "check the repository")


def _compiled(root: Path, kind: str, label: str, cache_dir: Path | None, stop: Path | None) -> Snapshot | None:
    result = compile_project([root], cache_dir=cache_dir)
    if result.errors:
        return None
    return Snapshot(kind, label, view_plans(result.plans), root=root,
                    config=load_lint_config(root, stop).__dict__)


def from_git(repo: Path, ref: str, project_root: Path, cache_dir: Path | None) -> Baseline:
    """Build the baseline of ``project_root`` at ``ref`` from git objects."""
    commit = resolve_commit(repo, ref)
    rel = project_root.resolve().relative_to(repo).as_posix()
    rel = "" if rel == "." else rel
    if not changed_paths(repo, commit, rel):
        return Baseline(None, identical=True)
    work = tempfile.TemporaryDirectory(prefix="promptc-lint-")
    tree = Path(work.name)
    _extract(repo, commit, tree)
    root = tree / rel if rel else tree
    label = f"{ref}" if ref == commit else f"{ref} ({commit[:12]})"
    snap = _compiled(root, "git", label, cache_dir, tree) if root.is_dir() else Snapshot("git", label, {}, root=root)
    if snap is not None:
        return Baseline(snap, workdir=work)
    lock = root / LOCK_NAME
    data = read_lock(lock)
    if data is None or data.get("version", -1) < 0:
        work.cleanup()
        raise _fail("E722", f"the project at {label} does not compile and has no readable {LOCK_NAME}",
                    "lint against another ref, or a lockfile (--against path/to/promptc.lock)")
    return Baseline(Snapshot("git", label, view_lock(data), root=root,
                             config=load_lint_config(root, tree).__dict__), workdir=work,
                    notes=(f"the project at {label} does not compile; compared with its committed {LOCK_NAME}",))


def from_lock(path: Path) -> Baseline:
    data = read_lock(path)
    if data is None or data.get("version", -1) < 0:
        raise _fail("E721", f"{path} is not a readable promptc.lock", "name a lockfile written by `promptc build`")
    return Baseline(Snapshot("lock", str(path), view_lock(data)))


def from_dir(path: Path, cache_dir: Path | None) -> Baseline:
    snap = _compiled(path, "dir", str(path), cache_dir, None)
    if snap is None:
        raise _fail("E722", f"the baseline directory {path} does not compile", "lint against a directory that builds")
    return Baseline(snap)


def load_baseline(against: str | None, project_root: Path, cache_dir: Path | None = None) -> Baseline:
    """Resolve ``--against``: a lockfile, a directory, or a git ref (default: the merge-base with the
    default branch)."""
    if against is not None:
        p = Path(against)
        if p.is_file():
            return from_lock(p)
        if p.is_dir():
            return from_dir(p, cache_dir)
    repo = repo_root(project_root)
    if repo is None:
        raise _fail("E721", f"`{against}` is not a file or directory, and {project_root} is not in a git repository"
                    if against else f"{project_root} is not in a git repository",
                    "pass --against with a lockfile or a directory")
    return from_git(repo, against or default_ref(repo), project_root, cache_dir)


__all__ = ["Baseline", "BaselineError", "load_baseline", "repo_root"]
