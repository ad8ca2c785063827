"""Build only the part of a git baseline that can differ from the new build.

A plan of the baseline can only differ from the same plan of the new build when a file its build
reads changed: its entry file, the ``.prompt`` files it imports (transitively), and the files those
name in string literals (includes, memory files). Plans none of whose files changed are taken from
the new build; only the entry files of the others are compiled in the baseline tree. Anything this
cannot attribute (``pyproject.toml``, a root that would differ) falls back to a full build — the
answer is the same, only slower.
"""

from __future__ import annotations

import posixpath
import re

from promptc.lint.snapshot import Snapshot

IMPORT = re.compile(r'^\s*import\s+"([^"]+)"', re.M)
LITERAL = re.compile(r'"([^"\n]+)"')


def _norm(base: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(base, name))


def plan_files(snap: Snapshot) -> dict[str, set[str]]:
    """Per plan of ``snap``: the project-relative files its build reads (a superset)."""
    reads: dict[str, set[str]] = {}
    closure: dict[str, set[str]] = {}

    def files_of(entry: str) -> set[str]:
        if entry in closure:
            return closure[entry]
        seen: set[str] = set()
        scanned: set[str] = set()
        stack = [entry]
        while stack:
            f = stack.pop()
            if f in scanned:
                continue
            scanned.add(f)
            seen.add(f)
            text = snap.text(f)
            if text is None:
                continue
            base = posixpath.dirname(f)
            for m in IMPORT.finditer(text):
                if not m.group(1).startswith("std/"):
                    t = _norm(base, m.group(1))
                    stack.append(t if t.endswith(".prompt") else t + ".prompt")
            for m in LITERAL.finditer(text):
                seen.add(_norm(base, m.group(1)))
        closure[entry] = seen
        return seen

    for name, plan in snap.plans.items():
        if plan.span is not None:
            reads[name] = files_of(plan.span.path)
    return reads


def affected(changed: list[str], new: Snapshot) -> tuple[set[str], set[str]] | None:
    """(plans whose files changed, changed .prompt files no plan reads); None when a changed file
    cannot be attributed (then build the whole baseline)."""
    reads = plan_files(new)
    every = set().union(*reads.values()) if reads else set()
    plans = {name for name, files in reads.items() if files & set(changed)}
    loose: set[str] = set()
    for path in changed:
        if path in every:
            continue
        if posixpath.basename(path) == "pyproject.toml":
            return None
        if path.endswith(".prompt"):
            loose.add(path)
    return plans, loose
