"""promptc engine replicas on Ray Serve (promptc/deploy/): the segment-hash request router, fed by the
replicas' KV events.

The first part needs no Ray: the placement logic (promptc/deploy/placement.py) and the event
subscriber (promptc/deploy/subscriber.py) against a real KVTree publishing over real ZMQ sockets.
The second part starts ONE local Ray instance (2 CPUs) with the documented serve config
(promptc/deploy/ray/serve.yaml) as 2 replicas of the bundled model in float32, behind Ray Serve's
HTTP proxy, and checks routing, events, isolation and failure through real HTTP. The oracle for
"where is a chain cached" is the engine's own usage numbers (``cached_tokens``) and the replica id
each answer reports, never the router's intent.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import torch
import yaml

from promptc.core.hashing import segment_hash
from promptc.deploy.placement import PlacementIndex, Placer, RouteKey, rendezvous
from promptc.deploy.subscriber import EventSubscriber
from promptc.engine.kv_events import KVEventPublisher, block_hash, tenant_salt
from promptc.engine.kvtree import KVTree

REPO = Path(__file__).resolve().parents[2]
SERVE_YAML = REPO / "promptc" / "deploy" / "ray" / "serve.yaml"


def wait_for(predicate, timeout_s: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- placement (no Ray) ------------------------------------------------------------------------------
def stored(fp: str, tenant: str, chains: list[str], tokens: int = 10) -> list[dict]:
    salt, out, parent = tenant_salt(tenant), [], None
    for c in chains:
        out.append({"type": "BlockStored", "block_hashes": [block_hash(fp, salt, c)],
                    "parent_block_hash": block_hash(fp, salt, parent), "token_ids": [1] * tokens,
                    "block_size": tokens, "extra_keys": [["promptc", c, salt, fp]]})
        parent = c
    return out


def key_for(tenant: str, *segs: str) -> RouteKey:
    return RouteKey.for_segments(tenant, [segment_hash("system", s) for s in segs])


def test_index_follows_stored_removed_cleared_and_forget():
    idx = PlacementIndex()
    k = key_for("acme", "global", "agent", "task")
    idx.apply("r1", stored("fp", "acme", list(k.chain), tokens=7))
    assert idx.cached_tokens("r1", k) == (21, 3)
    idx.apply("r1", [{"type": "BlockRemoved", "block_hashes": [block_hash("fp", k.salt, k.chain[1])]}])
    assert idx.cached_tokens("r1", k) == (7, 1)  # the chain breaks at the removed block
    idx.apply("r1", [{"type": "AllBlocksCleared"}])
    assert idx.cached_tokens("r1", k) == (0, 0) and idx.snapshot() == {"r1": 0}
    idx.apply("r2", stored("fp", "acme", list(k.chain)))
    idx.forget("r2")
    assert idx.cached_tokens("r2", k) == (0, 0) and "r2" not in idx.snapshot()
    # hostile events are ignored
    idx.apply("r3", [{"type": "Bogus"}, "not a map", {"type": "BlockStored", "block_hashes": ["x"]}])
    assert idx.snapshot()["r3"] == 0


def test_tenants_and_models_never_share_placement():
    placer = Placer()
    acme, globex = key_for("acme", "g", "a"), key_for("globex", "g", "a")
    assert acme.chain == globex.chain and acme.salt != globex.salt  # same segments, different tenants
    placer.index.apply("r1", stored("model-1", "acme", list(acme.chain)))
    placer.index.apply("r2", stored("model-2", "acme", list(acme.chain)))  # the same chain, another model
    assert placer.index.cached_tokens("r1", acme)[0] == 20
    assert placer.index.cached_tokens("r1", globex) == (0, 0)  # another tenant never matches
    # r2 serves model-2: its blocks hash with model-2's fingerprint, never with r1's
    assert block_hash("model-1", acme.salt, acme.chain[0]) != block_hash("model-2", acme.salt, acme.chain[0])
    assert placer.index.holders("model-1", acme, 2) == ["r1"] and placer.index.holders("model-2", acme, 2) == ["r2"]
    assert placer.rank(globex, ["r1", "r2", "r3"]).reason == "rendezvous"


def test_deepest_chain_wins_and_a_miss_is_rendezvous_hashed():
    placer = Placer(min_count_skew=100)
    k = key_for("acme", "global", "agent-b", "task")
    placer.index.apply("r1", stored("fp", "acme", list(k.chain[:1])))
    placer.index.apply("r2", stored("fp", "acme", list(k.chain[:2])))
    c = placer.rank(k, ["r1", "r2", "r3"])
    assert c.ranked[0] == "r2" and c.reason == "cache" and c.cached_tokens == 20
    miss = key_for("acme", "other global")
    first = placer.rank(miss, ["r1", "r2", "r3"]).ranked[0]
    assert first == max(["r1", "r2", "r3"], key=lambda r: rendezvous(f"{miss.salt}|{miss.chain[0]}", r))
    # rendezvous: a replica leaving moves only the keys it owned
    keys = [key_for("acme", f"g{i}") for i in range(200)]
    before = {k.chain[0]: placer.rank(k, ["r1", "r2", "r3"]).ranked[0] for k in keys}
    after = {k.chain[0]: placer.rank(k, ["r1", "r3"]).ranked[0] for k in keys}
    assert all(after[c] == before[c] for c in before if before[c] != "r2")


def test_load_gate_bounds_imbalance():
    placer = Placer(window=60, share_skew=0.1, min_count_skew=2, max_queue_skew=2)
    k = key_for("acme", "hot global", "hot agent")
    replicas = ["r1", "r2", "r3"]
    placer.index.apply("r1", stored("fp", "acme", list(k.chain)))  # everything wants r1
    got = Counter()
    for _ in range(300):
        r = placer.rank(k, replicas).ranked[0]
        placer.routed(r)
        placer.completed(r)
        got[r] += 1
    assert got["r1"] / 300 <= 1 / 3 + 0.1 + 0.02 and min(got.values()) > 0
    # in-flight requests: r1 is skipped once it has more than max_queue_skew more than the least loaded
    q = Placer(max_queue_skew=2, min_count_skew=1000)
    q.index.apply("r1", stored("fp", "acme", list(k.chain)))
    for _ in range(3):
        q.routed("r1")
    assert q.rank(k, replicas).ranked[0] != "r1"
    q.completed("r1")
    assert q.rank(k, replicas).ranked[0] == "r1"
    # the two gates disagree (r1: fewest in flight, most placements; r2 the reverse): never an empty fleet
    g = Placer(max_queue_skew=0, min_count_skew=0, share_skew=0)
    for _ in range(6):
        g.routed("r1")
        g.completed("r1")
    for _ in range(3):
        g.routed("r2")
    assert g.admitted(["r1", "r2"]) == ["r1"] and g.rank(k, ["r1", "r2"]).ranked[0] == "r1"


def test_subscriber_replays_on_start_and_follows_live_events():
    """A real KVTree publishing over ZMQ; the subscriber starts after the first events (a restarted
    router) and learns them by replay, then follows BlockStored/BlockRemoved live."""
    tree = KVTree(1 << 20)
    pub = KVEventPublisher("tcp://127.0.0.1:*", replay_endpoint="tcp://127.0.0.1:*").attach(tree)
    z = torch.zeros(1, 1, 2, 2)
    try:
        root = tree.root("acme", "fp-x")
        g = tree.insert(root, "sha256:" + "a" * 64, (1, 2, 3), z, z, z[0, 0, -1:])
        pub.flush()
        idx = PlacementIndex()
        sub = EventSubscriber("r1", pub.endpoint, idx, replay_endpoint=pub.replay_endpoint)
        try:
            k = RouteKey.for_segments("acme", ["sha256:" + "a" * 64, "sha256:" + "b" * 64])
            wait_for(lambda: idx.cached_tokens("r1", k) == (3, 1), 10, "the replayed BlockStored")
            a = tree.insert(g, "sha256:" + "b" * 64, (4, 5), z, z, z[0, 0, -1:])
            wait_for(lambda: idx.cached_tokens("r1", k) == (5, 2), 10, "the live BlockStored")
            tree.release([a, g])
            assert tree.clear("acme") > 0  # BlockRemoved for both nodes
            wait_for(lambda: idx.cached_tokens("r1", k) == (0, 0), 10, "BlockRemoved")
        finally:
            sub.close()
    finally:
        pub.close()


def test_subscriber_fetches_a_gap_by_replay():
    """A publisher written here from vLLM's protocol (the oracle): batch 1 never reaches the SUB socket;
    the subscriber sees batch 2 after batch 0, asks the ROUTER for batches from 1, and applies 1 then 2."""
    import msgpack
    import zmq

    ctx = zmq.Context.instance()
    pub, router = ctx.socket(zmq.PUB), ctx.socket(zmq.ROUTER)
    pub.bind("tcp://127.0.0.1:*")
    router.bind("tcp://127.0.0.1:*")
    k = key_for("acme", "g", "a")
    both = stored("fp", "acme", list(k.chain))
    batches = [[{"type": "AllBlocksCleared"}], both[:1], both[1:]]
    payload = [msgpack.packb({"ts": 0.0, "events": b, "data_parallel_rank": 0}) for b in batches]
    idx = PlacementIndex()
    sub = EventSubscriber("r1", pub.getsockopt_string(zmq.LAST_ENDPOINT), idx,
                          replay_endpoint=router.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        ident, _, start = router.recv_multipart()  # the replay on start: nothing buffered yet
        assert int.from_bytes(start, "big") == 0
        router.send_multipart((ident, b"", (-1).to_bytes(8, "big", signed=True), b""))
        wait_for(lambda: sub.ready.is_set(), 10, "the start replay")
        time.sleep(0.3)  # the SUB subscription reaches the PUB socket
        pub.send_multipart((b"", (0).to_bytes(8, "big"), payload[0]))
        wait_for(lambda: sub.last_seq == 0, 10, "batch 0")
        pub.send_multipart((b"", (2).to_bytes(8, "big"), payload[2]))  # batch 1 is lost
        assert router.poll(10_000)
        ident, _, start = router.recv_multipart()
        assert int.from_bytes(start, "big") == 1  # the gap is asked for
        for seq in (1, 2):
            router.send_multipart((ident, b"", seq.to_bytes(8, "big"), payload[seq]))
        router.send_multipart((ident, b"", (-1).to_bytes(8, "big", signed=True), b""))
        wait_for(lambda: idx.cached_tokens("r1", k) == (20, 2), 10, "both blocks, in order")
        assert sub.last_seq == 2
    finally:
        sub.close()
        pub.close(linger=0)
        router.close(linger=0)


def test_route_key_from_the_request_body():
    from promptc.deploy.ray import route_key
    from promptc.engine.limits import ServerConfig

    h1, h2 = segment_hash("system", "g"), segment_hash("system", "a")
    body = {"segments": [{"hash": h1}, {"hash": h2}, {"ref": "named"}, {"hash": h1}]}
    cfg = ServerConfig(api_keys=KEYS)
    got = RouteKey.from_json(route_key(cfg, {"authorization": "Bearer key-globex"}, json.dumps(body).encode()))
    assert got == RouteKey.for_segments("globex", [h1, h2])  # a named segment ends the key
    assert route_key(cfg, {"authorization": "Bearer nope"}, json.dumps(body).encode()) is None  # the replica says 401
    assert route_key(cfg, {"authorization": "Bearer key-acme"}, b"[" * 100_000) is None  # hostile JSON: no key
    assert route_key(ServerConfig(), {}, json.dumps(body).encode()) == RouteKey.for_segments(
        "default", [h1, h2]).to_json()
    # cache_salt: the engine scopes the cache by (tenant, salt), so does the key (the events carry that salt)
    from promptc.engine.server import cache_scope

    salted = RouteKey.from_json(route_key(cfg, {"authorization": "Bearer key-globex"},
                                          json.dumps({**body, "cache_salt": "s1"}).encode()))
    assert salted == RouteKey.for_segments(cache_scope("globex", "s1"), [h1, h2])
    assert salted.salt != got.salt and salted.chain == got.chain
    other = RouteKey.from_json(route_key(cfg, {"authorization": "Bearer key-globex"},
                                         json.dumps({**body, "cache_salt": "s2"}).encode()))
    assert other.salt not in (salted.salt, got.salt)


# -- the fleet on Ray Serve -----------------------------------------------------------------------------
KEYS = {"key-acme": "acme", "key-globex": "globex"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """ONE local Ray instance, the documented serve config with 2 float32 replicas of the bundled model."""
    import ray
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    from promptc.deploy.ray import start

    config = ServeDeploySchema.model_validate(yaml.safe_load(SERVE_YAML.read_text()))  # Ray's own schema
    app_cfg = config.applications[0]
    assert app_cfg.import_path == "promptc.deploy.ray:build_app"
    keys = tmp_path_factory.mktemp("keys") / "keys.json"
    keys.write_text(json.dumps({"keys": KEYS}))
    args = dict(app_cfg.args)
    args.update(num_replicas=2, dtype="float32", replica_cpus=0.5, budget="512MiB", routing_stats_period_s=0.5,
                keys_file=str(keys), limits={"max_body_bytes": 65536},
                router={**args["router"], "min_count_skew": 64})  # the count gate is unit-tested above
    assert app_cfg.route_prefix == "/"
    try:
        port = free_port()
        # what `promptc serve --replicas N` runs (promptc.deploy.ray.run = start + wait), on ONE local instance
        ingress = start(args, port=port, num_cpus=2, log_to_driver=False)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
        assert client.get("/v1/models", headers={"authorization": "Bearer key-acme"}).status_code == 200
        state = wait_for(lambda: (s := ingress.router_state.remote().result()) and len(s["subscribers"]) == 2
                         and all(v["ready"] for v in s["subscribers"].values()) and s, 60, "both subscriptions")
        yield {"client": client, "ingress": ingress, "replicas": state["replicas"], "ray": ray}
        client.close()
    finally:
        serve.shutdown()
        ray.shutdown()


@pytest.fixture(scope="module")
def team():
    import promptc

    return promptc.compile(REPO / "examples" / "team")


def body_for(team, plan: str, turn: int, **kw) -> dict:
    from promptc.runtime.engine_client import payload

    req = team.plans[plan].bind().render(file=f"src/{plan}.py", query=f"Turn {turn}: what changed?")
    return payload(req, max_tokens=kw.pop("max_tokens", 1), **kw)


def chat(fleet, tenant: str, body: dict) -> httpx.Response:
    key = next(k for k, t in KEYS.items() if t == tenant)
    return fleet["client"].post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def route_of(tenant: str, body: dict, depth: int | None = None) -> RouteKey:
    hashes = [s["hash"] for s in body["segments"]]
    return RouteKey.for_segments(tenant, hashes[:depth] if depth else hashes)


def cached_where(fleet, key: RouteKey) -> dict[str, int]:
    return fleet["ingress"].router_state.remote(key.to_json()).result()["route"]


def cached(resp: httpx.Response) -> int:
    return resp.json()["usage"]["prompt_tokens_details"]["cached_tokens"]


def test_routing_follows_the_chain_and_computes_each_shared_prefix_once_per_tenant(fleet, team):
    for tenant in ("acme", "globex"):  # the same plans for both tenants: only the tenant tells them apart
        where = {}
        for i, plan in enumerate(("backend", "frontend", "docs")):
            body = body_for(team, plan, 0)
            r = chat(fleet, tenant, body)
            assert r.status_code == 200, r.text
            where[plan] = r.headers["x-promptc-replica"]
            if i == 0:
                # isolation: the other tenant's identical chain never counts (nor its placement)
                assert cached(r) == 0
            else:  # the global prefix was computed by the first agent, on this replica
                shared_tokens = cached_where(fleet, route_of(tenant, body, depth=1))[where[plan]]
                assert shared_tokens > 0 and cached(r) >= shared_tokens
            key = route_of(tenant, body)
            wait_for(lambda: cached_where(fleet, key)[where[plan]] > 0, 10, "the router to index the chain")
        assert len(set(where.values())) == 1, where  # the three agents met where the shared prefix is
        shared = route_of(tenant, body_for(team, "backend", 0), depth=1)
        holders = [r for r, n in cached_where(fleet, shared).items() if n > 0]
        assert holders == [where["backend"]]  # the shared global prefix exists once on the fleet
        # the next turn of each plan lands on the replica holding its chain and reuses all of it
        for plan in ("backend", "docs"):
            body = body_for(team, plan, 1)
            r = chat(fleet, tenant, body)
            assert r.status_code == 200 and r.headers["x-promptc-replica"] == where[plan]
            assert cached(r) == max(cached_where(fleet, route_of(tenant, body)).values())


def test_the_engine_api_passes_through_the_fleet(fleet, team):
    """Streaming, the engine's own error shapes, and the ingress's body limit."""
    body = body_for(team, "backend", 2, max_tokens=4, stream=True)
    with fleet["client"].stream("POST", "/v1/chat/completions", json=body,
                                headers={"authorization": "Bearer key-acme"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    usage = [json.loads(ln[6:])["usage"] for ln in lines[:-1] if json.loads(ln[6:]).get("usage")]
    assert usage and usage[-1]["prompt_tokens_details"]["cached_tokens"] > 0  # routed to its chain
    bad = body_for(team, "backend", 2)
    bad["segments"][0]["hash"] = "sha256:" + "0" * 64  # a lying hash: routed somewhere, refused by the replica
    r = chat(fleet, "acme", bad)
    assert r.status_code == 400 and r.json()["error"]["code"] == "segment_hash_mismatch"
    r = fleet["client"].post("/v1/chat/completions", json=body_for(team, "backend", 2),
                             headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = chat(fleet, "acme", {"messages": [{"role": "user", "content": "x" * 70_000}]})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_router_index_follows_block_stored_and_removed(fleet, team):
    body = body_for(team, "frontend", 5)
    key = route_of("acme", body)
    for tenant in ("acme", "globex"):
        assert chat(fleet, tenant, body).status_code == 200
    before = wait_for(lambda: (c := cached_where(fleet, key)) and max(c.values()) > 0 and c, 10, "BlockStored")
    holder = max(before, key=before.get)
    blocks_before = fleet["ingress"].router_state.remote().result()["blocks"][holder]
    r = fleet["client"].delete("/v1/cache", headers={"authorization": "Bearer key-acme"})
    assert r.status_code == 200 and r.json()["replicas"] == 2  # cleared on every replica
    wait_for(lambda: max(cached_where(fleet, key).values()) == 0, 10, "BlockRemoved to reach the router")
    state = fleet["ingress"].router_state.remote().result()
    assert state["blocks"][holder] < blocks_before  # globex's blocks stay
    globex = route_of("globex", body, depth=1)
    assert max(cached_where(fleet, globex).values()) > 0
    r = chat(fleet, "acme", body)  # the cleared chain is computed again, wherever it lands
    assert r.status_code == 200 and cached(r) == 0


def test_a_salted_request_routes_to_the_replica_holding_its_own_chain(fleet, team):
    """cache_salt scopes the engine's cache by (tenant, salt); the route key carries the same scope, so the
    router finds the chain the replica's events announced under that salt."""
    from promptc.engine.server import cache_scope

    body = {**body_for(team, "docs", 7), "cache_salt": "client-7"}
    hashes = [s["hash"] for s in body["segments"]]
    salted = RouteKey.for_segments(cache_scope("globex", "client-7"), hashes)
    first = chat(fleet, "globex", body)
    assert first.status_code == 200, first.text
    holder = first.headers["x-promptc-replica"]
    wait_for(lambda: cached_where(fleet, salted)[holder] > 0, 10, "the salted chain's events to reach the router")
    again = chat(fleet, "globex", body)
    assert again.headers["x-promptc-replica"] == holder and cached(again) >= cached_where(fleet, salted)[holder] > 0
    # another salt is another scope: nothing cached is shared with it, wherever it lands
    other = chat(fleet, "globex", {**body, "cache_salt": "client-8"})
    assert other.status_code == 200 and cached(other) == 0


def test_metrics_and_cache_stats_cover_the_whole_fleet(fleet, team):
    """GET /metrics and /v1/cache/stats on the ingress ask every replica and merge: per-replica series with
    a replica label, fleet totals of the counters, summed stats. The oracle is the engine's own usage of a
    request sent between two reads: its computed tokens show up once, on the replica that answered."""
    from prometheus_client.parser import text_string_to_metric_families

    acme = {"authorization": "Bearer key-acme"}

    def samples(text: str) -> dict:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(text) for s in fam.samples}

    def read():
        m, st = fleet["client"].get("/metrics", headers=acme), fleet["client"].get("/v1/cache/stats", headers=acme)
        assert m.status_code == 200 and st.status_code == 200 and m.headers["x-promptc-replicas"] == "2"
        return samples(m.text), st.json()

    m0, s0 = read()
    r = chat(fleet, "acme", body_for(team, "backend", 11))
    assert r.status_code == 200
    usage, where = r.json()["usage"], r.headers["x-promptc-replica"]
    computed = usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"]
    m1, s1 = read()
    # /v1/cache/stats: each replica's own answer, and their sum
    assert sorted(s1["replicas"]) == sorted(fleet["replicas"]) and s1["tenant"] == "acme"
    assert s1["computed_tokens"] == sum(v["computed_tokens"] for v in s1["replicas"].values())
    assert s1["computed_tokens"] - s0["computed_tokens"] == computed
    assert s1["replicas"][where]["computed_tokens"] - s0["replicas"][where]["computed_tokens"] == computed
    assert s1["requests"] - s0["requests"] == 1
    # /metrics: the answering replica's series moved by the request's computed tokens, and so did the total
    name, tenant = "promptc_prompt_tokens_computed_total", (("tenant", "acme"),)
    per = {rid: m1[(name, (("replica", rid), ("tenant", "acme")))] for rid in fleet["replicas"]}
    total = m1[("promptc_fleet_prompt_tokens_computed_total", tenant)]
    assert total == sum(per.values()) and total == s1["computed_tokens"]
    assert total - m0[("promptc_fleet_prompt_tokens_computed_total", tenant)] == computed
    assert per[where] - m0[(name, (("replica", where), ("tenant", "acme")))] == computed
    assert m1[("promptc_fleet_replicas", ())] == 2
    # a tenant key sees only its own series on every replica (the engine's scope, kept by the merge)
    assert {dict(labels).get("tenant", "acme") for _, labels in m1} == {"acme"}
    assert fleet["client"].get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_a_replica_killed_mid_request_fails_cleanly_and_leaves_nothing(fleet, team):
    ray = fleet["ray"]
    # a long unique prompt: the request is still prefilling/generating when its replica dies
    filler = " ".join(f"item-{i} is a distinct line of the inventory." for i in range(100))
    seg = {"id": "long", "role": "system", "content": filler, "hash": segment_hash("system", filler)}
    body = {"segments": [seg], "messages": [{"role": "user", "content": "Summarise."}], "max_tokens": 16}
    key = RouteKey.for_segments("acme", [seg["hash"]])
    result: dict = {}

    def send():
        result["r"] = chat(fleet, "acme", body)

    t = threading.Thread(target=send)
    t.start()
    victim = wait_for(lambda: next((r for r, n in fleet["ingress"].router_state.remote().result()["load"]
                                    ["inflight"].items() if n > 0), None), 30, "the request to be routed")
    ray.kill(ray.get_actor(f"SERVE_REPLICA::promptc#EngineReplica#{victim}", namespace="serve"), no_restart=True)
    t.join(120)
    r = result["r"]
    if r.status_code == 200:  # retried on the surviving replica
        assert r.headers["x-promptc-replica"] != victim and r.json()["usage"]["prompt_tokens"] > 500
    else:
        assert r.status_code == 503 and r.json()["error"]["code"] == "replica_unavailable"
    # nothing leaks: the router forgets the dead replica (index, subscription, load)
    state = wait_for(lambda: (s := fleet["ingress"].router_state.remote().result()) and victim not in s["blocks"]
                     and victim not in s["subscribers"] and victim not in s["load"]["inflight"] and s,
                     30, "the router to drop the dead replica")
    assert victim not in state["replicas"] and victim not in cached_where(fleet, key)
    assert all(n == 0 for n in state["load"]["inflight"].values())


def test_cli_replicas_refuses_a_single_kv_events_endpoint():
    from click.testing import CliRunner

    from promptc.cli import cli

    r = CliRunner().invoke(cli, ["serve", "--replicas", "2", "--kv-events", "tcp://127.0.0.1:5557"])
    assert r.exit_code == 2 and "every replica publishes KV events on its own endpoint" in r.output
