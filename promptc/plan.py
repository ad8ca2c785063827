"""The plan and the request: the contract between the compiler and every runtime.

A :class:`Plan` is what ``promptc build`` writes (``<out>/<plan>.plan.json``). Agent code loads it,
binds session inputs (:meth:`Plan.bind` → :class:`~promptc.runtime.session.Session`) and renders a
turn (→ :class:`Request`): ordered segments, each with role, content, hash and prefix hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from promptc import __version__
from promptc.errors import PlanFormatError

FORMAT_VERSION = 1

Stability = Literal["static", "session", "turn"]
Level = Literal["global", "agent", "task"]
Role = Literal["system", "developer", "user", "assistant"]
Kind = Literal["text", "tools", "memory", "history"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSpan(_Frozen):
    path: str
    line: int
    col: int
    end_line: int
    end_col: int


class Target(_Frozen):
    """Where a plan runs: ``provider/model`` and the tokenizer used to count and align tokens."""

    name: str = Field(description="provider/model, e.g. engine/smollm2 or openai/gpt-5.6")
    provider: str
    model: str
    tokenizer: str = Field(description="tokenizer id, e.g. gguf:smollm2, o200k_base")
    tokenizer_exact: bool = Field(description="false when the provider's tokenizer is not public and a proxy is used")


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
        from promptc.runtime.session import Session

        return Session(self, session_inputs)

    def segment(self, id_: str) -> PlanSegment:
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

    def wire_segments(self) -> list[dict[str, str]]:
        """The ``segments[]`` extension of the engine API: ``[{id, hash, role, content}]``."""
        return [{"id": s.id, "hash": s.hash, "role": s.role, "content": s.content} for s in self.segments]

    @property
    def prefix_hash(self) -> str:
        return self.segments[-1].prefix_hash if self.segments else ""


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
