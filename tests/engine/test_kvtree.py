"""KV-tree invariants: budget, references, LRU, TTL, tenants; 1,000 random requests on a tiny model."""

from __future__ import annotations

import random

import pytest
import torch

from promptc.engine import Engine, SegmentIn
from promptc.engine.kvtree import KVTree

from .tiny import tiny_weights


def _kv(n_tokens: int, fill: float = 0.0):
    k = torch.full((2, 1, n_tokens, 4), fill)
    return k, k.clone(), torch.zeros(8)


def test_lookup_returns_deepest_hit_and_takes_references():
    tree = KVTree(budget_bytes=1 << 20)
    root = tree.root("t", "fp")
    a = tree.insert(root, "A", (1, 2), *_kv(2))
    b = tree.insert(a, "B", (3,), *_kv(1))
    tree.release([a, b])
    path = tree.lookup("t", "fp", [("A", (1, 2)), ("B", (3,)), ("C", (4,))])
    assert path == [a, b]
    assert a.refs == 1 and b.refs == 1
    assert b.start == 2 and b.end == 3
    tree.release(path)
    assert tree.lookup("t", "fp", [("A", (1, 9))]) == []  # same hash, other tokens: a miss


def test_budget_is_exact_and_lru_evicts_unreferenced_leaves_first():
    per_node = sum(t.numel() * t.element_size() for t in _kv(4))
    tree = KVTree(budget_bytes=per_node * 3)
    root = tree.root("t", "fp")
    nodes = []
    for key in "ABC":
        n = tree.insert(root, key, (ord(key),), *_kv(4))
        tree.release([n])
        nodes.append(n)
    tree.release(tree.lookup("t", "fp", [("A", (ord("A"),))]))  # A is now most recently used
    d = tree.insert(root, "D", (68,), *_kv(4))
    assert d is not None
    assert "B" not in root.children and {"A", "C", "D"} <= set(root.children)
    assert tree.bytes_used == tree.stored_bytes() == per_node * 3
    assert tree.tenant_stats("t").evictions == 1


def test_referenced_nodes_are_never_evicted():
    per_node = sum(t.numel() * t.element_size() for t in _kv(4))
    tree = KVTree(budget_bytes=per_node * 2)
    root = tree.root("t", "fp")
    a = tree.insert(root, "A", (1,), *_kv(4))  # still referenced
    b = tree.insert(root, "B", (2,), *_kv(4))
    tree.release([b])
    assert tree.insert(root, "C", (3,), *_kv(4)) is not None  # evicts B, not A
    assert "A" in root.children and "B" not in root.children
    assert tree.insert(root, "D", (4,), *_kv(4)) is None  # A and C referenced: nothing can go
    assert tree.bytes_used <= tree.budget_bytes
    assert a.k is not None


def test_ttl_expires_unused_nodes():
    now = [0.0]
    tree = KVTree(budget_bytes=1 << 20, ttl_s=10, clock=lambda: now[0])
    root = tree.root("t", "fp")
    tree.release([tree.insert(root, "A", (1,), *_kv(2))])
    now[0] = 5
    assert len(tree.lookup("t", "fp", [("A", (1,))])) == 1  # a hit refreshes the TTL
    tree.release(root.children["A"].path())
    now[0] = 14
    assert tree.expire() == 0
    now[0] = 16
    assert tree.lookup("t", "fp", [("A", (1,))]) == []
    assert tree.bytes_used == 0 and tree.tenant_stats("t").expirations == 1


def test_tenants_and_fingerprints_never_share_nodes():
    tree = KVTree(budget_bytes=1 << 20)
    tree.release([tree.insert(tree.root("alice", "fp"), "A", (1,), *_kv(2))])
    assert tree.lookup("bob", "fp", [("A", (1,))]) == []
    assert tree.lookup("alice", "other-model", [("A", (1,))]) == []
    assert len(tree.nodes("alice")) == 1 and tree.nodes("bob") == []
    assert tree.clear("bob") == 0 and tree.clear("alice") > 0


@pytest.fixture(scope="module")
def tiny_engine(smollm_weights):
    return Engine(weights=tiny_weights(smollm_weights), budget_bytes=2_000_000)


def test_budget_holds_through_1000_random_requests(tiny_engine):
    rng = random.Random(1234)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    pool = [SegmentIn.of(f"s{i}", rng.choice(["system", "user"]), " ".join(rng.choices(words, k=rng.randint(3, 40))))
            for i in range(40)]
    tree = tiny_engine.tree
    pinned = tiny_engine.prefill("pinned", pool[:3], add_generation_prompt=False)
    pinned_nodes = list(pinned.held)
    pinned_k = [n.k.clone() for n in pinned_nodes]
    evictions_seen = 0
    for i in range(1000):
        tenant = rng.choice(["a", "b", "c"])
        segs = rng.sample(pool, rng.randint(1, 5))
        p = tiny_engine.prefill(tenant, segs, add_generation_prompt=False)
        assert p.cached_tokens + p.computed_tokens == p.prompt_tokens
        assert all(n.refs > 0 for n in p.held)
        tiny_engine.release(p)
        assert tree.bytes_used <= tree.budget_bytes
        if i % 50 == 0:
            assert tree.bytes_used == tree.stored_bytes()
        evictions_seen = sum(s.evictions for s in tree.stats.values())
    assert evictions_seen > 0, "the workload must exercise eviction"
    for n, k in zip(pinned_nodes, pinned_k):  # referenced all along: never evicted, never mutated
        assert n.k is not None and torch.equal(n.k, k)
        assert n.parent is None or n.parent.children.get(n.key) is n
    tiny_engine.release(pinned)
    assert all(n.refs == 0 for n in tree.nodes())
    assert tree.bytes_used == tree.stored_bytes()
