"""``build_project``: one library call owns a build — the no-op shortcut, check mode, writing outputs.

``promptc build`` is this function plus printing; anyone can make the same call from Python::

    outcome = build_project(["examples/team"], out="build/plans")
    if outcome.up_to_date: ...          # nothing the last build read changed; nothing was compiled
    outcome.result.plans                # the compiled plans (None on the shortcut)
    outcome.changes                     # check mode: what is stale (empty when up to date)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from promptc.compiler import manifest
from promptc.core.errors import Diagnostic, relative_to_cwd, render_all

if TYPE_CHECKING:
    from promptc.compiler.build import BuildResult
    from promptc.compiler.context import BuildContext
    from promptc.lock import Change


@dataclass
class BuildOutcome:
    """What :func:`build_project` did. ``exit_code``: 0 ok, 1 errors or (check mode) stale outputs."""

    out_dir: Path | None = None
    lock_path: Path | None = None
    result: "BuildResult | None" = None  # None when the no-op shortcut was taken
    up_to_date: bool = False  # True: the manifest showed no input changed, nothing was compiled
    checked: bool = False  # check mode: nothing was written
    changes: "list[Change]" = field(default_factory=list)  # check mode: stale outputs
    written: list[Path] = field(default_factory=list)
    summary: str = ""
    #: the findings as text and JSON, paths relative to the current directory (replayed from the
    #: manifest on the shortcut)
    diagnostics_text: str = ""
    diagnostics_json: list = field(default_factory=list)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.result.diagnostics if self.result is not None else []

    @property
    def exit_code(self) -> int:
        if self.result is not None and self.result.errors:
            return 1
        return 1 if self.changes else 0


def diagnostics_summary(diags: list[Diagnostic]) -> str:
    """Every diagnostic rendered, then ``N errors, M warnings`` (empty when there are none)."""
    if not diags:
        return ""
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    return (render_all(diags) + "\n\n" + f"{errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}")


def build_project(paths=(".",), *, out: str | Path | None = None, lock: str | Path | None = None,
                  check: bool = False, align: str | None = None,
                  context: BuildContext | None = None, allow_roots=()) -> BuildOutcome:
    """Build the project under ``paths``: write ``<out>/<plan>.plan.json`` and the lockfile.

    Skips compiling when nothing the last build read has changed (``outcome.up_to_date``); with
    ``check`` writes nothing and reports stale outputs in ``outcome.changes`` (never takes the
    shortcut). ``align`` None uses the project's ``[tool.promptc] align`` (default ``check``).
    A build of some files of a larger project never deletes the other plans or their lock entries.
    ``allow_roots`` are extra directories sources may read (docs/security.md).
    """
    paths = [str(p) for p in paths] or ["."]
    out_path = Path(out) if out is not None else None
    lock_path = Path(lock) if lock is not None else None
    if not check:
        rec = manifest.fresh(paths, out_path, lock_path, align, allow_roots=allow_roots)
        if rec is not None:
            return BuildOutcome(up_to_date=True, summary=rec["summary"], diagnostics_text=rec["diagnostics"],
                                diagnostics_json=rec["diagnostics_json"])
    # The compiler (jinja2, pydantic, tokenizers) is imported only past the shortcut: a no-op build
    # must not pay for loading what it will not run. (Not a hidden cycle: these modules never import this one.)
    from promptc.compiler.build import compile_project
    from promptc.compiler.emit import build_scope, check_outputs, default_lock, default_out, write_outputs

    result = compile_project(paths, align=align, context=context, allow_roots=allow_roots)
    shown = [d.relocated(relative_to_cwd(result.root)) for d in result.diagnostics]  # as a user's editor opens them
    outcome = BuildOutcome(result=result, checked=check, diagnostics_text=diagnostics_summary(shown),
                           diagnostics_json=[d.to_json() for d in shown])
    if result.errors:
        return outcome
    outcome.out_dir = out_path or default_out(result.root)
    outcome.lock_path = lock_path or default_lock(result.root)
    scope = build_scope(result)
    if check:
        # plan files are checked only in an explicit --out directory (the default one is gitignored)
        outcome.changes = check_outputs(result, outcome.out_dir, outcome.lock_path, scope, plans=out_path is not None)
        outcome.summary = f"up to date: {len(result.plans)} plan(s)"
        return outcome
    contents: dict[Path, bytes] = {}
    outcome.written = write_outputs(result, outcome.out_dir, outcome.lock_path, contents, scope)
    outcome.summary = f"built {len(result.plans)} plan(s) into {outcome.out_dir}"
    manifest.save(result.root, paths, outcome.out_dir, outcome.lock_path, align, result.dependencies, result.sources,
                  contents, outcome.diagnostics_text, outcome.summary, outcome.diagnostics_json,
                  allow_roots=allow_roots)
    return outcome


__all__ = ["BuildOutcome", "build_project", "diagnostics_summary"]
