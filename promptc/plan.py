"""The plan, its binding and the request: the contract between the compiler and every runtime.

A :class:`Plan` is what ``promptc build`` writes (``<out>/<plan>.plan.json``). Agent code loads it,
binds session inputs (:meth:`Plan.bind` → :class:`Session`) and renders a
turn (→ :class:`Request`): ordered segments, each with role, content, hash and prefix hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptc.core.content import memory_content
from promptc.core.errors import AppendOnlyError, InputError, PlanFormatError
from promptc.core.hashing import chain, segment_hash
from promptc.core.inputs import inputs_model
from promptc.core.templates import render_template, runtime_environment
from promptc.core.providers import Target
from promptc.core.version import __version__
from promptc.core.vocab import Kind, Level, Role, Stability

FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpan(_Frozen):
    path: str
    line: int
    col: int
    end_line: int
    end_col: int


class InputSpec(_Frozen):
    """A typed input. ``type`` is a small JSON type description (see docs/language.md)."""

    name: str
    type: dict[str, Any]
    stability: Stability
    has_default: bool = False
    default: Any = None
    doc: str | None = None


class PlanSegment(_Frozen):
    """One segment of a plan. Static segments carry ``content`` and hashes; others carry a template."""

    id: str
    module: str
    level: Level
    stability: Stability
    append_only: bool
    kind: Kind
    role: Role
    doc: str | None = None
    content: str | None = None
    template: str | None = None
    inputs: list[str] = Field(default_factory=list, description="names of the inputs the template uses")
    tools: list[dict[str, Any]] | None = None
    entries: list[str] | None = None
    entry_hashes: list[str] | None = None
    hash: str | None = None
    prefix_hash: str | None = None
    tokens: dict[str, int] | None = Field(default=None, description="token count per target name (static segments)")
    prefix_tokens: dict[str, int] | None = Field(default=None, description="cacheable prefix length through this segment, per target")
    breakpoint: list[str] | None = Field(default=None, description="targets that place a cache breakpoint after this segment")
    source: SourceSpan

    @property
    def is_static(self) -> bool:
        """True when the plan carries this segment's final content and hash (rendered at build time)."""
        return self.stability == "static" and self.content is not None


class Plan(_Frozen):
    """A compiled plan: header, input schemas per stability level, and ordered segments."""

    format_version: int = FORMAT_VERSION
    promptc_version: str = __version__
    name: str
    doc: str | None = None
    source: SourceSpan
    targets: list[Target]
    input_schema: dict[str, dict[str, Any]] = Field(description="JSON Schema of the inputs per stability level")
    inputs: list[InputSpec]
    includes: dict[str, str] = Field(default_factory=dict, description="templates included by non-static segments")
    static_tokens: dict[str, int] | None = Field(default=None, description="tokens of the static prefix, per target")
    segments: list[PlanSegment]

    def to_json(self) -> str:
        """Canonical, byte-stable JSON: sorted keys, fixed compact separators, UTF-8, one trailing LF.

        Compact (not indented) so the C encoder writes it: plans embed every segment's text, and
        the reviewable artifact is ``promptc.lock``; ``promptc show`` renders a plan for people.
        """
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False) + "\n"

    def bind(self, **session_inputs: Any):
        """Validate session inputs and render session segments; returns a :class:`Session`."""
        return Session(self, session_inputs)


class RequestSegment(_Frozen):
    """A rendered segment: exactly what adapters and the engine send, never re-serialized."""

    id: str
    role: Role
    kind: Kind
    stability: Stability
    content: str
    hash: str
    prefix_hash: str
    tools: list[dict[str, Any]] | None = None


class Request(_Frozen):
    """An ordered list of hashed segments for one turn of a plan; provider-neutral."""

    plan: str
    targets: list[Target]
    segments: list[RequestSegment]

    def to_messages(self) -> list[dict[str, str]]:
        """OpenAI-style chat messages, one per segment, in order."""
        return [{"role": s.role, "content": s.content} for s in self.segments]

    @property
    def prefix_hash(self) -> str:
        return self.segments[-1].prefix_hash if self.segments else ""


# -- binding ---------------------------------------------------------------------------------------
def _validate(plan: Plan, level: str, values: dict[str, Any]) -> dict[str, Any]:
    specs = [s.model_dump() for s in plan.inputs if s.stability == level]
    model = inputs_model(f"{plan.name}_{level}_inputs", specs)
    try:
        return model.model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        declared = {s.name: s.stability for s in plan.inputs}
        errors = []
        for e in exc.errors():
            path = ".".join(str(x) for x in e["loc"]) or "(inputs)"
            msg = e["msg"]
            if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
                name = e["loc"][0]
                msg = (f"`{name}` is a {declared[name]} input, not a {level} input" if name in declared
                       else f"unknown {level} input (declared: {', '.join(sorted(declared)) or 'none'})")
            errors.append((path, msg))
        raise InputError(plan.name, errors) from None


class Session:
    """A plan bound to its session inputs. Render one :class:`Request` per turn."""

    def __init__(self, plan: Plan, session_inputs: dict[str, Any]):
        self.plan = plan
        self.session_values = _validate(plan, "session", session_inputs)
        self._env = runtime_environment(plan.includes)
        self._history: dict[str, list[dict]] = {}
        self._session_segments: dict[str, list[tuple[str, str, str]]] = {}
        for seg in plan.segments:
            if seg.stability == "session":
                self._session_segments[seg.id] = self._render_segment(seg, self.session_values)

    def _render_segment(self, seg: PlanSegment, values: dict[str, Any]) -> list[tuple[str, str, str]]:
        """``[(id, role, content)]`` for one segment (history expands to one entry per message)."""
        if seg.kind == "text":
            content = render_template(self._env, seg.template, {n: values[n] for n in seg.inputs})
            return [(seg.id, seg.role, content)]
        name = seg.inputs[0]
        entries = values.get(name) or []
        if seg.kind == "memory":
            return [(seg.id, seg.role, memory_content(list(entries)))]
        self._check_append_only(seg, entries)
        return [(f"{seg.id}[{i}]", e["role"], e["content"]) for i, e in enumerate(entries)]

    def _check_append_only(self, seg: PlanSegment, entries: list[dict]) -> None:
        before = self._history.get(seg.id, [])
        if entries[: len(before)] != before:
            first = next(i for i, (a, b) in enumerate(zip(before, entries + [None] * len(before))) if a != b)
            raise AppendOnlyError(
                f"error[E402]: append-only segment `{seg.id}` of plan `{self.plan.name}` changed at entry {first} "
                f"(it had {len(before)} entries, now {len(entries)}); only appending keeps the cached prefix")
        self._history[seg.id] = [dict(e) for e in entries]

    def render(self, **turn_inputs: Any) -> Request:
        """Validate turn inputs, render turn segments and return the hashed :class:`Request`."""
        turn_values = _validate(self.plan, "turn", turn_inputs)
        values = {**self.session_values, **turn_values}
        out: list[RequestSegment] = []
        parent: str | None = None
        for seg in self.plan.segments:
            if seg.is_static:
                parts = [(seg.id, seg.role, seg.content, seg.hash)]
            else:
                rendered = self._session_segments.get(seg.id) if seg.stability == "session" else None
                if rendered is None:
                    rendered = self._render_segment(seg, values)
                parts = [(i, r, c, segment_hash(r, c)) for i, r, c in rendered]
            for sid, role, content, h in parts:
                parent = chain(parent, h)
                out.append(RequestSegment(id=sid, role=role, kind=seg.kind, stability=seg.stability, content=content,
                                          hash=h, prefix_hash=parent, tools=seg.tools))
        return Request(plan=self.plan.name, targets=self.plan.targets, segments=out)


def load_plan(path: str | Path) -> Plan:
    """Read a ``.plan.json`` file; raises :class:`PlanFormatError` with the reason when it is unusable."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFormatError(f"error[E403]: plan file not found: {p}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanFormatError(f"error[E403]: {p} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        got = data.get("format_version") if isinstance(data, dict) else None
        raise PlanFormatError(f"error[E403]: {p}: unsupported plan format_version {got!r} (expected {FORMAT_VERSION});"
                              " rebuild it with `promptc build`")
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise PlanFormatError(f"error[E403]: {p} is not a valid plan: {problems}") from None


def plan_json_schema() -> dict:
    """JSON Schema of the plan file format (``promptc schema``)."""
    return Plan.model_json_schema()
