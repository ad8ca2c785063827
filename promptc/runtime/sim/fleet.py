"""A simulated fleet of OpenAI-compatible self-hosted servers (vLLM / SGLang replicas) behind a router.

Invariants, each tested in tests/providers/test_fleet.py:

1. **Prefix cache per replica** (:class:`BlockCache`): a prompt's token ids are cut into full blocks
   (vLLM: 16 tokens; SGLang's radix tree: 1); block *i*'s hash chains block *i−1*'s, and the first
   block's includes the request's ``cache_salt``, so equal hashes ⇔ equal salted prefixes. A request
   reads its leading blocks that are stored, but never its whole prompt: at least one token is
   computed (``cached ≤ ⌊(n−1)/B⌋·B``, as vLLM does to get the last position's logits). Every full
   block is then stored; memory is bounded by ``capacity_blocks`` and the least recently used block
   goes first (within one request, the tail before the head, so a prefix is never orphaned first).
2. **Tenants never share**: a different ``cache_salt`` changes every block hash, so two tenants'
   identical prompts never hit each other's blocks, on any replica.
3. **Routing** (:class:`Router`): ``round_robin``; ``routing_key`` = consistent hashing of the
   routing header on a ring with 160 virtual nodes per replica (no header: round robin), so equal
   keys always land on the same replica; ``cache_aware`` (the SGLang Model Gateway's policy, modelled):
   the router keeps its own approximate tree per replica (block hashes it routed there, *without* the
   salt, which it does not read) and sends a request to the replica with the longest match when the
   match covers more than ``cache_threshold`` of the prompt, otherwise to the replica with the
   smallest tree; when loads are imbalanced (``max − min > balance_abs`` and ``max > balance_rel·min``)
   it picks the least loaded replica instead.

The chat template is the model's (:func:`chat_pieces`, the provider spec's rendering:
promptc/core/providers/selfhosted.py): ChatML, one piece per message and the generation prompt — a
tools piece first on the proxy template, SmolLM2's default system message on its own; pieces are
tokenized on their own with the model's tokenizer (the spec's) and concatenated. Text *parts* of one
message are joined with ``"\\n"``, as vLLM does.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from promptc.core.providers.selfhosted import CHATML_PROXY, ChatFormat, message_text
from promptc.core.providers.selfhosted import chat_pieces as _spec_pieces

POLICIES = ("round_robin", "routing_key", "cache_aware")
ROUTING_HEADER = "x-smg-routing-key"
GENERATION_PROMPT = CHATML_PROXY.generation_prompt
END = CHATML_PROXY.end


def header(role: str) -> str:
    """The text that opens a message of ``role`` in the proxy chat template."""
    return CHATML_PROXY.header(role)


def chat_pieces(payload: Mapping[str, Any], fmt: ChatFormat = CHATML_PROXY) -> list[str]:
    """The rendered pieces of a chat request (the spec's :func:`~promptc.core.providers.selfhosted.chat_pieces`)."""
    return _spec_pieces(payload, fmt)


def chat_ids(encode: Callable[[str], list[int]], payload: Mapping[str, Any],
             fmt: ChatFormat = CHATML_PROXY) -> list[int]:
    """The prompt's token ids: each piece tokenized on its own, concatenated."""
    return [t for piece in chat_pieces(payload, fmt) for t in encode(piece)]


def block_hashes(ids: Sequence[int], block_size: int, salt: str | None) -> list[str]:
    """Chained hashes of the full blocks of ``ids``; the salt enters the first block's hash."""
    out: list[str] = []
    h = hashlib.sha256(f"salt:{salt or ''}".encode()).digest()
    for start in range(0, len(ids) - block_size + 1, block_size):
        chunk = b"".join(t.to_bytes(4, "little") for t in ids[start:start + block_size])
        h = hashlib.sha256(h + chunk).digest()
        out.append(h.hex())
    return out


@dataclass
class BlockCache:
    """One replica's prefix cache: block hashes in LRU order, at most ``capacity_blocks`` (None: unbounded)."""

    block_size: int = 16
    capacity_blocks: int | None = None
    blocks: "OrderedDict[str, None]" = field(default_factory=OrderedDict)
    evictions: int = 0

    def run(self, ids: Sequence[int], salt: str | None) -> int:
        """Serve one prompt: the number of its tokens read from the cache; stores its full blocks."""
        hashes = block_hashes(ids, self.block_size, salt)
        hit = 0
        while hit < len(hashes) and hashes[hit] in self.blocks:
            hit += 1
        cached = min(hit, (len(ids) - 1) // self.block_size) * self.block_size if ids else 0
        for h in reversed(hashes):  # the head ends most recent: the tail is evicted first
            self.blocks[h] = None
            self.blocks.move_to_end(h)
        while self.capacity_blocks is not None and len(self.blocks) > self.capacity_blocks:
            self.blocks.popitem(last=False)
            self.evictions += 1
        return cached


@dataclass
class Replica:
    """One server: its cache and counters (``prompt`` tokens seen, ``cached`` read, ``load`` in flight)."""

    cache: BlockCache
    requests: int = 0
    prompt: int = 0
    cached: int = 0
    load: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "prompt_tokens": self.prompt, "cached_tokens": self.cached,
                "computed_tokens": self.prompt - self.cached, "blocks": len(self.cache.blocks),
                "evictions": self.cache.evictions}


@dataclass
class Router:
    """Picks a replica for each request (see the module docstring for the policies)."""

    replicas: int
    policy: str = "routing_key"
    header: str = ROUTING_HEADER
    block_size: int = 16
    vnodes: int = 160
    cache_threshold: float = 0.3
    balance_abs: int = 64
    balance_rel: float = 1.5
    _next: int = 0
    _ring: list[tuple[int, int]] = field(default_factory=list)
    _trees: list[set[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown routing policy `{self.policy}` (one of {', '.join(POLICIES)})")
        self._ring = sorted((_point(f"replica-{r}#{v}"), r) for r in range(self.replicas) for v in range(self.vnodes))
        self._trees = [set() for _ in range(self.replicas)]

    def _round_robin(self) -> int:
        r = self._next % self.replicas
        self._next += 1
        return r

    def for_key(self, key: str) -> int:
        """The replica a routing key maps to on the consistent-hash ring."""
        i = bisect.bisect_left(self._ring, (_point(key), -1)) % len(self._ring)
        return self._ring[i][1]

    def pick(self, headers: Mapping[str, str], ids: Sequence[int], loads: Sequence[int]) -> int:
        """The replica for a request with these (lower-cased) headers and token ids."""
        if self.policy == "routing_key":
            key = headers.get(self.header.lower())
            return self.for_key(key) if key else self._round_robin()
        if self.policy == "round_robin":
            return self._round_robin()
        hashes = block_hashes(ids, self.block_size, None)
        lo, hi = min(loads), max(loads)
        if hi - lo > self.balance_abs and hi > self.balance_rel * lo:
            choice = loads.index(lo)
        else:
            matches = []
            for tree in self._trees:
                n = 0
                while n < len(hashes) and hashes[n] in tree:
                    n += 1
                matches.append(n)
            best = max(range(self.replicas), key=lambda r: (matches[r], -r))
            if ids and matches[best] * self.block_size / len(ids) > self.cache_threshold:
                choice = best
            else:
                choice = min(range(self.replicas), key=lambda r: (len(self._trees[r]), r))
        self._trees[choice].update(hashes)
        return choice


def _point(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Served:
    """What the fleet did with one request."""

    replica: int
    prompt_tokens: int
    cached_tokens: int


class Fleet:
    """``replicas`` servers, each with its own :class:`BlockCache`, behind a :class:`Router`.

    ``report`` says what usage carries, like the servers' flags: ``"always"`` (vLLM
    ``--enable-prompt-tokens-details``, SGLang ``--enable-cache-report``), ``"never"`` (flag off:
    ``prompt_tokens_details`` is null) or ``"nonzero"`` (vLLM versions that omit a 0).
    """

    def __init__(self, replicas: int = 4, policy: str = "routing_key", *, block_size: int = 16,
                 capacity_blocks: int | None = None, header: str = ROUTING_HEADER, report: str = "always"):
        if replicas < 1:
            raise ValueError("a fleet needs at least one replica")
        if report not in ("always", "never", "nonzero"):
            raise ValueError(f"unknown report mode `{report}` (always, never, nonzero)")
        self.block_size, self.report = block_size, report
        self.replicas = [Replica(BlockCache(block_size, capacity_blocks)) for _ in range(replicas)]
        self.router = Router(replicas, policy, header, block_size)

    def serve(self, ids: Sequence[int], headers: Mapping[str, str], salt: str | None) -> Served:
        """Route one tokenized request and run it on its replica's cache."""
        lowered = {k.lower(): v for k, v in headers.items()}
        r = self.router.pick(lowered, ids, [x.load for x in self.replicas])
        rep = self.replicas[r]
        rep.load += 1
        try:
            cached = rep.cache.run(ids, salt)
        finally:
            rep.load -= 1
        rep.requests += 1
        rep.prompt += len(ids)
        rep.cached += cached
        return Served(r, len(ids), cached)

    def usage_details(self, cached: int) -> dict[str, int] | None:
        """``prompt_tokens_details`` as the configured server would report it (None: null)."""
        if self.report == "never" or (self.report == "nonzero" and cached == 0):
            return None
        return {"cached_tokens": cached}

    def stats(self) -> dict[str, Any]:
        """Per-replica counters and the totals."""
        reps = [r.to_json() for r in self.replicas]
        prompt = sum(r["prompt_tokens"] for r in reps)
        cached = sum(r["cached_tokens"] for r in reps)
        return {"policy": self.router.policy, "block_size": self.block_size, "replicas": reps,
                "prompt_tokens": prompt, "cached_tokens": cached, "computed_tokens": prompt - cached,
                "hit_rate": cached / prompt if prompt else 0.0}


__all__ = ["BlockCache", "Fleet", "POLICIES", "ROUTING_HEADER", "Replica", "Router", "Served", "block_hashes",
           "chat_ids", "chat_pieces", "message_text"]
