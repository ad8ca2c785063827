"""The theoretical best, computed (not simulated) from the requests and their exact prompt sizes.

Definition, per target:

1. A request's *stable* tokens are those of its non-turn segments, in the provider's prefix order
   (tools first, then the other segments in plan order); its *turn* tokens are those of its
   turn-level segments (counted with the simulator's tokenizer) and are always uncached. The
   stable text segments are counted the same way; what the provider counted beyond text and turn
   (the tool definitions in its own encoding) is attributed to the first tools segment, so stable +
   turn = the exact prompt the simulator reported.
2. A stable token is identified by its whole prefix (the chain of segment hashes up to it): three
   agents that share their first segments share those tokens. Tokens can only be cached as part
   of a prefix of at least the minimum cacheable tokens: segments are grouped into *entries*
   ending at the first segment whose cumulative prefix reaches the minimum, then at each later
   segment; a tail below the minimum stays uncached.
3. Each entry is *written* when it was not used in the last TTL seconds (the provider's TTL for
   the retention simulated, refreshed by every use), and *read* otherwise: every stable token is
   written once per TTL window and read otherwise.
4. Cost uses the price table: written tokens at the write multiplier of that TTL — or, for a
   provider that charges nothing extra for writes (OpenAI before gpt-5.6, implicit caches), at
   the plain input price as uncached tokens, which is how those providers bill them.

A real placement cannot beat it on the provider's rules as simulated: a read needs an earlier
write of the same prefix within the TTL, and here every prefix is read whenever any rule would
allow it. (Only a strategy that knew the future could do better, by not writing a prefix that is
never read again.) Breakpoint limits, lookback windows and OpenAI's 128-token steps are ignored,
so the best may be out of reach.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

from promptc.core.prices import Price
from promptc.plan import Request
from promptc.runtime.usage import Usage


@dataclass(frozen=True)
class Entry:
    """A cacheable stretch of a request's stable prefix: its ``key`` (prefix identity) and ``tokens``."""

    key: str
    tokens: int


def entries(request: Request, prompt: int, count: Callable[[str], int], min_tokens: int) -> tuple[list[Entry], int]:
    """(the request's cacheable entries in prefix order, its uncached tokens) — see the module doc."""
    segs = [s for s in request.segments if s.stability != "turn" and (s.content or s.tools)]
    order = [s for s in segs if s.kind == "tools"] + [s for s in segs if s.kind != "tools"]
    sizes = [0 if s.kind == "tools" else count(s.content) for s in order]
    turn = sum(count(s.content) for s in request.segments if s.stability == "turn")
    rest = prompt - turn - sum(sizes)
    if order and rest > 0:  # the provider's encoding of the tool definitions
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


def theoretical_best(requests: Sequence[Request], times: Sequence[float], prompts: Sequence[int],
                     outputs: Sequence[int], *, count: Callable[[str], int], min_tokens: int, ttl_label: str,
                     ttl_s: float, price: Price | None) -> list[Usage]:
    """The best possible usage of each request (see the module doc); ``prompts`` are the exact prompt
    sizes the provider reported and ``outputs`` the output tokens."""
    last: dict[str, float] = {}
    out: list[Usage] = []
    free_writes = price is None or not price.write
    for req, t, prompt, output in zip(requests, times, prompts, outputs):
        es, uncached = entries(req, prompt, count, min_tokens)
        read = written = 0
        for e in es:
            seen = last.get(e.key)
            if seen is not None and t - seen <= ttl_s:
                read += e.tokens
            else:
                written += e.tokens
            last[e.key] = t
        if free_writes:
            out.append(Usage(uncached + written, read, {}, output))
        else:
            out.append(Usage(uncached, read, {ttl_label: written} if written else {}, output))
    return out


__all__ = ["Entry", "entries", "theoretical_best"]
