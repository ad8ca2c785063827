"""The plan, its binding and the request: the contract between the compiler and every runtime.

A :class:`Plan` is what ``promptc build`` writes (``<out>/<plan>.plan.json``). Agent code loads it,
binds session inputs (:meth:`Plan.bind` → :class:`Session`) and renders a
turn (→ :class:`Request`): ordered segments, each with role, content, hash and prefix hash.
"""

from __future__ import annotations

import difflib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptc.core.content import memory_content
from promptc.core.errors import AppendOnlyError, InputError, PlanFormatError, PromptcError, RenderError
from promptc.core.hashing import chain, segment_hash
from promptc.core.inputs import inputs_model
from promptc.core.planfile import MAX_PLAN_DEPTH, read_plan_json, surrogate_path, verify_plan
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

    def input_model(self, level: str) -> type[BaseModel]:
        """The pydantic model validating this plan's inputs of one level (``session`` or ``turn``), built once.

        Building one costs milliseconds, so a session reuses it for every turn. The cache is keyed on the
        ``inputs`` list itself: a copy with other inputs builds its own.
        """
        entry = self._input_models.get(level)
        if entry is None or entry[0] is not self.inputs:
            specs = [s.model_dump() for s in self.inputs if s.stability == level]
            entry = self._input_models[level] = (self.inputs, inputs_model(f"{self.name}_{level}_inputs", specs))
        return entry[1]

    @cached_property
    def _input_models(self) -> dict[str, tuple[list, type[BaseModel]]]:
        return {}

    def bind(self, **session_inputs: Any):
        """Validate session inputs and render session segments; returns a :class:`Session`."""
        return Session(self, session_inputs)

    def segment(self, id_: str) -> PlanSegment:
        """The segment with id ``id_`` (KeyError when the plan has none)."""
        for seg in self.segments:
            if seg.id == id_:
                return seg
        raise KeyError(id_)


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
    level: Level | None = Field(default=None, description="the plan segment's level (global/agent/task)")
    tokens: dict[str, int] | None = Field(default=None, description="token count per plan target (static segments)")
    breakpoint: list[str] | None = Field(default=None, description="plan targets that place a cache breakpoint "
                                                                    "after this segment")


class Request(_Frozen):
    """An ordered list of hashed segments for one turn of a plan; provider-neutral."""

    plan: str
    targets: list[Target]
    segments: list[RequestSegment]

    def to_messages(self) -> list[dict[str, str]]:
        """OpenAI-style chat messages: one per run of consecutive same-role segments, in order.

        A run's contents are joined with nothing in between: the raw text join the compiler proves
        token boundaries for, so no bytes are added or re-serialized. (One message per segment
        gave several consecutive system messages, which Anthropic, Gemini and many chat templates
        reject or render with a header per message.) Provider adapters in
        :mod:`promptc.runtime.providers` keep each segment as its own content block instead, so
        they can put cache breakpoints between them.
        """
        out: list[dict[str, str]] = []
        for s in self.segments:
            if out and out[-1]["role"] == s.role:
                out[-1]["content"] += s.content
            else:
                out.append({"role": s.role, "content": s.content})
        return out

    @property
    def prefix_hash(self) -> str:
        return self.segments[-1].prefix_hash if self.segments else ""


# -- binding ---------------------------------------------------------------------------------------
def _validate(plan: Plan, level: str, values: dict[str, Any]) -> dict[str, Any]:
    try:
        out = plan.input_model(level).model_validate(values).model_dump(mode="json")
    except ValidationError as exc:
        declared = {s.name: s.stability for s in plan.inputs}
        errors = []
        for e in exc.errors():
            path = ".".join(str(x) for x in e["loc"]) or "(inputs)"
            msg = e["msg"]
            if e["type"] == "extra_forbidden" and len(e["loc"]) == 1:
                msg = unknown_input_message(str(e["loc"][0]), declared, level)
            errors.append((path, msg))
        raise InputError(plan.name, errors) from None
    bad = surrogate_path(out)
    if bad:
        raise InputError(plan.name, [(bad, "contains a lone surrogate (e.g. \\ud800), which is not valid Unicode "
                                           "text")])
    return out


def unknown_input_message(name: str, declared: dict[str, str], level: str | None = None) -> str:
    """Why ``name`` is not an input (of ``level``, or of the plan), listing the right ones and suggesting a close one:
    ``"unknown session input (session inputs: `customer`); did you mean `customer`?"``."""
    if level and name in declared:
        return f"`{name}` is a {declared[name]} input, not a {level} input"
    what = f"{level} input" if level else "input"
    same = sorted(n for n, st in declared.items() if level is None or st == level)
    msg = f"unknown {what} ({what}s: {', '.join(f'`{n}`' for n in same) or 'none'})"
    close = difflib.get_close_matches(name, sorted(declared), n=1, cutoff=0.6)
    if close:
        other = declared[close[0]]
        msg += f"; did you mean `{close[0]}`" + ("" if level in (None, other) else f" (a {other} input)") + "?"
    return msg


class Session:
    """A plan bound to its session inputs. Render one :class:`Request` per turn."""

    def __init__(self, plan: Plan, session_inputs: dict[str, Any]):
        self.plan = plan
        # Static inputs are build-time constants: a session or turn template that uses one gets its default.
        self._static_values = {s.name: s.default for s in plan.inputs if s.stability == "static"}
        self.session_values = _validate(plan, "session", session_inputs)
        self._env = runtime_environment(plan.includes)
        self._appended: dict[str, list] = {}
        self._session_segments: dict[str, list[tuple[str, str, str]]] = {}
        values = {**self._static_values, **self.session_values}
        for seg in plan.segments:
            if seg.stability == "session":
                self._session_segments[seg.id] = self._render_segment(seg, values, self._appended)

    def _render_segment(self, seg: PlanSegment, values: dict[str, Any], appended: dict[str, list]
                        ) -> list[tuple[str, str, str]]:
        """``[(id, role, content)]`` for one segment (history expands to one entry per message); an append-only
        segment's new entries go to ``appended``."""
        if seg.kind == "text":
            content = self._render_text(seg, {n: values[n] for n in seg.inputs})
            if seg.append_only:
                self._check_append_only(seg, [content], appended)
            return [(seg.id, seg.role, content)]
        name = seg.inputs[0]
        entries = list(values.get(name) or [])
        self._check_append_only(seg, entries, appended)
        if seg.kind == "memory":
            return [(seg.id, seg.role, memory_content(entries))]
        return [(f"{seg.id}[{i}]", e["role"], e["content"]) for i, e in enumerate(entries)]

    def _render_text(self, seg: PlanSegment, values: dict[str, Any]) -> str:
        """Render a template; a limit it exceeds raises its own coded error (E806–E809), anything else the
        template raises becomes a :class:`RenderError` (E419) naming the segment."""
        try:
            content = render_template(self._env, seg.template, values)
        except PromptcError:
            raise  # already coded: a template limit (docs/security.md)
        except Exception as exc:  # noqa: BLE001 - template code is user code: any failure is the user's (E419)
            kind = type(exc).__name__
            detail = str(exc) or kind
            raise RenderError(f"error[E419]: segment `{seg.id}` of plan `{self.plan.name}` failed to render: "
                              f"{detail} ({kind})\n   = hint: check the template and the inputs it was given "
                              f"({', '.join(seg.inputs) or 'none'})") from None
        if surrogate_path(content):
            raise RenderError(f"error[E419]: segment `{seg.id}` of plan `{self.plan.name}` rendered text that is not "
                              "valid Unicode (a lone surrogate such as \\ud800)\n   = hint: remove the \\u escape "
                              "from the template")
        return content

    def _check_append_only(self, seg: PlanSegment, entries: list, appended: dict[str, list]) -> None:
        """Every append-only kind (history, memory, text) may only grow at its end between turns (E402)."""
        before = self._appended.get(seg.id)
        if before is None:
            appended[seg.id] = [e if isinstance(e, str) else dict(e) for e in entries]
            return
        if seg.kind == "text":  # one content: it may only be extended
            ok = entries[0].startswith(before[0])
            first = next((i for i, (a, b) in enumerate(zip(before[0], entries[0])) if a != b),
                         min(len(before[0]), len(entries[0])))
            where = f"at character {first}"
        else:
            ok = entries[: len(before)] == before
            first = next((i for i, (a, b) in enumerate(zip(before, entries)) if a != b), min(len(before), len(entries)))
            where = f"at entry {first} (it had {len(before)} entries, now {len(entries)})"
        if not ok:
            raise AppendOnlyError(
                f"error[E402]: append-only {seg.kind} segment `{seg.id}` of plan `{self.plan.name}` changed {where}; "
                "only appending keeps the cached prefix")
        appended[seg.id] = [e if isinstance(e, str) else dict(e) for e in entries]

    def render(self, **turn_inputs: Any) -> Request:
        """Validate turn inputs, render turn segments and return the hashed :class:`Request`."""
        turn_values = _validate(self.plan, "turn", turn_inputs)
        values = {**self._static_values, **self.session_values, **turn_values}
        out: list[RequestSegment] = []
        parent: str | None = None
        appended: dict[str, list] = {}  # committed only when the whole turn renders
        for seg in self.plan.segments:
            if seg.is_static:
                parts = [(seg.id, seg.role, seg.content, seg.hash)]
            else:
                rendered = self._session_segments.get(seg.id) if seg.stability == "session" else None
                if rendered is None:
                    rendered = self._render_segment(seg, values, appended)
                parts = [(i, r, c, segment_hash(r, c)) for i, r, c in rendered]
            for n, (sid, role, content, h) in enumerate(parts, 1):
                parent = chain(parent, h)
                out.append(RequestSegment(id=sid, role=role, kind=seg.kind, stability=seg.stability, content=content,
                                          hash=h, prefix_hash=parent, tools=seg.tools, level=seg.level,
                                          tokens=seg.tokens, breakpoint=seg.breakpoint if n == len(parts) else None))
        self._appended.update(appended)
        return Request(plan=self.plan.name, targets=self.plan.targets, segments=out)


def load_plan(path: str | Path, *, max_depth: int = MAX_PLAN_DEPTH) -> Plan:
    """Read and verify a ``.plan.json`` file before anything renders from it.

    Raises :class:`PlanFormatError` with one code per reason: E403 missing or unreadable file, E404 not
    JSON text, E405 nested deeper than ``max_depth``, E406 unsupported ``format_version``, E407 not
    the plan schema, E408–E418 a plan that contradicts itself (see :func:`promptc.core.planfile.verify_plan`).
    """
    p = Path(path)
    data = read_plan_json(p, max_depth)
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        got = data.get("format_version") if isinstance(data, dict) else None
        raise PlanFormatError(f"{p}: unsupported plan format_version {got!r} (expected {FORMAT_VERSION})", "E406",
                              "format_version", "rebuild the plan with `promptc build`")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _field_path(first["loc"])
        problems = "; ".join(f"{_field_path(e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise PlanFormatError(f"{p} is not a valid plan: {problems}", "E407", where,
                              "rebuild the plan with `promptc build`; plan files are not edited by hand") from None
    verify_plan(plan, str(p))
    return plan


def _field_path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(plan)"


def plan_json_schema() -> dict:
    """JSON Schema of the plan file format (``promptc schema``)."""
    return Plan.model_json_schema()
