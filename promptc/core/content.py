"""Canonical text of memory and tools segments (shared by the compiler and the runtime)."""

from __future__ import annotations

from promptc.core.canonical import canonical_json


def memory_entries(text: str) -> list[str]:
    """A memory file's entries: paragraphs separated by blank lines, in order."""
    paras, cur = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            cur.append(line.rstrip())
        elif cur:
            paras.append("\n".join(cur))
            cur = []
    if cur:
        paras.append("\n".join(cur))
    return paras


def memory_content(entries: list[str]) -> str:
    """The text of a memory segment: its entries separated by blank lines, ending with a newline."""
    return "\n\n".join(entries) + "\n" if entries else ""


def tools_content(tools: list[dict]) -> str:
    """The text form of a tools segment: one canonical JSON schema per line, in declaration order."""
    return "".join(canonical_json(t) + "\n" for t in tools)
