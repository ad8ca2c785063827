"""Models of each provider's documented prompt-cache semantics (docs/providers.md, "Simulator").

The models work on *blocks*: the unit a provider hashes (an Anthropic tool, system or content
block; an OpenAI tool or content part), each with its token count, an identity (its canonical
JSON without cache markers) and the marker it carries. Time comes from an injectable clock.

- :class:`AnthropicCache`: entries are written only at breakpoints whose cumulative prefix reaches
  the model's minimum; each breakpoint looks back 20 blocks (itself included) for an entry; with
  A = the furthest hit, B = the last 1h breakpoint after A and C = the last breakpoint,
  read = A, 1h write = B − A, 5m write = C − B; a hit refreshes the entry's TTL.
- :class:`OpenAICache`: before gpt-5.6, automatic prefix caching of prompts of ≥ 1,024 tokens in
  128-token increments, scoped by ``prompt_cache_key``, no write charge; from gpt-5.6, explicit and
  implicit breakpoints (at most 4 written per request, each ≥ 1,024 tokens), reads at any earlier
  breakpoint boundary with no lookback limit, a 30-minute minimum TTL, writes reported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

from promptc.core.providers import SPECS

LOOKBACK = SPECS["anthropic"].limits("anthropic/").lookback or 20
#: TTL name → seconds, from the provider specs (Anthropic's 5m/1h, OpenAI's in_memory/24h/30m/12h)
TTL_S = {**SPECS["anthropic"].ttls, **SPECS["openai"].ttls}


@dataclass(frozen=True)
class Block:
    """One cacheable unit: ``tokens`` it adds, ``identity`` bytes, and its marker TTL (None = unmarked)."""

    tokens: int
    identity: str
    marker: str | None = None


def prefix_hashes(root: str, blocks: list[Block]) -> list[str]:
    out, h = [], hashlib.sha256(root.encode()).hexdigest()
    for b in blocks:
        h = hashlib.sha256((h + "\x00" + b.identity).encode()).hexdigest()
        out.append(h)
    return out


def cumulative_tokens(blocks: list[Block]) -> list[int]:
    """Tokens up to and including each block."""
    out, total = [], 0
    for b in blocks:
        total += b.tokens
        out.append(total)
    return out


@dataclass
class _Entry:
    expires: float
    ttl: str


def longest_block_prefix(entries: dict, now: float, model: str, key: str, token_ids: list[int],
                         lengths: list[int], ttl: str) -> int:
    """A block-granular prefix cache keyed by (model, key, prefix hash): the longest stored, unexpired
    prefix among ``lengths`` is read (its TTL renewed with its own retention) and every longer prefix
    is stored with ``ttl``. Returns the tokens read."""
    h = hashlib.sha256(f"{model}\x00{key}".encode())
    hashes: dict[int, str] = {}
    done = 0
    for n in lengths:
        h.update(b"".join(t.to_bytes(4, "little") for t in token_ids[done:n]))
        done = n
        hashes[n] = h.copy().hexdigest()
    read = 0
    for n in reversed(lengths):
        e = entries.get((model, key, hashes[n]))
        if e is not None and e.expires > now:
            read = n
            e.expires = now + TTL_S[e.ttl]
            break
    for n in lengths:
        if n > read:
            entries[(model, key, hashes[n])] = _Entry(now + TTL_S[ttl], ttl)
    return read


@dataclass(frozen=True)
class CacheResult:
    """What one request read and wrote (token counts), and the total prompt size."""

    total: int
    read: int
    write: dict[str, int]

    @property
    def uncached(self) -> int:
        return self.total - self.read - sum(self.write.values())


@dataclass
class AnthropicCache:
    """Anthropic's breakpoint cache for one workspace; ``min_tokens(model)`` gives the minimum."""

    clock: Callable[[], float]
    min_tokens: Callable[[str], int]
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)

    def run(self, model: str, blocks: list[Block]) -> CacheResult:
        now = self.clock()
        hashes = prefix_hashes(model, blocks)
        cum = cumulative_tokens(blocks)
        total = cum[-1] if cum else 0
        bps = [i for i, b in enumerate(blocks) if b.marker]
        hit = -1
        for bp in bps:
            for pos in range(bp, max(-1, bp - LOOKBACK), -1):
                e = self.entries.get((model, hashes[pos]))
                if e is not None and e.expires > now:
                    hit = max(hit, pos)
                    break
        read = cum[hit] if hit >= 0 else 0
        if hit >= 0:
            e = self.entries[(model, hashes[hit])]
            e.expires = now + TTL_S[e.ttl]  # refreshed free on each hit
        minimum = self.min_tokens(model)
        later = [i for i in bps if i > hit and cum[i] >= minimum]
        write: dict[str, int] = {}
        if later:
            long_ = [i for i in later if blocks[i].marker == "1h"]
            b = long_[-1] if long_ else None
            c = later[-1]
            base = read
            if b is not None:
                write["1h"] = cum[b] - base
                base = cum[b]
            if cum[c] - base > 0:
                write["5m"] = cum[c] - base
            for i in later:
                ttl = blocks[i].marker or "5m"
                self.entries[(model, hashes[i])] = _Entry(now + TTL_S[ttl], ttl)
        return CacheResult(total, read, write)


@dataclass
class OpenAICache:
    """OpenAI's prompt cache, scoped by model and ``prompt_cache_key``."""

    clock: Callable[[], float]
    minimum: int = SPECS["openai"].limits("openai/").min_tokens or 0
    increment: int = 128
    max_writes: int = 4
    entries: dict[tuple[str, str, str], _Entry] = field(default_factory=dict)

    def automatic(self, model: str, key: str, token_ids: list[int], retention: str) -> CacheResult:
        """Before gpt-5.6: the longest stored prefix of ≥ 1,024 tokens, in 128-token steps; writes are free."""
        total = len(token_ids)
        lengths = list(range(self.minimum, total + 1, self.increment))
        read = longest_block_prefix(self.entries, self.clock(), model, key, token_ids, lengths, retention)
        return CacheResult(total, read, {})

    def explicit(self, model: str, key: str, blocks: list[Block], implicit: bool) -> CacheResult:
        """gpt-5.6+: breakpoints at marked blocks (+ the implicit one on the last block)."""
        now = self.clock()
        hashes = prefix_hashes(f"{model}\x00{key}", blocks)
        cum = cumulative_tokens(blocks)
        total = cum[-1] if cum else 0
        bps = [i for i, b in enumerate(blocks) if b.marker]
        if implicit and blocks and (not bps or bps[-1] != len(blocks) - 1):
            bps.append(len(blocks) - 1)
        hit = -1
        for pos in range(len(blocks) - 1, -1, -1):  # any stored boundary: no lookback limit
            e = self.entries.get((model, key, hashes[pos]))
            if e is not None and e.expires > now:
                hit = pos
                e.expires = now + TTL_S[e.ttl]
                break
        read = cum[hit] if hit >= 0 else 0
        writes = [i for i in bps[-self.max_writes:] if i > hit and cum[i] >= self.minimum]
        for i in writes:
            self.entries[(model, key, hashes[i])] = _Entry(now + TTL_S["30m"], "30m")
        written = cum[writes[-1]] - read if writes else 0
        return CacheResult(total, read, {"30m": written} if written else {})
