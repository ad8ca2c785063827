"""Memory before a cached block (the compiler's ``W312``), graded by what each target's wire loses.

``promptc check`` warns (W312) when a plan puts an append-only static memory before a static block:
appending to the memory changes every prefix after it. What that costs is a wire question. Where a
target writes a cache entry that reaches past the memory (its minimum, its breakpoints, its wire
order — :mod:`promptc.lint.wire`), every memory change re-writes the blocks after it on that target:
lint reports that as ``E923`` (an error, at the plan line that puts the memory first, with the tokens
re-written per target). Where no target caches anything past the memory (below every minimum, no
entry written after it), nothing else is lost and the finding stays the warning ``W312``, saying so.
Held to the simulator in ``tests/lint/test_rules_memory.py`` (a memory append replayed with and
without the blocks after the memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from promptc.core.codes import lookup
from promptc.lint import wire
from promptc.lint.snapshot import PlanView


@dataclass(frozen=True)
class Rewrite:
    """On one target, what every change of one memory re-writes after it."""

    target: str
    memory: str
    segments: tuple[str, ...]  #: the cached segments after the memory, in wire order
    tokens: int  #: their tokens, through the last cache entry the target writes


def memory_rewrites(plan: PlanView, cache_limits: Mapping[str, Mapping] | None,
                    counter: wire.WireCounter | None = None) -> list[Rewrite]:
    """Per target of ``plan``: the cached content after its first append-only static memory (in the
    target's wire order) that a memory change re-writes; targets where nothing is re-written are left out."""
    out: list[Rewrite] = []
    for t in plan.targets:
        lim = wire.limits(t.name, cache_limits)
        w = wire.wire_of(plan, t.name, lim, counter=counter)
        marks = wire.written(w, lim)
        m = next((k for k, s in enumerate(w.segs) if s.kind == "memory" and s.append_only
                  and s.stability == "static"), None)
        last = max((k for k in marks if m is not None and k > m), default=None)
        if m is None or last is None:
            continue
        after = w.segs[m + 1: last + 1]
        # a cache matching token prefixes in steps (OpenAI before gpt-5.6, DeepSeek, Kimi) still reads the old
        # memory's tokens after an append: only whole steps past the memory's end are re-written
        tokens = lim.floor(w.cum[last]) - lim.floor(w.cum[m]) if lim.token_level else w.cum[last] - w.cum[m]
        if tokens > 0 and any(not s.append_only for s in after):  # a static block, not only more append-only content
            out.append(Rewrite(t.name, w.segs[m].id, tuple(s.id for s in after), tokens))
    return out


@dataclass(frozen=True)
class Graded:
    """W312 as lint reports it: its code, severity, message and notes."""

    code: str
    name: str
    severity: str
    message: str
    notes: tuple[str, ...]


def grade(message: str, plan: PlanView | None, cache_limits: Mapping[str, Mapping] | None,
          counter: wire.WireCounter | None = None) -> Graded:
    """The compiler's W312 (``message``, about ``plan``) graded by the wire: E923 where a target
    re-writes cached content after the memory on every memory change, else W312 with a note."""
    rewrites = memory_rewrites(plan, cache_limits, counter) if plan is not None else []
    if not rewrites:
        entry = lookup("W312")
        notes = (f"no target of plan `{plan.name}` caches anything after the memory today (below its minimum, or "
                 "no cache entry written past it): nothing else is re-written yet",) if plan is not None else ()
        return Graded("W312", entry.name if entry else "", "warning", message, notes)
    entry = lookup("E923")
    first = rewrites[0]
    blocks = ", ".join(f"`{s}`" for s in first.segments)
    notes = tuple(f"on {r.target} every change of `{r.memory}` re-writes {r.tokens} cached tokens after it "
                  f"({', '.join(f'`{s}`' for s in r.segments)})" for r in rewrites)
    return Graded("E923", entry.name if entry else "", "error",
                  f"plan `{plan.name}`: append-only memory `{first.memory}` is sent before cached {blocks}: every "
                  f"memory change re-writes {'it' if len(first.segments) == 1 else 'them'}", notes)
