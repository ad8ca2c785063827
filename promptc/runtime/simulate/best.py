"""The theoretical best, computed (not simulated) from the requests and their exact prompt sizes.

Definition, per target. The provider caches a request in one or more *modes*
(:class:`CacheMode`, derived from its spec by :func:`promptc.runtime.simulate.rules.cache_modes`): a
minimum cacheable prefix, a TTL (refreshed by every use; none for a memory-bound cache) and whether a
write costs more than plain input. Most providers have one mode; Qwen (DashScope) has two that are
mutually exclusive per request (explicit markers: ≥ 1,024 tokens, 5 minutes, writes at 125%; the
implicit cache of a request without markers: ≥ 256 tokens, no lifetime, free writes).

1. A request's tokens are those of its segments in the provider's prefix order (tools first, then the
   other segments in plan order), counted with the simulator's tokenizer; what the provider counted
   beyond the text (the tool definitions in its own encoding, role framing) is attributed to the first
   tools segment (else the first segment), so the segments add up to the exact prompt the simulator
   reported.
2. Which segments can be cached depends on the write price:

   - **free writes** (implicit caches — Z.ai, xAI, Mistral, DeepSeek, Gemini's implicit cache, OpenAI
     before gpt-5.6, Qwen without markers): the provider caches the whole prompt prefix as sent, turn
     segments included, so *every* segment counts — a turn whose text repeats (with everything before
     it) is read like any other prefix;
   - **writes at a premium** (explicit breakpoints — Anthropic, Bedrock, Vertex, MiniMax, Qwen's
     markers, OpenAI's explicit mode): only the non-turn ("stable") segments; turn-level tokens are
     uncached (a placement pays the premium on a turn without knowing whether it will repeat).
3. A token is identified by its whole prefix (the chain of segment hashes up to it): three agents that
   share their first segments share those tokens. Tokens are cached only as part of a prefix of at
   least the mode's minimum: segments are grouped into *entries* ending at the first segment whose
   cumulative prefix reaches the minimum, then at each later segment; a tail below it stays uncached.
4. Each entry is *read* when it was used within the TTL before (every use refreshes it) and *written*
   otherwise: every cacheable token is written once per TTL window and read otherwise.
5. With more than one mode, each request takes the cheaper of the modes' accounts (each mode's cache
   fed by every request: an optimistic bound on any mix).
6. Cost uses the price table: written tokens at the write multiplier of that TTL — or, where writes
   are free, at the plain input price as uncached tokens, which is how those providers bill them. A
   target has one read multiplier, so a second mode's reads are priced at it too (Qwen's implicit hits
   cost 20% of input, its explicit ones 10%: a Qwen price table with ``read = 0.1`` understates implicit
   hits, in the placement's cost as in the best's).

No real placement beats it on the provider's rules as simulated: a read needs an earlier use of the
same prefix within the TTL, here every prefix is read whenever any rule would allow it, and an
implicit cache's free writes make reading every repeated prefix the optimum. (Only a strategy that
knew the future could do better on a write-fee cache, by not writing a prefix that is never read
again.) Breakpoint limits, lookback windows, per-server caches (xAI, Mistral), block steps (OpenAI's
128 tokens) and the simulator's block granularity are ignored, so the best may be out of reach.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from promptc.core.prices import Price, cost_of
from promptc.plan import Request
from promptc.runtime.usage import Usage


@dataclass(frozen=True)
class Entry:
    """A cacheable stretch of a request's prefix: its ``key`` (prefix identity) and ``tokens``."""

    key: str
    tokens: int


@dataclass(frozen=True)
class CacheMode:
    """One way a provider caches a request (see the module doc): ``min_tokens``, the TTL
    (``ttl_label``, ``ttl_s``; ``math.inf``: none) and ``write_fee`` (a write costs more than input)."""

    name: str
    min_tokens: int
    ttl_label: str
    ttl_s: float
    write_fee: bool


def entries(request: Request, prompt: int, count: Callable[[str], int], min_tokens: int,
            turns: bool = False) -> tuple[list[Entry], int]:
    """(the request's cacheable entries in prefix order, its uncached tokens) — see the module doc;
    ``turns``: turn-level segments are cacheable too (a free-write cache)."""
    segs = [s for s in request.segments if (turns or s.stability != "turn") and (s.content or s.tools)]
    order = [s for s in segs if s.kind == "tools"] + [s for s in segs if s.kind != "tools"]
    sizes = [0 if s.kind == "tools" else count(s.content) for s in order]
    turn = 0 if turns else sum(count(s.content) for s in request.segments if s.stability == "turn")
    rest = prompt - turn - sum(sizes)
    if order and rest > 0:  # the provider's encoding of the tool definitions (and its framing)
        first_tools = next((i for i, s in enumerate(order) if s.kind == "tools"), 0)
        sizes[first_tools] += rest
    out: list[Entry] = []
    h = hashlib.sha256(b"promptc-best")
    cum = pending = 0
    for s, n in zip(order, sizes):
        h.update(s.hash.encode())
        cum += n
        pending += n
        if cum >= max(1, min_tokens) and pending:
            out.append(Entry(h.hexdigest(), pending))
            pending = 0
    return out, prompt - sum(e.tokens for e in out)


def mode_best(requests: Sequence[Request], times: Sequence[float], prompts: Sequence[int], outputs: Sequence[int],
              *, count: Callable[[str], int], mode: CacheMode) -> list[Usage]:
    """The best usage of each request in one cache ``mode`` (module doc, steps 1-4 and 6)."""
    last: dict[str, float] = {}
    out: list[Usage] = []
    for req, t, prompt, output in zip(requests, times, prompts, outputs):
        es, uncached = entries(req, prompt, count, mode.min_tokens, turns=not mode.write_fee)
        read = written = 0
        for e in es:
            seen = last.get(e.key)
            if seen is not None and t - seen <= mode.ttl_s:
                read += e.tokens
            else:
                written += e.tokens
            last[e.key] = t
        if mode.write_fee:
            out.append(Usage(uncached, read, {mode.ttl_label: written} if written else {}, output,
                             cache_mode=mode.name))
        else:
            out.append(Usage(uncached + written, read, {}, output, cache_mode=mode.name))
    return out


def _dearness(usage: Usage, price: Price | None) -> tuple[float, int]:
    """What a request costs, to pick the cheaper mode (unpriced: its full-price tokens, then fewer reads)."""
    if price is not None:
        total = cost_of(usage, price).total
        if total is not None:
            return total, 0
    return float((usage.uncached or 0) + usage.cache_write_total), -(usage.cache_read or 0)


def theoretical_best(requests: Sequence[Request], times: Sequence[float], prompts: Sequence[int],
                     outputs: Sequence[int], *, count: Callable[[str], int], price: Price | None,
                     modes: Sequence[CacheMode] | None = None, min_tokens: int = 0, ttl_label: str = "5m",
                     ttl_s: float = math.inf) -> list[Usage]:
    """The best possible usage of each request (see the module doc); ``prompts`` are the exact prompt
    sizes the provider reported and ``outputs`` the output tokens. ``modes`` are the provider's cache
    modes; without them, one mode from ``min_tokens``/``ttl_label``/``ttl_s`` whose writes cost extra
    when ``price`` says so."""
    if not modes:
        modes = [CacheMode("cache", min_tokens, ttl_label, ttl_s, price is not None and bool(price.write))]
    accounts = [mode_best(requests, times, prompts, outputs, count=count, mode=m) for m in modes]
    if len(accounts) == 1:
        return accounts[0]
    return [min(choices, key=lambda u: _dearness(u, price)) for choices in zip(*accounts)]


__all__ = ["CacheMode", "Entry", "entries", "mode_best", "theoretical_best"]
