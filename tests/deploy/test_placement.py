"""The placer (promptc/deploy/placement.py), no Ray: the fit gate (invariant 6), and the share gate and
stickiness (invariants 3 and 4) on a simulated team fleet.

Replicas report a KV capacity in tokens; the working set of a replica is the blocks it holds that two
or more of the window's placements on it used; a request goes first to an admitted replica where its
chain fits beside that working set."""

from __future__ import annotations

from collections import Counter, OrderedDict

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


# -- the share gate and stickiness (invariants 3 and 4) on a simulated fleet ------------------------------
# The replicas here are stand-ins for engine replicas that announce what they store, as the engine does
# (one BlockStored per new segment node, BlockRemoved for an evicted leaf); the placer under test is the
# real one. The workload is the team example's shape (bench/fleet.py --ray): tenant acme's three agents
# share a 378-token global block, globex's one agent has its own; every agent speaks once per turn, the
# speaking order rotates by one each turn, and a turn's four requests are in flight together.
GLOBAL = (179, 199)  # the engine's token counts of the team example's rules and tools segments
TEAM = (("acme", "backend", 141), ("acme", "docs", 94), ("acme", "frontend", 126), ("globex", "backend", 141))


class Fleet:
    """Replicas that hold segment nodes (unbounded, or ``capacity`` tokens with leaf-first LRU eviction)
    and report them as KV events; counts the tokens each request computes."""

    def __init__(self, placer: Placer, n: int, capacity: int | None = None):
        self.placer, self.capacity = placer, capacity
        self.held: dict[str, OrderedDict] = {f"r{i}": OrderedDict() for i in range(n)}
        self.computed = 0
        for r in self.held:
            placer.index.set_fingerprint(r, "fp")
            placer.index.set_capacity(r, capacity)

    def serve(self, replica: str, key: RouteKey, sizes: list[int]) -> None:
        held, events, parent, cached, hit = self.held[replica], [], None, 0, True
        for c, n in zip(key.chain, sizes):
            node = (key.salt, c)
            if node in held:
                held.move_to_end(node)
                cached += n if hit else 0
            else:
                hit = False
                held[node] = (n, parent)
                events.append({"type": "BlockStored", "block_hashes": [block_hash("fp", key.salt, c)],
                               "parent_block_hash": block_hash("fp", key.salt, parent), "block_size": n,
                               "extra_keys": [["promptc", c, key.salt, "fp"]]})
            parent = c
        self.computed += sum(sizes) - cached
        while self.capacity is not None and sum(n for n, _ in held.values()) > self.capacity:
            inner = {(s, p) for (s, _), (_, p) in held.items()}
            victim = next((v for v in held if v not in inner and v[1] not in key.chain), None)
            if victim is None:
                break
            del held[victim]
            events.append({"type": "BlockRemoved", "block_hashes": [block_hash("fp", *victim)]})
        self.placer.index.apply(replica, events)


def team_turns(placer: Placer, n: int, turns: int, capacity: int | None = None, agents=TEAM):
    """Run the rotating team workload; returns (fleet, replica per agent per turn)."""
    fleet = Fleet(placer, n, capacity)
    requests = [(key_for(t, "global rules", "global tools", f"agent {a}"), [*GLOBAL, size]) for t, a, size in agents]
    where: list[list[str]] = [[] for _ in agents]
    for turn in range(turns):
        k = turn % len(agents)
        order = list(range(len(agents)))[k:] + list(range(len(agents)))[:k]
        sent = []
        for i in order:  # as Ray does: the turn's requests are all chosen before the first is sent
            r = placer.rank(requests[i][0], sorted(fleet.held)).ranked[0]
            placer.reserve(r, requests[i][0], (turn, i))
            sent.append((i, r))
        for i, r in sent:
            placer.routed(r, requests[i][0], request_id=(turn, i))
        for i, r in sent:
            fleet.serve(r, *requests[i])
            placer.completed(r, request_id=(turn, i))
            where[i].append(r)
    return fleet, where


def single_replica_minimum(agents=TEAM) -> int:
    """Each tenant's global once, each agent's own segment once: what one unbounded replica computes."""
    return sum(GLOBAL) * len({t for t, _, _ in agents}) + sum(size for _, _, size in agents)


def test_agents_stay_where_their_chain_is_cached_under_a_rotating_speaking_order():
    for capacity in (None, 1092):  # unbounded, and about two agents' prompts per replica (48 MiB of fp32 KV)
        fleet, where = team_turns(Placer(), 2, 40, capacity)
        # every agent keeps one replica from its first request on, whatever the speaking order
        assert all(len(set(w)) == 1 for w in where), where
        # acme (3 of every 4 requests) cannot fit one replica's share (0.5 + 0.1): two acme agents on one
        # replica, the third beside globex
        homes = [w[0] for w in where]
        assert sorted(Counter(homes).values()) == [2, 2] and homes[3] in homes[:3]
        # that is the floor: acme's global computed once on each replica, every agent's own segment once
        assert fleet.computed == single_replica_minimum() + sum(GLOBAL)
        shares = Counter(r for w in where for r in w)
        assert max(shares.values()) / sum(shares.values()) == 0.5


def test_on_three_replicas_acme_alternates_within_two_replicas_and_the_share_holds():
    # 4 agents, 3 replicas, busiest <= 1/3 + 0.1: no sticky assignment holds (one replica would carry 2 of
    # 4 requests), so acme's agents share two replicas and at least one of them alternates between them
    for capacity in (None, 1092):
        fleet, where = team_turns(Placer(), 3, 40, capacity)
        homes = [set(w) for w in where]
        acme = set().union(*homes[:3])
        assert len(acme) == 2 and len(homes[3]) == 1 and homes[3].isdisjoint(acme), homes
        assert any(len(h) == 1 for h in homes[:3]) and any(len(h) == 2 for h in homes[:3])
        # no scatter after the first turns: nothing lands where its agent had not been by turn 8
        assert all(set(w[8:]) <= set(w[:8]) for w in where), where
        shares = Counter(r for w in where for r in w)
        assert max(shares.values()) / sum(shares.values()) <= 1 / 3 + 0.1
        # the floor (acme's global on two replicas) plus the own segment of each alternating agent, once
        alternating = sum(size for (_, _, size), h in zip(TEAM, homes) if len(h) == 2)
        assert fleet.computed == single_replica_minimum() + sum(GLOBAL) + alternating


def test_the_previous_in_flight_gate_scatters_the_same_workload():
    # the peer of the tests above: the in-flight gate of the last version (max_queue_skew 2, count slack 2)
    fleet, where = team_turns(Placer(max_queue_skew=2, min_count_skew=2), 3, 40)
    assert sum(len(set(w)) for w in where) > 5
    assert fleet.computed > single_replica_minimum() + sum(GLOBAL) + max(size for _, _, size in TEAM)


def test_siblings_in_flight_meet_before_their_blocks_are_announced():
    p = Placer(min_count_skew=4)
    for r in REPLICAS:
        p.index.set_fingerprint(r, "fp")
    a1, a2 = agent("acme", "a1"), agent("acme", "a2")
    first = p.rank(a1, REPLICAS)
    assert first.reason == "rendezvous"
    p.routed(first.ranked[0], a1, request_id="req-1")  # in flight, nothing announced yet
    assert p.pending_depth(first.ranked[0], a2) == 1  # the shared global segment
    second = p.rank(a2, REPLICAS)
    assert second.ranked[0] == first.ranked[0] and second.reason == "cache" and second.cached_tokens == 0
    p.completed(first.ranked[0], request_id="req-1")
    assert p.pending_depth(first.ranked[0], a2) == 0
    # another tenant's identical chain never counts as a sibling
    assert p.pending_depth(first.ranked[0], agent("globex", "a1")) == 0


def test_a_chosen_request_counts_before_it_is_sent_and_only_where_it_went():
    # Ray chooses every request of a burst before it sends the first (it probes the replica first): the
    # reservation makes a sibling chosen next meet it, and moves with it when Ray sends it elsewhere
    p = Placer(min_count_skew=4)
    a1, a2 = agent("acme", "a1"), agent("acme", "a2")
    first = p.rank(a1, REPLICAS).ranked[0]
    p.reserve(first, a1, "req-1")
    assert p.rank(a2, REPLICAS).ranked[0] == first and p.load()["recent"] == {}
    other = next(r for r in REPLICAS if r != first)
    p.routed(other, a1, request_id="req-1")  # Ray sent it to its second choice
    assert p.pending_depth(first, a2) == 0 and p.pending_depth(other, a2) == 1
    # a reservation that is never sent (a cancelled request) is forgotten after reserve_ttl_s
    p.reserve(first, a2, "req-2")
    assert p.pending_depth(first, a2) == 2
    p.reserve_ttl_s = 0.0
    assert p.pending_depth(first, a2) == 0


def test_a_hot_tenant_is_spread_but_bounded():
    # one agent sends 6 requests a turn, all in flight together: its chain spreads over the fleet and the
    # busiest replica still stays within 1/N + 0.1 of the requests
    hot = [("acme", "hot", 100)] * 6
    fleet, where = team_turns(Placer(), 3, 30, agents=hot)
    shares = Counter(r for w in where for r in w)
    assert max(shares.values()) / sum(shares.values()) <= 1 / 3 + 0.1
    assert len(shares) == 3
    # and each replica computes the chain once: after that every request reads it from the cache
    assert fleet.computed == 3 * (sum(GLOBAL) + 100)
