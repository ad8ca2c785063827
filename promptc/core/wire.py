"""Per-target wire order: where a plan's segments sit in the request a provider actually hashes.

The plan is provider-neutral; each provider serializes it in its own order (its spec's ``render``,
:mod:`promptc.core.providers`): Anthropic, Bedrock, OpenAI, Gemini, Kimi, DeepSeek, OpenRouter and
the self-hosted servers send every tool definition before any system or message text, so a tools
segment listed after ``rules`` in the plan is still the first thing in the cached prefix. The promptc
engine and raw completion targets keep plan order. Every per-target figure (prefix tokens, breakpoint
placement, "shared with", the cacheable-minimum check, lint impact, report widths) is computed in
this order.

Contract (stable):

- :func:`wire_order` ``(target, segments) -> list[int]``: a permutation of ``range(len(segments))``:
  plan indices in the order ``target``'s wire carries them. ``segments`` are any objects with
  ``.kind`` (``text``/``tools``/``memory``/``history``) and ``.role``. On a tools-first provider the
  ``kind == "tools"`` segments come first (in plan order), then every other segment (in plan order);
  on a plan-order provider it is ``[0, 1, …]``. ``target`` is ``provider/model`` (or a bare
  provider); an unknown provider raises ``ValueError``.
- :func:`wire_prefix_tokens` ``(target, segments, counts) -> list[int | None]``: per *plan* index,
  the tokens of the wire prefix through that segment (``counts[i]`` is segment ``i``'s tokens on the
  target; ``None`` marks a segment that is not part of the stable prefix: it and every segment after
  it on the wire get ``None``).
- :func:`wire_prefix_keys` ``(target, segments, key) -> list[str | None]``: per plan index, an
  identity of the wire prefix through that segment (a hash chain of ``key(segment)`` in wire order;
  ``None`` once a segment's key is ``None``). Two plans share their cached prefix through segments
  ``a`` and ``b`` on ``target`` exactly when their keys are equal.
- :func:`tool_texts` ``(target, tools) -> list[str] | None``: what the target's wire carries for a
  tools segment's definitions (canonical JSON per tool), the text its tokens are counted from.
- :func:`wire_role` ``(target, segments, i) -> str``: the role segment ``i`` carries on ``target``'s
  wire: ``"system"`` for a segment the provider sends in its system region (a role of the spec's
  ``system_roles``, before the first user or assistant segment), else the segment's own role. Two
  versions of a segment with the same content are the same bytes on the wire when their wire roles
  are equal (a segment hash covers role and content).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Sequence

from promptc.core.providers import SPECS


def _spec(target: str):
    provider = target.split("/", 1)[0]
    spec = SPECS.get(provider)
    if spec is None:
        raise ValueError(f"unknown provider `{provider}`")
    return spec


def tools_first(target: str) -> bool:
    """Whether ``target`` sends every tool definition before any system or message text."""
    return _spec(target).tools_first


def wire_order(target: str, segments: Sequence[Any]) -> list[int]:
    """Plan indices of ``segments`` in the order ``target``'s wire carries them (see the module doc)."""
    n = len(segments)
    if not _spec(target).tools_first:
        return list(range(n))
    tools = [i for i, s in enumerate(segments) if s.kind == "tools"]
    rest = [i for i, s in enumerate(segments) if s.kind != "tools"]
    return tools + rest


def wire_prefix_tokens(target: str, segments: Sequence[Any], counts: Sequence[int | None]) -> list[int | None]:
    """Per plan index: tokens of ``target``'s wire prefix through that segment (None past a ``None`` count)."""
    out: list[int | None] = [None] * len(segments)
    total = 0
    for i in wire_order(target, segments):
        c = counts[i]
        if c is None:
            break
        total += c
        out[i] = total
    return out


def wire_prefix_keys(target: str, segments: Sequence[Any], key: Callable[[Any], str | None]) -> list[str | None]:
    """Per plan index: a hash chain of ``key(segment)`` over ``target``'s wire prefix through it."""
    out: list[str | None] = [None] * len(segments)
    h = hashlib.sha256(b"promptc-wire")
    for i in wire_order(target, segments):
        k = key(segments[i])
        if k is None:
            break
        h.update(b"\x00" + k.encode())
        out[i] = h.hexdigest()
    return out


def wire_last(target: str, segments: Sequence[Any], indices: Sequence[int]) -> int | None:
    """Of ``indices``, the one ``target``'s wire carries last (None when empty)."""
    pos = {i: p for p, i in enumerate(wire_order(target, segments))}
    return max(indices, key=lambda i: pos[i], default=None)


def tool_texts(target: str, tools: Sequence[Any]) -> list[str] | None:
    """The canonical JSON (sorted keys, compact, UTF-8) of each tool definition as ``target``'s wire
    carries it (the bytes a provider — and the simulator — counts for a tools segment), or None when
    the provider's spec has no tool shape (count the segment's content instead)."""
    tool_def = _spec(target).tool_def
    if tool_def is None:
        return None
    return [json.dumps(tool_def(t), sort_keys=True, separators=(",", ":"), ensure_ascii=False) for t in tools]


def wire_role(target: str, segments: Sequence[Any], i: int) -> str:
    """The role segment ``i`` of ``segments`` carries on ``target``'s wire (see the module doc)."""
    role = segments[i].role
    regional = _spec(target).system_roles
    if role in regional and not any(s.role in ("user", "assistant") and s.kind != "tools" for s in segments[:i]):
        return "system"
    return role
