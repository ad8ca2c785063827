"""The KV tree: KV state cached per prompt segment, keyed by a path of segment hashes.

Roots are keyed by ``(tenant scope, model fingerprint)``; a node is keyed by ``(parent, segment
hash)`` and holds that segment's token ids, its K/V tensors (at the positions its path implies) and
the logits of its last position, so a request whose segments all hit needs no recompute of them.

Memory: the sum of stored tensor bytes never exceeds ``budget_bytes``. To make room, unreferenced
leaves are evicted least-recently-used first; a node on the path of a running request holds a
reference and is never evicted. Nodes expire after ``ttl_s`` without use. All methods are thread-safe.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class TenantStats:
    """Per-tenant counters. ``cached_tokens``/``computed_tokens`` count prompt tokens."""

    hits: int = 0
    misses: int = 0
    cached_tokens: int = 0
    computed_tokens: int = 0
    evictions: int = 0
    expirations: int = 0
    uncached_inserts: int = 0
    bytes: int = 0
    nodes: int = 0
    requests: int = 0

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(eq=False)
class Node:
    """One cached segment under its parent."""

    key: str
    parent: "Node | None"
    tenant: str
    token_ids: tuple[int, ...] = ()
    start: int = 0  # position of the first token (sum of the ancestors' lengths)
    k: torch.Tensor | None = None  # (n_layers, n_kv, T, head_dim)
    v: torch.Tensor | None = None
    last_logits: torch.Tensor | None = None
    children: dict[str, "Node"] = field(default_factory=dict)
    refs: int = 0
    last_used: int = 0
    expires_at: float | None = None
    nbytes: int = 0

    @property
    def end(self) -> int:
        return self.start + len(self.token_ids)

    @property
    def is_root(self) -> bool:
        return self.parent is None

    def path(self) -> list["Node"]:
        out, n = [], self
        while n is not None and not n.is_root:
            out.append(n)
            n = n.parent
        return out[::-1]


def tensor_bytes(*tensors: torch.Tensor | None) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


class KVTree:
    """A budgeted, tenant-scoped tree of per-segment KV caches."""

    def __init__(self, budget_bytes: int, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.budget_bytes = int(budget_bytes)
        self.ttl_s = ttl_s
        self.clock = clock
        self.bytes_used = 0
        self.roots: dict[tuple[str, str], Node] = {}
        self.stats: dict[str, TenantStats] = {}
        self._tick = 0
        self._lock = threading.RLock()

    # -- helpers --------------------------------------------------------------------------------
    def _touch(self, node: Node) -> None:
        self._tick += 1
        node.last_used = self._tick
        if self.ttl_s is not None:
            node.expires_at = self.clock() + self.ttl_s

    def tenant_stats(self, tenant: str) -> TenantStats:
        with self._lock:
            return self.stats.setdefault(tenant, TenantStats())

    def root(self, tenant: str, fingerprint: str) -> Node:
        with self._lock:
            key = (tenant, fingerprint)
            if key not in self.roots:
                self.roots[key] = Node(key=f"root:{fingerprint}", parent=None, tenant=tenant)
            return self.roots[key]

    def _expired(self, node: Node) -> bool:
        return node.expires_at is not None and node.expires_at <= self.clock()

    # -- lookup and references -----------------------------------------------------------------
    def lookup(self, tenant: str, fingerprint: str, segments: list[tuple[str, tuple[int, ...]]]) -> list[Node]:
        """The deepest cached path for ``[(segment hash, token ids), ...]``; references are taken on it.

        A node matches only when both its hash and its token ids match. Expired nodes are misses and
        are dropped when nothing references them.
        """
        with self._lock:
            node = self.root(tenant, fingerprint)
            path: list[Node] = []
            for key, ids in segments:
                child = node.children.get(key)
                if child is None or child.token_ids != tuple(ids):
                    break
                if self._expired(child):
                    self._drop_subtree(child, reason="expired")
                    break
                path.append(child)
                node = child
            for n in path:
                n.refs += 1
                self._touch(n)
            return path

    def release(self, nodes: list[Node]) -> None:
        with self._lock:
            for n in nodes:
                if n.refs <= 0:
                    raise RuntimeError("KV tree reference released twice")
                n.refs -= 1

    # -- insertion and eviction ----------------------------------------------------------------
    def insert(self, parent: Node, key: str, token_ids: tuple[int, ...], k: torch.Tensor, v: torch.Tensor,
               last_logits: torch.Tensor) -> Node | None:
        """Add a child (referenced once for the caller) or return None when it cannot fit the budget."""
        with self._lock:
            nbytes = tensor_bytes(k, v, last_logits)
            stats = self.tenant_stats(parent.tenant)
            existing = parent.children.get(key)
            if existing is not None and existing.token_ids == tuple(token_ids):
                existing.refs += 1
                self._touch(existing)
                return existing
            if not parent.is_root and parent.parent is not None and parent.key not in parent.parent.children:
                return None  # the parent was dropped meanwhile: its subtree is gone
            parent.refs += 1  # keep the parent from being evicted while we make room under it
            try:
                if not self._make_room(nbytes):
                    stats.uncached_inserts += 1
                    return None
            finally:
                parent.refs -= 1
            node = Node(key=key, parent=parent, tenant=parent.tenant, token_ids=tuple(token_ids), start=parent.end,
                        k=k, v=v, last_logits=last_logits, refs=1, nbytes=nbytes)
            if existing is not None:  # same hash, different tokens: replace (tokenizer change)
                self._drop_subtree(existing, reason="replaced")
            parent.children[key] = node
            self._touch(node)
            self.bytes_used += nbytes
            stats.bytes += nbytes
            stats.nodes += 1
            return node

    def _evictable(self) -> list[Node]:
        out = []
        stack = list(self.roots.values())
        while stack:
            n = stack.pop()
            stack.extend(n.children.values())
            if not n.is_root and not n.children and n.refs == 0:
                out.append(n)
        return out

    def _make_room(self, nbytes: int) -> bool:
        if nbytes > self.budget_bytes:
            return False
        while self.bytes_used + nbytes > self.budget_bytes:
            leaves = self._evictable()
            if not leaves:
                return False
            expired = [n for n in leaves if self._expired(n)]
            victim = min(expired or leaves, key=lambda n: n.last_used)
            self._remove(victim, "expired" if expired else "evicted")
        return True

    def _remove(self, node: Node, reason: str) -> None:
        assert not node.children and node.refs == 0
        parent = node.parent
        if parent is not None and parent.children.get(node.key) is node:
            del parent.children[node.key]
        self.bytes_used -= node.nbytes
        stats = self.tenant_stats(node.tenant)
        stats.bytes -= node.nbytes
        stats.nodes -= 1
        if reason == "evicted":
            stats.evictions += 1
        elif reason == "expired":
            stats.expirations += 1
        node.k = node.v = node.last_logits = None

    def _drop_subtree(self, node: Node, reason: str) -> None:
        """Remove every unreferenced node of a subtree, leaves first; referenced ones stay."""
        for child in list(node.children.values()):
            self._drop_subtree(child, reason)
        if not node.children and node.refs == 0:
            self._remove(node, reason)

    def expire(self) -> int:
        """Drop every expired, unreferenced node; returns how many were dropped."""
        with self._lock:
            before = sum(s.expirations for s in self.stats.values())
            for root in list(self.roots.values()):
                for child in list(root.children.values()):
                    self._expire_walk(child)
            return sum(s.expirations for s in self.stats.values()) - before

    def _expire_walk(self, node: Node) -> None:
        if self._expired(node):
            self._drop_subtree(node, "expired")
            return
        for child in list(node.children.values()):
            self._expire_walk(child)

    def clear(self, tenant: str) -> int:
        """Drop every unreferenced node of one tenant; returns bytes freed."""
        with self._lock:
            before = self.bytes_used
            for (t, _), root in list(self.roots.items()):
                if t == tenant:
                    for child in list(root.children.values()):
                        self._drop_subtree(child, "cleared")
            return before - self.bytes_used

    # -- accounting ------------------------------------------------------------------------------
    def record(self, tenant: str, hits: int, misses: int, cached_tokens: int, computed_tokens: int) -> None:
        with self._lock:
            s = self.tenant_stats(tenant)
            s.hits += hits
            s.misses += misses
            s.cached_tokens += cached_tokens
            s.computed_tokens += computed_tokens
            s.requests += 1

    def nodes(self, tenant: str | None = None) -> list[Node]:
        with self._lock:
            out = []
            for (t, _), root in self.roots.items():
                if tenant is not None and t != tenant:
                    continue
                stack = list(root.children.values())
                while stack:
                    n = stack.pop()
                    out.append(n)
                    stack.extend(n.children.values())
            return out

    def stored_bytes(self) -> int:
        """Recount the bytes of every stored tensor (tests compare it with ``bytes_used``)."""
        return sum(tensor_bytes(n.k, n.v, n.last_logits) for n in self.nodes())
