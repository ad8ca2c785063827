"""Issue 9 item 7 (eviction half): one tenant's inserts never flush another tenant's KV cache wholesale.

The KV tree evicts the least recently used leaf of the tenant holding the most bytes (an inserting
tenant's pending bytes count), expired leaves first; victims come from per-tenant heaps, never from a
scan of the tree. Tested with the injectable clock, like tests/engine/test_kvtree.py.
"""

from __future__ import annotations

import random

import torch

from promptc.engine.kvtree import KVTree


def _kv(n_tokens: int = 4):
    k = torch.zeros((2, 1, n_tokens, 4))
    return k, k.clone(), torch.zeros(8)


PER_NODE = sum(t.numel() * t.element_size() for t in _kv())


def _fill(tree: KVTree, tenant: str, n: int, prefix: str) -> list[str]:
    root = tree.root(tenant, "fp")
    keys = []
    for i in range(n):
        key = f"{prefix}{i}"
        node = tree.insert(root, key, (i,), *_kv())
        assert node is not None
        tree.release([node])
        keys.append(key)
    return keys


def _keys(tree: KVTree, tenant: str) -> set[str]:
    return {n.key for n in tree.nodes(tenant)}


def test_a_tenant_under_its_share_survives_another_tenants_flood():
    tree = KVTree(budget_bytes=PER_NODE * 10)
    a_keys = _fill(tree, "alice", 4, "a")  # 4 of 10: under the fair share of 5
    _fill(tree, "mallory", 200, "m")  # 20x the budget, one insert at a time
    assert _keys(tree, "alice") == set(a_keys)  # a global LRU would have flushed all of them
    assert tree.tenant_stats("alice").evictions == 0
    assert tree.tenant_stats("mallory").evictions == 200 - 6
    assert tree.bytes_used == tree.stored_bytes() <= tree.budget_bytes


def test_a_tenant_over_its_share_is_trimmed_to_it_not_emptied():
    tree = KVTree(budget_bytes=PER_NODE * 10)
    _fill(tree, "alice", 10, "a")  # the whole budget
    _fill(tree, "bob", 30, "b")
    # max-min fair: both end with half; alice lost her oldest entries only
    assert _keys(tree, "alice") == {f"a{i}" for i in range(5, 10)}
    assert len(_keys(tree, "bob")) == 5


def test_own_inserts_evict_own_lru_first():
    tree = KVTree(budget_bytes=PER_NODE * 6)
    _fill(tree, "alice", 3, "a")
    _fill(tree, "bob", 3, "b")
    tree.release(tree.lookup("bob", "fp", [("b0", (0,))]))  # b0 is now bob's most recent
    _fill(tree, "bob", 1, "x")
    assert _keys(tree, "alice") == {"a0", "a1", "a2"}
    assert _keys(tree, "bob") == {"b0", "b2", "x0"}  # bob's least recently used (b1) went


def test_expired_leaves_of_any_tenant_go_before_live_ones():
    now = [0.0]
    tree = KVTree(budget_bytes=PER_NODE * 4, ttl_s=10, clock=lambda: now[0])
    _fill(tree, "alice", 2, "a")
    now[0] = 5
    _fill(tree, "bob", 2, "b")
    now[0] = 12  # alice's entries expired, bob's not
    _fill(tree, "bob", 2, "c")
    assert _keys(tree, "alice") == set() and tree.tenant_stats("alice").expirations == 2
    assert _keys(tree, "bob") == {"b0", "b1", "c0", "c1"}


def _reference_victim(tree: KVTree, tenant: str, nbytes: int):
    """The policy, by brute force: scan every leaf (what the old tree did per victim)."""
    leaves = [n for n in tree.nodes() if not n.children and n.refs == 0]
    if not leaves:
        return None
    expired = [n for n in leaves if tree._expired(n)]
    if expired:
        return min(expired, key=lambda n: n.last_used)
    tenants = {n.tenant for n in leaves}
    # ties: the inserting tenant, then the smaller name (max keeps the first of equal keys)
    t = max(sorted(tenants),
            key=lambda t: (tree.tenant_stats(t).bytes + (nbytes if t == tenant else 0), t == tenant))
    return min((n for n in leaves if n.tenant == t), key=lambda n: n.last_used)


def test_heap_victims_match_a_brute_force_scan_through_random_traffic():
    now = [0.0]
    tree = KVTree(budget_bytes=PER_NODE * 12, ttl_s=50, clock=lambda: now[0])
    rng = random.Random(7)
    pending: dict = {}
    removed: list = []
    original_make_room, original_remove = tree._make_room, tree._remove

    def make_room(nbytes, tenant):
        pending["args"] = (tenant, nbytes)
        try:
            return original_make_room(nbytes, tenant)
        finally:
            pending.clear()

    def remove(node, reason):
        if pending and reason in ("evicted", "expired"):
            assert node is _reference_victim(tree, *pending["args"]), "victim differs from the policy"
            removed.append(node)
        original_remove(node, reason)

    tree._make_room, tree._remove = make_room, remove
    held: list = []
    for step in range(3000):
        now[0] += rng.random()
        tenant = rng.choice(["a", "b", "c"])
        op = rng.random()
        if op < 0.6:  # a request: walk a random path, insert what is missing
            path = [f"k{rng.randint(0, 5)}" for _ in range(rng.randint(1, 3))]
            found = tree.lookup(tenant, "fp", [(k, (i,)) for i, k in enumerate(path)])
            parent = found[-1] if found else tree.root(tenant, "fp")
            got = list(found)
            for i, k in enumerate(path[len(found):], start=len(found)):
                node = tree.insert(parent, k, (i,), *_kv(rng.randint(1, 6)))
                if node is None:
                    break
                got.append(node)
                parent = node
            if rng.random() < 0.2:
                held.append(got)  # a long-running request keeps its references a while
            else:
                tree.release(got)
        elif held:
            tree.release(held.pop(rng.randrange(len(held))))
        assert tree.bytes_used <= tree.budget_bytes
        if step % 100 == 0:
            assert tree.bytes_used == tree.stored_bytes()
    for h in held:
        tree.release(h)
    assert len(removed) > 200, "the workload must exercise eviction"
    assert tree.bytes_used == tree.stored_bytes()
