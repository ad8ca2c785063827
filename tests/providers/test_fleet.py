"""The simulated fleet (promptc/runtime/sim/fleet.py): its invariants one by one, then the team example
replayed through 4 replicas with and without the routing key, checked against an oracle written from
the definition (a replica reads the longest block-aligned prefix it has seen from the same tenant)."""

from __future__ import annotations

import httpx
import pytest

from promptc.runtime.client import Client
from promptc.runtime.config import RuntimeConfig
from promptc.runtime.providers.selfhosted import cache_salt
from promptc.runtime.sim.fleet import BlockCache, Fleet, Router, chat_ids, chat_pieces
from promptc.runtime.sim.fleet_replay import replay, team_workload
from promptc.tokenizers import load_tokenizer

B = 16


@pytest.fixture(scope="module")
def encode():
    return load_tokenizer("o200k_base").encode


def lcp(a, b) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def oracle(history, replica, salt, ids) -> int:
    """Cached tokens by definition: the longest prefix shared with an earlier prompt of the same salt on
    the same replica, in whole blocks, leaving at least one token to compute."""
    best = max((lcp(prev, ids) for r, s, prev in history if r == replica and s == salt), default=0)
    return min(best // B, (len(ids) - 1) // B) * B


# -- the cache ------------------------------------------------------------------------------------------
def test_reads_leading_full_blocks_and_always_computes_one_token():
    c = BlockCache(B)
    ids = list(range(40))
    assert c.run(ids, None) == 0
    assert c.run(ids, None) == 32  # two full blocks; the 8-token tail is never cached
    assert c.run(list(range(48)), None) == 32  # three blocks stored, but the last token must be computed
    assert c.run(list(range(48)), None) == 32
    assert c.run(list(range(20)) + [999] * 30, None) == 16  # diverges inside block 2


def test_memory_bound_evicts_least_recent_tail_first():
    c = BlockCache(B, capacity_blocks=3)
    a, b = list(range(48)) + [7], list(range(1000, 1032)) + [7]
    c.run(a, None)  # 3 blocks
    c.run(b, None)  # 2 more: A's last two blocks go, its first stays
    assert len(c.blocks) == 3 and c.evictions == 2
    assert c.run(a, None) == 16


def test_cache_salt_keeps_tenants_apart():
    c = BlockCache(B)
    ids = list(range(100))
    c.run(ids, "salt-a")
    assert c.run(ids, "salt-b") == 0
    assert c.run(ids, "salt-a") == 96
    assert c.run(ids, None) == 0


# -- the router -----------------------------------------------------------------------------------------
def test_routing_key_is_sticky_and_spreads_keys():
    r = Router(4, "routing_key")
    keys = [f"tenant:{i}" for i in range(200)]
    placed = [r.pick({"x-smg-routing-key": k}, [], [0] * 4) for k in keys]
    assert placed == [r.pick({"x-smg-routing-key": k}, [], [0] * 4) for k in keys]
    assert all(placed.count(i) > 20 for i in range(4))  # 160 virtual nodes each: no replica starves
    assert [r.pick({}, [], [0] * 4) for _ in range(5)] == [0, 1, 2, 3, 0]  # no key: round robin


def test_cache_aware_follows_the_longest_match_unless_loads_are_imbalanced():
    r = Router(3, "cache_aware")
    shared = list(range(64))
    assert r.pick({}, shared + [1] * 16, [0, 0, 0]) == 0  # empty trees: the smallest (first) one
    assert r.pick({}, list(range(500, 580)), [0, 0, 0]) == 1  # no match: the smallest tree
    assert r.pick({}, shared + [2] * 16, [0, 0, 0]) == 0  # 64 of 80 tokens match replica 0 (> 30%)
    assert r.pick({}, shared + [3] * 16, [100, 0, 0]) == 1  # imbalanced: the least loaded
    assert r.pick({}, [9] * 100 + shared, [0, 0, 0]) == 2  # below the threshold: the smallest tree


# -- the team example through 4 replicas ---------------------------------------------------------------
def check_against_oracle(result, workload, encode):
    """Every request's cached tokens equal the oracle's, given the replica it was routed to."""
    history = []
    for w, s in zip(workload, result.served):
        ids = [t for p in chat_pieces(_payload(w)) for t in encode(p)]
        salt = cache_salt(w.tenant)
        assert (s.prompt, s.cached) == (len(ids), oracle(history, s.replica, salt, ids)), (w.tenant, w.plan, w.turn)
        history.append((s.replica, salt, ids))
    return history


def _payload(w):
    return Client("vllm/sim", tenant=w.tenant, config=RuntimeConfig()).build(w.request, max_tokens=64).payload


def test_team_replay_with_and_without_the_routing_key(team, encode):
    work = team_workload(team.plans, 6)  # 3 agents of acme + globex's backend, 6 turns, rotating order
    assert [(w.tenant, w.plan) for w in work[:5]] == [("acme", "backend"), ("acme", "docs"), ("acme", "frontend"),
                                                      ("globex", "backend"), ("acme", "docs")]
    keyed = replay(work, encode, policy="routing_key")
    spread = replay(work, encode, policy="round_robin", routing_header="")
    check_against_oracle(keyed, work, encode)
    check_against_oracle(spread, work, encode)
    senders = {(w.tenant, w.plan) for w in work}
    home = {k: {s.replica for s in keyed.served if (s.tenant, s.plan) == k} for k in senders}
    assert all(len(r) == 1 for r in home.values())  # with the key, a plan of a tenant stays on one replica
    assert all(len({s.replica for s in spread.served if (s.tenant, s.plan) == k}) == 4 for k in senders)

    # hand-computed: the shared prefix (tools + system header + the team rules) and each agent's own
    # stable prefix, in whole blocks, from the prompts' token ids
    first = {(w.tenant, w.plan): [t for p in chat_pieces(_payload(w)) for t in encode(p)] for w in work[:4]}
    agents = [("acme", "backend"), ("acme", "docs"), ("acme", "frontend")]
    # the ideal (one replica, unbounded memory): acme's later agents read what the earlier ones share
    shared = {a: max(lcp(first[a], first[b]) for b in agents[:i]) // B * B for i, a in enumerate(agents) if i}
    # with the key each acme agent that is the first of acme on its replica recomputes that shared part
    fresh = [a for i, a in enumerate(agents) if i and all(home[b] != home[a] for b in agents[:i])]
    assert keyed.computed - keyed.minimum_computed == sum(shared[a] for a in fresh)
    assert keyed.minimum_computed == replay(work, encode, replicas=1, policy="round_robin").computed
    assert keyed.computed < spread.computed and keyed.hit_rate > spread.hit_rate
    # without the key every agent's own prefix is computed once on each of the 4 replicas
    assert spread.computed > keyed.computed + 2 * min(shared.values())


def test_shared_scope_puts_a_tenants_agents_on_one_replica(team, encode):
    work = team_workload(team.plans, 4)
    shared = replay(work, encode, policy="routing_key", routing_scope="shared")
    check_against_oracle(shared, work, encode)
    acme = {s.replica for s in shared.served if s.tenant == "acme"}
    assert len(acme) == 1 and shared.computed == shared.minimum_computed


def test_identical_prompts_of_two_tenants_never_hit_each_other(team, encode):
    """globex sends exactly acme's backend requests: with the salt no token crosses, on one replica."""
    work = [w for w in team_workload(team.plans, 3) if w.plan == "backend"]
    salted = replay(work, encode, replicas=1, policy="round_robin")
    assert [s.tenant for s in salted.served[:2]] == ["acme", "globex"]
    assert salted.served[1].cached == 0  # globex's first request: same text, other salt
    unsalted = replay(work, encode, replicas=1, policy="round_robin", cache_salt="none")
    ids = [t for p in chat_pieces(_payload(work[0])) for t in encode(p)]
    assert unsalted.served[1].cached == (len(ids) - 1) // B * B  # the same prompt: all but the last token's block


# -- over HTTP --------------------------------------------------------------------------------------------
def test_fleet_route_with_the_sglang_adapter(team, sim, encode):
    """``sglang/`` sends ``X-SMG-Routing-Key``: each agent's turns land on one replica of the 4."""
    client = Client("sglang/qwen3", base_url=sim.url + "/fleet/v1", config=RuntimeConfig())
    sessions = {a: team[a].bind() for a in ("backend", "frontend", "docs")}
    history, replicas = [], {}
    for turn in range(3):
        for agent, s in sessions.items():
            req = s.render(file="f.py", query=f"turn {turn}")
            reply = client.complete(req, max_tokens=8)
            ids = chat_ids(encode, sim.requests[-1]["payload"])
            key = sim.requests[-1]["headers"]["x-smg-routing-key"]
            r = sim.sim.selfhosted.servers["fleet"].router.for_key(key)
            replicas.setdefault(agent, set()).add(r)
            assert reply.usage.cache_read == oracle(history, r, None, ids)
            assert reply.usage.prompt == len(ids)
            history.append((r, None, ids))
    assert all(len(r) == 1 for r in replicas.values())
    stats = httpx.get(sim.url + "/_sim/fleet").json()["fleet"]
    assert stats["cached_tokens"] == sum(oracle(history[:i], *history[i]) for i in range(len(history)))
    client.close()


def test_fleet_can_be_reconfigured_over_http(sim):
    r = httpx.post(sim.url + "/_sim/fleet", json={"name": "fleet", "replicas": 2, "policy": "cache_aware",
                                                  "capacity_blocks": 8})
    assert r.status_code == 200 and r.json()["policy"] == "cache_aware" and len(r.json()["replicas"]) == 2
    bad = httpx.post(sim.url + "/_sim/fleet", json={"name": "fleet", "policy": "random"})
    assert bad.status_code == 400 and "unknown routing policy" in bad.json()["error"]
    assert httpx.post(sim.url + "/_sim/fleet", json={"name": "nope"}).status_code == 400
    assert isinstance(Fleet(1).usage_details(0), dict)
