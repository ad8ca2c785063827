"""Git plumbing for lint baselines, kept free of the compiler so that a no-change lint (the common
case in a pre-commit hook) answers without importing or building anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from promptc.core.errors import Diagnostic, PromptcError


class BaselineError(PromptcError):
    """The baseline cannot be read: a usage error (exit 2) with a coded diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic
        self.code = diagnostic.code
        super().__init__(diagnostic.render())


def _fail(code: str, message: str, hint: str) -> BaselineError:
    return BaselineError(Diagnostic(code, message, None, hint))


# Run git as if the checkout were hostile (a pull request controls every file in it): the
# repository is named explicitly (never discovered from a directory the PR controls, where a
# committed bare-repository layout would be taken for the repository and its `core.fsmonitor`
# run), no hooks, no fsmonitor, no external diff or textconv drivers, and no GIT_* variable from
# the environment redirects it.
_GIT_CONFIG = ("safe.bareRepository=explicit", "core.fsmonitor=false", "core.hooksPath=/dev/null",
               "core.untrackedCache=false")


def git_env() -> dict[str, str]:
    """The environment git runs with: the caller's, less every ``GIT_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}


def git_command(repo: Path, *args: str) -> list[str]:
    """The argv of one git command on the work tree ``repo`` (from :func:`repo_root`)."""
    config = [arg for item in _GIT_CONFIG for arg in ("-c", item)]
    return ["git", f"--git-dir={repo / '.git'}", f"--work-tree={repo}", *config, *args]


def _git(repo: Path, *args: str, check: bool = True, binary: bool = False) -> subprocess.CompletedProcess:
    """The one way promptc runs git (see :func:`git_command`); ``repo`` is a :func:`repo_root`.
    ``binary`` keeps stdout as bytes (``git archive``)."""
    try:
        proc = subprocess.run(git_command(repo, *args), cwd=repo, env=git_env(), capture_output=True,
                              text=not binary)
    except FileNotFoundError:
        raise _fail("E921", "`git` is not installed", "install git, or lint against a lockfile or directory") from None
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if binary else proc.stderr
        raise _fail("E921", f"git {' '.join(args)} failed: {err.strip()}", "check the ref and the repository")
    return proc


def repo_root(path: Path) -> Path | None:
    """The top of the git work tree containing ``path``, or None.

    Found from the file system, not by asking git: the nearest ancestor holding a ``.git`` entry
    (a directory, or a worktree's ``gitdir:`` file). Git itself never checks a ``.git`` path
    out, so a pull request cannot plant one; it can plant a bare-repository layout (``HEAD``,
    ``objects/``, ``refs/``, ``config``), which git's own discovery would adopt."""
    for cand in (path.resolve(), *path.resolve().parents):
        if (cand / ".git").exists():
            proc = _git(cand, "rev-parse", "--is-inside-work-tree", check=False) if shutil.which("git") else None
            return cand if proc is not None and proc.stdout.strip() == "true" else None
    return None


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
    raise _fail("E920", "no default branch to lint against (tried origin/HEAD, origin/main, origin/master, main, "
                        "master)", "name one with --against REF; in CI fetch it (`fetch-depth: 0`)")


def resolve_commit(repo: Path, ref: str) -> str:
    """The commit ``ref`` names; E920 naming ``fetch-depth`` when a shallow clone lacks it."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode == 0:
        return proc.stdout.strip()
    shallow = _git(repo, "rev-parse", "--is-shallow-repository", check=False).stdout.strip() == "true"
    if shallow:
        raise _fail("E920", f"`{ref}` is not in this shallow clone",
                    "fetch more history: `fetch-depth: 0` in actions/checkout (or `git fetch --unshallow`, "
                    f"`git fetch origin {ref.removeprefix('origin/')}`)")
    raise _fail("E920", f"`{ref}` is not a commit in this repository",
                "name a branch, tag or commit; in CI make sure it is fetched (`fetch-depth: 0`)")


def changed_paths(repo: Path, commit: str, rel: str) -> list[str]:
    """Files under ``rel`` that differ between ``commit`` and the working tree (untracked included)."""
    specs = [rel or "."]
    if rel not in ("", "."):
        specs.append(":(top)pyproject.toml")
    diff = _git(repo, "diff", "--no-ext-diff", "--no-textconv", "--name-only", commit, "--", *specs).stdout.split("\n")
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard", "--", rel or ".").stdout.split("\n")
    return sorted({p for p in diff + untracked if p and ".promptc" not in p.split("/")})  # build caches


def renamed_paths(repo: Path, commit: str, rel: str) -> dict[str, str]:
    """New path → old path of the files under ``rel`` renamed or moved since ``commit`` (``git diff
    -M``: with or without edits; a ``git mv`` is staged, so the working tree's rename is seen)."""
    out = _git(repo, "diff", "--no-ext-diff", "--no-textconv", "-M", "--name-status", commit, "--",
               rel or ".").stdout
    moved = {}
    for line in out.split("\n"):
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].startswith("R"):
            moved[parts[2]] = parts[1]
    return moved


def unchanged_since(project_root: Path, against: str | None) -> str | None:
    """The baseline's label when ``against`` is a git ref (or the default) and nothing under the
    project changed since it; None otherwise (a lockfile, a directory, or a change)."""
    if against is not None and Path(against).exists():
        return None
    repo = repo_root(project_root)
    if repo is None:
        return None
    commit = resolve_commit(repo, against or default_ref(repo))
    rel = project_root.resolve().relative_to(repo).as_posix()
    if changed_paths(repo, commit, "" if rel == "." else rel):
        return None
    return label_for(against or commit, commit)


def label_for(ref: str, commit: str) -> str:
    """How a report names a git baseline: ``REF (abbreviated commit)``, or the commit itself."""
    return ref if ref == commit else f"{ref} ({commit[:12]})"
