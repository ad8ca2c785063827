"""Binding a plan to inputs: ``plan.bind(**session) → Session``, ``session.render(**turn) → Request``.

Static segments come from the plan verbatim (content and hashes are never re-rendered). Session
segments render once at bind time; turn segments on every ``render``. Append-only segments whose
entries arrive at run time (session memory, turn history) are checked to only grow at their end.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from promptc.compiler.content import memory_content
from promptc.compiler.hashing import chain, segment_hash
from promptc.compiler.render import render_template, runtime_environment
from promptc.compiler.schema import inputs_model
from promptc.errors import AppendOnlyError, InputError
from promptc.plan import Plan, PlanSegment, Request, RequestSegment


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
            if seg.stability == "static" and seg.content is not None:
                parts = [(seg.id, seg.role, seg.content, seg.hash)]
            else:
                rendered = self._session_segments.get(seg.id) if seg.stability == "session" else None
                if rendered is None:
                    rendered = self._render_segment(seg, values)
                parts = [(i, r, c, segment_hash(r, c)) for i, r, c in rendered]
            for n, (sid, role, content, h) in enumerate(parts, 1):
                parent = chain(parent, h)
                out.append(RequestSegment(id=sid, role=role, kind=seg.kind, stability=seg.stability, content=content,
                                          hash=h, prefix_hash=parent, tools=seg.tools, level=seg.level,
                                          tokens=seg.tokens, breakpoint=seg.breakpoint if n == len(parts) else None))
        return Request(plan=self.plan.name, targets=self.plan.targets, segments=out)
