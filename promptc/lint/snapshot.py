"""One side of a comparison: the plans of a build (or of a lockfile) plus a way to read its sources.

A lockfile carries less than a build: hashes, entry hashes, token counts and stabilities, but no
content, no source spans and no breakpoints. Rules that need more degrade (they say less), never fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from promptc.core.errors import Span
from promptc.core.providers import parse_target
from promptc.plan import Plan


@dataclass(frozen=True)
class SegView:
    """A segment as the comparison sees it."""

    id: str
    stability: str
    kind: str | None = None
    level: str | None = None
    append_only: bool = False
    hash: str | None = None
    prefix_hash: str | None = None
    tokens: dict[str, int] = field(default_factory=dict)
    prefix_tokens: dict[str, int] = field(default_factory=dict)
    entries: tuple[str, ...] | None = None  #: entry hashes of append-only segments
    labels: tuple[str, ...] | None = None  #: a readable name per entry (tool name, memory words)
    entry_texts: tuple[str, ...] | None = None  #: memory entries as written
    content: str | None = None
    template: str | None = None
    module: str | None = None
    span: Span | None = None
    breakpoint: tuple[str, ...] = ()
    role: str | None = None
    tools: tuple[dict, ...] | None = None  #: tool definitions (provider-neutral) of a tools segment

    @property
    def cached(self) -> bool:
        """True for a segment of the static (cached) prefix."""
        return self.hash is not None


@dataclass(frozen=True)
class TargetView:
    name: str
    tokenizer: str
    exact: bool


@dataclass(frozen=True)
class PlanView:
    name: str
    targets: tuple[TargetView, ...]
    segments: tuple[SegView, ...]
    span: Span | None = None
    renamed_from: str | None = None  #: a baseline plan matched to a renamed one: its old name (lint.run)

    def index(self, seg_id: str) -> int | None:
        return next((i for i, s in enumerate(self.segments) if s.id == seg_id), None)

    def static_end(self) -> int:
        """Number of leading cached segments."""
        n = 0
        for s in self.segments:
            if not s.cached:
                break
            n += 1
        return n

    def prefix_before(self, i: int, target: str) -> int:
        """Tokens of the cached prefix before segment ``i``."""
        return sum(s.tokens.get(target, 0) for s in self.segments[: min(i, self.static_end())])

    def static_tokens(self, target: str) -> int:
        return self.prefix_before(len(self.segments), target)


@dataclass
class Snapshot:
    """The plans of one side, and where its sources live (``root``: None for a lockfile)."""

    kind: str  #: "git" | "lock" | "dir" | "new"
    label: str
    plans: dict[str, PlanView]
    root: Path | None = None
    config: dict = field(default_factory=dict)  #: its [tool.promptc] table
    texts: dict[str, str | None] = field(default_factory=dict)

    def text(self, rel: str) -> str | None:
        """A source file's text by project-relative path (None when unknown or unreadable)."""
        if rel not in self.texts:
            try:
                self.texts[rel] = (self.root / rel).read_bytes().decode("utf-8") if self.root else None
            except (OSError, UnicodeDecodeError):
                self.texts[rel] = None
        return self.texts[rel]


def _span(s) -> Span | None:
    return Span(s.path, s.line, s.col, s.end_line, s.end_col) if s is not None else None


def _labels(seg) -> tuple[str, ...] | None:
    if seg.tools is not None:
        return tuple(t["name"] for t in seg.tools)
    if seg.entries is not None:
        return tuple(" ".join(e.split()[:5]) for e in seg.entries)
    return None


def view_plan(plan: Plan) -> PlanView:
    """A :class:`PlanView` of a compiled plan."""
    segs = tuple(SegView(
        id=s.id, stability=s.stability, kind=s.kind, level=s.level, append_only=s.append_only,
        hash=s.hash, prefix_hash=s.prefix_hash, tokens=dict(s.tokens or {}), prefix_tokens=dict(s.prefix_tokens or {}),
        entries=tuple(s.entry_hashes) if s.entry_hashes is not None else None, labels=_labels(s),
        entry_texts=tuple(s.entries) if s.entries is not None else None,
        content=s.content, template=s.template, module=s.module, span=_span(s.source),
        breakpoint=tuple(s.breakpoint or ()), role=s.role,
        tools=tuple(s.tools) if s.tools is not None else None) for s in plan.segments)
    targets = tuple(TargetView(t.name, t.tokenizer, t.tokenizer_exact) for t in plan.targets)
    return PlanView(plan.name, targets, segs, _span(plan.source))


def view_plans(plans: dict[str, Plan]) -> dict[str, PlanView]:
    return {name: view_plan(p) for name, p in plans.items()}


def _target(name: str) -> TargetView:
    try:
        t = parse_target(name)
        return TargetView(t.name, t.tokenizer, t.tokenizer_exact)
    except ValueError:
        return TargetView(name, "unknown", False)


def view_lock(data: dict) -> dict[str, PlanView]:
    """Plan views of a read ``promptc.lock`` (see :func:`promptc.lock.read_lock`)."""
    out: dict[str, PlanView] = {}
    for name, p in (data.get("plan") or {}).items():
        segs = []
        cum: dict[str, int] = {}
        for s in p.get("segment", []):
            tokens = dict(s.get("tokens") or {})
            for k, v in tokens.items():
                cum[k] = cum.get(k, 0) + v
            segs.append(SegView(id=s["id"], stability=s.get("stability", "static"), hash=s.get("hash"),
                                prefix_hash=s.get("prefix_hash"), tokens=tokens,
                                prefix_tokens=dict(cum) if s.get("hash") else {},
                                append_only="entries" in s,
                                entries=tuple(s["entries"]) if "entries" in s else None))
        out[name] = PlanView(name, tuple(_target(t) for t in p.get("targets", [])), tuple(segs),
                             Span(p["source"], 1, 1) if p.get("source") else None)
    return out
