"""AST of a .prompt file. Every node carries the :class:`~promptc.core.errors.Span` it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptc.core.errors import Span


# -- clauses: what the parser's transformer returns for the parts of a declaration -------------------
# They exist only between the grammar and the finished declarations below (never in a Module), so each
# grammar rule has one transformer method returning one small dataclass: no string-tagged tuples.


@dataclass(frozen=True)
class RawString:
    """A string token as written (quotes and escapes included); ``span`` starts at its first quote."""

    raw: str
    span: Span

    @property
    def triple(self) -> bool:
        return self.raw.startswith('"""')


@dataclass(frozen=True)
class Annotation:
    """``@word`` or ``@word(word)`` after a segment or input name."""

    words: tuple[str, ...]
    span: Span

    @property
    def text(self) -> str:
        return "@" + self.words[0] + (f"({self.words[1]})" if len(self.words) > 1 else "")


@dataclass(frozen=True)
class Default:
    """``= literal`` after an input's type."""

    value: Any
    span: Span


@dataclass(frozen=True)
class KindClause:
    """``text | tools | memory | history`` after a segment's annotation."""

    kind: str
    span: Span


@dataclass(frozen=True)
class RoleClause:
    """``role NAME``; the name is checked against the known roles by the parser's segment rules."""

    role: str
    span: Span


@dataclass(frozen=True)
class TextClause:
    """A segment body written as one string (triple-quoted or single-quoted)."""

    string: RawString


@dataclass(frozen=True)
class FromClause:
    """A segment body ``from "file"`` (memory entries read from a file)."""

    string: RawString


@dataclass(frozen=True)
class BlockClause:
    """A segment body ``{ ... }``: inputs, tools and strings, in source order."""

    items: tuple["InputDecl | ToolDecl | RawString", ...]
    span: Span


@dataclass(frozen=True)
class FieldDecl:
    """``name: type`` inside ``object { ... }``."""

    name: str
    type: "TypeRef"
    span: Span


@dataclass(frozen=True)
class TypeRef:
    """An input type: ``string | int | float | bool | enum(...) | list[T] | object{...}``, maybe optional."""

    name: str  # string | int | float | bool | enum | list | object
    span: Span
    optional: bool = False
    items: "TypeRef | None" = None  # list element
    choices: tuple[str, ...] = ()  # enum values
    fields: tuple[tuple[str, "TypeRef"], ...] = ()  # object fields, in declaration order

    def to_spec(self) -> dict:
        """A JSON-able description stored in plans and used to rebuild validators at bind time."""
        spec: dict[str, Any] = {"type": self.name}
        if self.optional:
            spec["optional"] = True
        if self.items is not None:
            spec["items"] = self.items.to_spec()
        if self.choices:
            spec["choices"] = list(self.choices)
        if self.fields:
            spec["fields"] = [[n, t.to_spec()] for n, t in self.fields]
        return spec


@dataclass(frozen=True)
class InputDecl:
    """``input name: type [@stability] [= default]``; without ``@`` it inherits its segment's stability."""

    name: str
    type: TypeRef
    span: Span
    stability: str | None = None
    default: Any = None
    has_default: bool = False
    doc: str | None = None


@dataclass(frozen=True)
class Param:
    name: str
    type: TypeRef
    description: str | None
    span: Span


@dataclass(frozen=True)
class ToolDecl:
    """``name(param: type "desc", ...) "description"`` inside a ``tools`` segment."""

    name: str
    params: tuple[Param, ...]
    description: str | None
    span: Span


@dataclass(frozen=True)
class TextBody:
    """A triple- or single-quoted template. ``line``/``col`` locate the first body character."""

    source: str
    span: Span
    body_line: int
    body_col: int
    indent: int = 0  # columns removed from every line by dedenting


@dataclass(frozen=True)
class Entry:
    text: str
    span: Span


@dataclass(frozen=True)
class Segment:
    """A ``global``/``agent``/``task`` segment declaration."""

    level: str
    name: str
    stability: str
    append_only: bool
    kind: str
    role: str
    span: Span
    name_span: Span
    doc: str | None = None
    text: TextBody | None = None
    inputs: tuple[InputDecl, ...] = ()
    tools: tuple[ToolDecl, ...] = ()
    entries: tuple[Entry, ...] = ()
    from_file: str | None = None
    from_span: Span | None = None


@dataclass(frozen=True)
class Ref:
    """A (possibly dotted) reference to a segment in a plan: ``rules`` or ``shared.rules``."""

    parts: tuple[str, ...]
    span: Span

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class PlanDecl:
    name: str
    refs: tuple[Ref, ...]
    span: Span
    name_span: Span
    targets: tuple[tuple[str, Span], ...] = ()
    doc: str | None = None


@dataclass(frozen=True)
class Import:
    path: str
    alias: str | None
    span: Span


@dataclass(frozen=True)
class TargetDecl:
    targets: tuple[tuple[str, Span], ...]
    span: Span


@dataclass
class Module:
    """One parsed .prompt file."""

    path: str  # display path
    imports: list[Import] = field(default_factory=list)
    targets: list[TargetDecl] = field(default_factory=list)
    inputs: list[InputDecl] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    plans: list[PlanDecl] = field(default_factory=list)
