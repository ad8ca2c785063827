"""The KV tree: KV state cached per prompt segment, keyed by a path of segment hashes.

Roots are keyed by ``(tenant scope, model fingerprint)``; a node is keyed by ``(parent, segment
hash)`` and holds that segment's token ids, its K/V tensors (at the positions its path implies) and
the final hidden state of its last position (a ``dim``-vector, not the ``vocab``-sized logits), so a
request whose segments all hit needs no recompute of them.

Memory: the sum of stored tensor bytes never exceeds ``budget_bytes``. To make room, only
unreferenced leaves are evicted; a node on the path of a running request holds a reference and is
never evicted. Nodes expire after ``ttl_s`` without use. All methods are thread-safe.

Eviction order (docs/security.md, "Shared engine"):

1. An expired leaf, of any tenant, goes first.
2. Otherwise the victim is the least recently used leaf of the tenant holding the most bytes, where
   the inserting tenant's pending insert counts toward its own total (ties go to the inserter). So a
   tenant is only evicted to make room for another tenant when it holds at least as much as that
   tenant will: one tenant's traffic can never flush another's cache wholesale, and every tenant
   keeps up to ``budget_bytes / N`` (``N`` = tenants holding cache) against the others' inserts.

Finding a victim costs O(tenants + log leaves): each tenant's unreferenced leaves sit in a heap
keyed by last use (stale entries are skipped lazily), so eviction never scans the tree.
"""

from __future__ import annotations

import heapq
import itertools
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
    last_hidden: torch.Tensor | None = None  # final hidden state of the last position (Transformer.logits)
    children: dict[str, "Node"] = field(default_factory=dict)
    refs: int = 0
    last_used: int = 0
    expires_at: float | None = None
    nbytes: int = 0
    removed: bool = False

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
        # called as fn("stored" | "removed", node) under the tree lock (promptc.engine.kv_events): keep them cheap
        self.listeners: list[Callable[[str, Node], None]] = []
        # tenant → the set of its evictable leaves (unreferenced, childless, stored) and a heap of
        # (last_used, seq, node) over them; heap entries whose node left the set are skipped.
        self._leaves: dict[str, set[Node]] = {}
        self._heaps: dict[str, list[tuple[int, int, Node]]] = {}
        self._seq = itertools.count()

    # -- helpers --------------------------------------------------------------------------------
    def _touch(self, node: Node) -> None:
        self._tick += 1
        node.last_used = self._tick
        if self.ttl_s is not None:
            node.expires_at = self.clock() + self.ttl_s

    def _sync(self, node: Node | None) -> None:
        """Keep ``node``'s membership in its tenant's evictable-leaf set right after any change to it."""
        if node is None or node.is_root:
            return
        leaves = self._leaves.setdefault(node.tenant, set())
        if not node.removed and node.refs == 0 and not node.children:
            if node not in leaves:
                leaves.add(node)
                heap = self._heaps.setdefault(node.tenant, [])
                heapq.heappush(heap, (node.last_used, next(self._seq), node))
                if len(heap) > 2 * len(leaves) + 64:  # drop stale entries now and then
                    self._heaps[node.tenant] = heap = [e for e in heap if e[2] in leaves and e[0] == e[2].last_used]
                    heapq.heapify(heap)
        else:
            leaves.discard(node)

    def _oldest_leaf(self, tenant: str) -> Node | None:
        """The least recently used evictable leaf of a tenant (stale heap entries are dropped)."""
        heap = self._heaps.get(tenant)
        leaves = self._leaves.get(tenant, ())
        while heap:
            last_used, _, node = heap[0]
            if node in leaves and node.last_used == last_used:
                return node
            heapq.heappop(heap)
        return None

    def tenant_snapshot(self) -> dict[str, TenantStats]:
        """A consistent copy of every tenant's counters (metrics read it without touching the tree)."""
        with self._lock:
            return {t: TenantStats(**s.to_json()) for t, s in self.stats.items()}

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
                self._sync(n)
            return path

    def longest_shared_prefix(self, parent: Node, token_ids: tuple[int, ...]) -> tuple[Node | None, int]:
        """The child of ``parent`` whose token ids share the longest prefix with ``token_ids`` (whatever
        its segment hash) and that prefix's length, or ``(None, 0)``.

        K/V at a position depends only on the tokens up to it, so a new segment that starts like a
        cached sibling can copy the sibling's K/V for the shared tokens instead of computing them
        (a token-level radix match at the point where the segment path diverges)."""
        best, longest = None, 0
        with self._lock:
            for child in parent.children.values():
                ids = child.token_ids
                if not ids or not token_ids or ids[0] != token_ids[0] or self._expired(child):
                    continue
                n = 0
                for a, b in zip(ids, token_ids):
                    if a != b:
                        break
                    n += 1
                if n > longest:
                    best, longest = child, n
            if best is not None:
                self._touch(best)
                self._sync(best)
        return best, longest

    def release(self, nodes: list[Node]) -> None:
        with self._lock:
            for n in nodes:
                if n.refs <= 0:
                    raise RuntimeError("KV tree reference released twice")
                n.refs -= 1
                self._sync(n)

    # -- insertion and eviction ----------------------------------------------------------------
    def insert(self, parent: Node, key: str, token_ids: tuple[int, ...], k: torch.Tensor, v: torch.Tensor,
               last_hidden: torch.Tensor) -> Node | None:
        """Add a child (referenced once for the caller) or return None when it cannot fit the budget."""
        with self._lock:
            nbytes = tensor_bytes(k, v, last_hidden)
            stats = self.tenant_stats(parent.tenant)
            existing = parent.children.get(key)
            if existing is not None and existing.token_ids == tuple(token_ids):
                existing.refs += 1
                self._touch(existing)
                self._sync(existing)
                return existing
            if not parent.is_root and (parent.removed or parent.parent is None
                                       or parent.parent.children.get(parent.key) is not parent):
                return None  # the parent was dropped meanwhile: its subtree is gone
            parent.refs += 1  # keep the parent from being evicted while we make room under it
            self._sync(parent)
            try:
                if not self._make_room(nbytes, parent.tenant):
                    stats.uncached_inserts += 1
                    return None
            finally:
                parent.refs -= 1
                self._sync(parent)
            node = Node(key=key, parent=parent, tenant=parent.tenant, token_ids=tuple(token_ids), start=parent.end,
                        k=k, v=v, last_hidden=last_hidden, refs=1, nbytes=nbytes)
            if existing is not None:  # same hash, different tokens: replace (tokenizer change)
                self._drop_subtree(existing, reason="replaced")
            parent.children[key] = node
            self._sync(parent)
            self._touch(node)
            self.bytes_used += nbytes
            stats.bytes += nbytes
            stats.nodes += 1
            for fn in self.listeners:
                fn("stored", node)
            return node

    def _make_room(self, nbytes: int, tenant: str) -> bool:
        if nbytes > self.budget_bytes:
            return False
        while self.bytes_used + nbytes > self.budget_bytes:
            oldest = [n for n in (self._oldest_leaf(t) for t in list(self._heaps)) if n is not None]
            if not oldest:
                return False
            lru = min(oldest, key=lambda n: n.last_used)  # expiry follows last use (one TTL for all)
            if self._expired(lru):
                self._remove(lru, "expired")
                continue
            # ties go to the inserting tenant, then to the smaller name: never to set iteration order,
            # which changes with PYTHONHASHSEED (eviction must be the same on every run)
            victim_tenant = max(sorted({n.tenant for n in oldest}),
                                key=lambda t: (self.tenant_stats(t).bytes + (nbytes if t == tenant else 0),
                                               t == tenant))
            self._remove(next(n for n in oldest if n.tenant == victim_tenant), "evicted")
        return True

    def _remove(self, node: Node, reason: str) -> None:
        assert not node.children and node.refs == 0 and not node.removed
        node.removed = True
        self._sync(node)
        parent = node.parent
        if parent is not None and parent.children.get(node.key) is node:
            del parent.children[node.key]
            self._sync(parent)  # a parent whose last child went is now an evictable leaf
        self.bytes_used -= node.nbytes
        stats = self.tenant_stats(node.tenant)
        stats.bytes -= node.nbytes
        stats.nodes -= 1
        if reason == "evicted":
            stats.evictions += 1
        elif reason == "expired":
            stats.expirations += 1
        node.k = node.v = node.last_hidden = None
        for fn in self.listeners:
            fn("removed", node)

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
        return sum(tensor_bytes(n.k, n.v, n.last_hidden) for n in self.nodes())
