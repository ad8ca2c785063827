"""Provider prompt-cache limits: minimum cacheable tokens and maximum breakpoints per model family.

Source: ../shared/reference/provider-caching.md §11 (provider docs dated 2026-02 to 2026-10).
These values change between doc versions; override them per project in ``pyproject.toml``::

    [tool.promptc.cache_limits."anthropic/claude-opus-4-8"]
    min_tokens = 1024
    max_breakpoints = 4

Keys are ``provider/model-prefix``; the longest matching prefix wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

SOURCE_DATE = "2026-10"


@dataclass(frozen=True)
class CacheLimits:
    """How a provider caches: ``mode`` is ``explicit`` (breakpoints), ``automatic`` (prefix, no
    markers) or ``tree`` (the promptc engine: every segment is a node)."""

    key: str
    min_tokens: int | None
    max_breakpoints: int
    mode: str
    source: str = SOURCE_DATE


# (provider/model-prefix, min_tokens, max_breakpoints, mode)
_TABLE: list[tuple[str, int | None, int, str]] = [
    ("engine/", 1, 0, "tree"),
    ("raw/", None, 0, "automatic"),
    ("vllm/", 16, 0, "automatic"),
    ("sglang/", 16, 0, "automatic"),
    ("anthropic/", 1024, 4, "explicit"),
    ("anthropic/claude-fable-5", 512, 4, "explicit"),
    ("anthropic/claude-mythos-5", 512, 4, "explicit"),
    ("anthropic/claude-opus-4-8", 1024, 4, "explicit"),
    ("anthropic/claude-sonnet-5", 1024, 4, "explicit"),
    ("anthropic/claude-sonnet-4", 1024, 4, "explicit"),
    ("anthropic/claude-opus-4-1", 1024, 4, "explicit"),
    ("anthropic/claude-opus-4-7", 2048, 4, "explicit"),
    ("anthropic/claude-mythos-preview", 2048, 4, "explicit"),
    ("anthropic/claude-haiku-3-5", 2048, 4, "explicit"),
    ("anthropic/claude-opus-4-6", 4096, 4, "explicit"),
    ("anthropic/claude-opus-4-5", 4096, 4, "explicit"),
    ("anthropic/claude-haiku-4-5", 4096, 4, "explicit"),
    ("bedrock/", 1024, 4, "explicit"),
    ("bedrock/claude-opus-4-7", 4096, 4, "explicit"),
    ("bedrock/claude-opus-4-6", 4096, 4, "explicit"),
    ("bedrock/claude-opus-4-5", 4096, 4, "explicit"),
    ("bedrock/claude-haiku-4-5", 4096, 4, "explicit"),
    ("bedrock/claude-fable-5", 512, 4, "explicit"),
    ("bedrock/claude-opus-5", 512, 4, "explicit"),
    ("openai/", 1024, 0, "automatic"),
    ("openai/gpt-5.6", 1024, 3, "explicit"),  # 4 writes, one taken by the implicit breakpoint
    ("openai/gpt-5.7", 1024, 3, "explicit"),
    ("gemini/", 2048, 1, "explicit"),
    ("gemini/gemini-3-flash", 1024, 1, "explicit"),
    ("gemini/gemini-3.1-pro", 4096, 1, "explicit"),
    ("gemini/gemini-3.5-flash", 4096, 1, "explicit"),
    ("moonshot/", None, 0, "automatic"),
    ("deepseek/", 64, 0, "automatic"),
    ("openrouter/", 1024, 4, "explicit"),
]


def _overrides(root: Path | None) -> dict[str, dict]:
    from promptc.compiler import deps

    d = root
    while d is not None:
        f = d / "pyproject.toml"
        deps.record(f)
        if f.is_file():
            try:
                data = tomllib.loads(f.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, OSError):
                return {}
            return data.get("tool", {}).get("promptc", {}).get("cache_limits", {}) or {}
        d = d.parent if d.parent != d else None
    return {}


def limits_for(target_name: str, root: Path | None = None) -> CacheLimits:
    """The cache limits for ``provider/model`` (project overrides first, then the table)."""
    best = None
    for key, mn, mx, mode in _TABLE:
        if target_name.startswith(key) and (best is None or len(key) > len(best.key)):
            best = CacheLimits(key, mn, mx, mode)
    if best is None:
        best = CacheLimits("default", 1024, 0, "automatic")
    over = _overrides(root)
    match = max((k for k in over if target_name.startswith(k)), key=len, default=None)
    if match:
        o = over[match]
        best = replace(best, key=match, min_tokens=o.get("min_tokens", best.min_tokens),
                       max_breakpoints=o.get("max_breakpoints", best.max_breakpoints), mode=o.get("mode", best.mode),
                       source="pyproject.toml")
    return best


#: Providers that pack consecutive same-role segments into one message (system blocks, content
#: blocks, parts) whose texts the model sees concatenated: those boundaries are raw text joins.
RAW_JOIN_PROVIDERS = {"anthropic", "bedrock", "gemini"}
