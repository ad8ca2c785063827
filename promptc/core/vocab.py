"""The language's vocabularies, declared once: every other module takes them from here.

Stability levels are ordered (DESIGN.md §3.3): along a plan stability never decreases, and a value
may only flow into a segment at least as volatile as the value.
"""

from __future__ import annotations

from typing import Literal, get_args

Stability = Literal["static", "session", "turn"]
Level = Literal["global", "agent", "task"]
Role = Literal["system", "developer", "user", "assistant"]
Kind = Literal["text", "tools", "memory", "history"]

STABILITIES: tuple[str, ...] = get_args(Stability)
LEVELS: tuple[str, ...] = get_args(Level)
ROLES: tuple[str, ...] = get_args(Role)
KINDS: tuple[str, ...] = get_args(Kind)
#: ``static`` < ``session`` < ``turn``.
STABILITY_RANK: dict[str, int] = {name: i for i, name in enumerate(STABILITIES)}
#: Scalar input types; ``enum(...)``, ``list[T]`` and ``object{...}`` are built from them.
SIMPLE_TYPES: tuple[str, ...] = ("string", "int", "float", "bool")
#: Kinds that may only grow at their end (tools, memory, history); text may be declared append-only too.
APPEND_ONLY_KINDS: tuple[str, ...] = ("tools", "memory", "history")
#: An append-only segment's default base stability: how often it may grow.
APPEND_ONLY_DEFAULT: dict[str, str] = {"tools": "static", "memory": "static", "history": "turn", "text": "static"}

#: Input type of a history segment's entries (bound at run time, one message per entry).
HISTORY_ENTRY_TYPE: dict = {"type": "list", "items": {"type": "object", "fields": [
    ["role", {"type": "enum", "choices": list(ROLES)}],
    ["content", {"type": "string"}]]}}
#: Input type of a session/turn memory segment's entries.
MEMORY_ENTRY_TYPE: dict = {"type": "list", "items": {"type": "string"}}
