"""The placer's fit gate (promptc/deploy/placement.py, invariant 6): memory-aware placement, no Ray.

Replicas report a KV capacity in tokens; the working set of a replica is the blocks it holds that two
or more of the window's placements on it used; a request goes first to an admitted replica where its
chain fits beside that working set."""

from __future__ import annotations

from promptc.core.hashing import segment_hash
from promptc.deploy.placement import Placer, RouteKey, rendezvous
from promptc.engine.kv_events import block_hash, tenant_salt

REPLICAS = ["r1", "r2", "r3"]


def stored(tenant: str, key: RouteKey, sizes: list[int], fp: str = "fp") -> list[dict]:
    salt, out, parent = tenant_salt(tenant), [], None
    for c, n in zip(key.chain, sizes):
        out.append({"type": "BlockStored", "block_hashes": [block_hash(fp, salt, c)],
                    "parent_block_hash": block_hash(fp, salt, parent), "token_ids": [1] * n,
                    "block_size": n, "extra_keys": [["promptc", c, salt, fp]]})
        parent = c
    return out


def removed(key: RouteKey, depth: int, fp: str = "fp") -> list[dict]:
    return [{"type": "BlockRemoved", "block_hashes": [block_hash(fp, key.salt, key.chain[depth])]}]


def key_for(tenant: str, *segs: str) -> RouteKey:
    return RouteKey.for_segments(tenant, [segment_hash("system", s) for s in segs])


def agent(tenant: str, name: str) -> RouteKey:
    return key_for(tenant, "global rules", f"agent {name}")


def full_r1(capacity: int = 100) -> Placer:
    """r1 holds acme's global (40 tokens) and agents a1, a2 (30 each), both used twice: working set 100.
    a3's chain (global + 30) was stored on r1 once and evicted, so its size is known."""
    p = Placer(min_count_skew=1000, max_queue_skew=1000)  # the load gate admits everyone here
    for r in REPLICAS:
        p.index.set_fingerprint(r, "fp")
        p.index.set_capacity(r, capacity)
    a3 = agent("acme", "a3")
    p.index.apply("r1", stored("acme", a3, [40, 30]) + removed(a3, 1))
    for name in ("a1", "a2"):
        k = agent("acme", name)
        p.index.apply("r1", stored("acme", k, [40, 30]))
        for _ in range(2):
            p.routed("r1", k)
            p.completed("r1")
    return p


def test_a_chain_that_does_not_fit_beside_the_working_set_goes_where_it_fits():
    p = full_r1()
    a3 = agent("acme", "a3")
    assert sum(p.working_set("r1").values()) == 100
    assert p.index.cached_tokens("r1", a3) == (40, 1)  # r1 holds a3's global prefix only
    assert not p.fits("r1", a3) and p.fits("r2", a3) and p.fits("r3", a3)
    c = p.rank(a3, REPLICAS)
    # among the replicas it fits (none holds it), rendezvous on the shared prefix decides; r1 comes last
    want = max(["r2", "r3"], key=lambda r: rendezvous(f"{a3.salt}|{a3.chain[0]}", r))
    assert c.ranked[0] == want and c.ranked[-1] == "r1"
    assert c.reason == "rendezvous" and c.moved_for_memory and c.cached_tokens == 0


def test_without_the_fit_gate_the_same_request_would_evict_a_live_chain():
    # the peer of the test above: an unknown capacity (a replica that reports none) is unbounded
    p = full_r1()
    p.index.set_capacity("r1", None)
    c = p.rank(agent("acme", "a3"), REPLICAS)
    assert c.ranked[0] == "r1" and c.reason == "cache" and not c.moved_for_memory
    # and so is a capacity large enough for the working set plus the chain
    q = full_r1(capacity=130)
    assert q.fits("r1", agent("acme", "a3")) and q.rank(agent("acme", "a3"), REPLICAS).ranked[0] == "r1"


def test_a_chain_in_the_working_set_stays_even_when_the_replica_is_full():
    p = full_r1()
    c = p.rank(agent("acme", "a1"), REPLICAS)
    assert p.fits("r1", agent("acme", "a1"))  # its blocks are the working set: nothing more to hold
    assert c.ranked[0] == "r1" and c.reason == "cache" and c.cached_tokens == 70 and not c.moved_for_memory


def test_a_one_off_tail_is_not_working_set():
    p = full_r1(capacity=130)
    # a request used once with a 200-token tail: held on r1, but not reused, so it takes no room
    once = key_for("acme", "global rules", "agent a1", "a question asked once")
    p.index.apply("r1", stored("acme", once, [40, 30, 200]))
    p.routed("r1", once)
    p.completed("r1")
    assert sum(p.working_set("r1").values()) == 100
    assert p.fits("r1", agent("acme", "a3"))


def test_when_it_fits_nowhere_cache_affinity_decides():
    p = full_r1()
    big = key_for("acme", "global rules", "agent a9")
    # 540 tokens, stored on r2 once and evicted: fits no replica
    p.index.apply("r2", stored("acme", big, [40, 500]) + removed(big, 1) + removed(big, 0))
    assert not any(p.fits(r, big) for r in REPLICAS)
    c = p.rank(big, REPLICAS)
    assert c.ranked[0] == "r1" and c.reason == "cache" and not c.moved_for_memory


def test_the_fit_gate_never_overrides_the_load_gate():
    p = full_r1()
    p.max_queue_skew = 0
    for _ in range(2):  # r2 and r3 busy: only r1 is admitted, though a3 does not fit there
        p.routed("r2")
        p.routed("r3")
    assert p.admitted(REPLICAS) == ["r1"]
    assert p.rank(agent("acme", "a3"), REPLICAS).ranked[0] == "r1"


def test_sizes_are_learned_from_any_replica_and_memory_is_per_tenant_chain():
    p = full_r1()
    # globex's chain of the same segments is another chain (another salt): r1's acme blocks are not its
    g = agent("globex", "a1")
    assert p.index.chain_blocks("fp", g) == [(block_hash("fp", g.salt, c), 0) for c in g.chain]
    assert p.fits("r1", g)  # never stored anywhere: its size is unknown (0), nothing to weigh
    p.index.apply("r3", stored("globex", g, [40, 30]))  # learned from r3's events
    assert [n for _, n in p.index.chain_blocks("fp", g)] == [40, 30]
    assert not p.fits("r1", g) and p.fits("r2", g)
    c = p.rank(g, REPLICAS)
    assert c.ranked[0] == "r3" and c.reason == "cache"  # r3 holds it and has room
    p.forget("r1")  # a replica that leaves takes its working set along
    assert p.working_set("r1") == {}
