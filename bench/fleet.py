"""Scale-out benchmark: the team example through a simulated fleet of 4 vLLM replicas, by routing policy.

Run:  python bench/fleet.py [--turns 40] [--out bench/results/fleet.json]
      python bench/fleet.py --ray --turns 30        (real replicas on Ray Serve; pip install 'promptc[ray]')
          [--memory 48MiB,unbounded --counts 3,2,1 --routers promptc,round_robin,ray-default]
          [--router-kwargs '{"max_queue_skew": 4}']   (a subset, in that order; the promptc router's Placer keywords)

Workload (:func:`promptc.runtime.sim.fleet_replay.team_workload`): tenant ``acme``'s three agents
(backend, frontend, docs) and tenant ``globex``'s backend agent — the same plans and questions, kept
apart by ``cache_salt`` — each sending one request per turn, the speaking order rotating every turn.
Every request is built by the real ``vllm/`` adapter and served by the simulator's fleet
(:mod:`promptc.runtime.sim.fleet`: 16-token block-hash prefix cache per replica, LRU).

Policies: ``round_robin`` (no routing key), ``routing_key`` (consistent hashing on the routing
header promptc derives from the plan's stable prefix hash + tenant; scope ``plan`` = one replica per
agent, scope ``shared`` = the global prefix, one replica per tenant), and ``cache_aware`` (the SGLang
Model Gateway's policy, no key). Two memory settings: unbounded, and 64 blocks (1,024 tokens) per
replica, about two agents' prompts.

The peer is the physical limit, in the same run: the **theoretical minimum** of prompt tokens
computed is what one replica with unbounded memory computes for the same sequence — every distinct
salted block prefix computed once in the whole fleet, plus the part of each prompt no prefix cache
can hold (its last partial block, and at least one token per request). No routing can do better.
``busiest`` is the busiest replica's share of the requests (0.25 = perfectly balanced).

``--ray``: the same team workload (two tenants) on REAL promptc engine replicas — 1, 2 and 3 Ray Serve
replicas of the bundled model (promptc/deploy/ray) — by request router: ``promptc`` (the segment-hash
router on the replicas' KV events), ``ray-default`` (Ray Serve's PowerOfTwoChoices) and
``round_robin``. Each turn's four requests are sent concurrently. Only what does not depend on the
core count is measured: prompt tokens computed (``prompt_tokens - cached_tokens`` of each answer,
the engine's own numbers), the busiest replica's share of the requests (each answer's
``x-promptc-replica``), and the hit rate (cached / prompt tokens). The peer is the single-replica
minimum, measured in the same run: what one replica (1 replica, any router) computes for the same
requests, with unbounded memory. Two memory settings per replica: unbounded (1 GiB) and 48 MiB
(about 1,000 tokens of fp32 KV: two agents' prompts). Goals (issue 29): computed <= 1.05x the single-replica minimum with the busiest replica
<= 1/N + 0.1 of the requests. ``floor`` is what no router can avoid while holding the share goal,
computed from the workload: a tenant sending a fraction f of the requests needs ceil(f / (1/N + 0.1))
replicas and computes its shared prefix (tokenized as the engine does) once on each; the floor is the
minimum plus those extra prefixes. ``placements`` records where each agent ran, turn by turn. The Ray
rows go to ``ray_<turns>_turns`` of the same JSON (one record per turn count); the simulated ``rows``
are kept (and the other way round).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import promptc  # noqa: E402
from promptc.runtime.sim.fleet_replay import replay, team_workload  # noqa: E402
from promptc.tokenizers import load_tokenizer  # noqa: E402

POLICIES = (
    ("round_robin", dict(policy="round_robin", routing_header="")),
    ("routing_key (plan)", dict(policy="routing_key")),
    ("routing_key (shared)", dict(policy="routing_key", routing_scope="shared")),
    ("cache_aware", dict(policy="cache_aware", routing_header="")),
)
MEMORY = (("unbounded", None), ("64 blocks", 64))


RAY_ROUTERS = (("promptc", "promptc.deploy.ray.router:SegmentHashRouter"), ("ray-default", "ray-default"),
               ("round_robin", "promptc.deploy.ray.router:RoundRobinRouter"))


def _merge_write(path: str, update: dict) -> None:
    """Write ``update`` over the JSON at ``path``, keeping the other mode's keys."""
    p = Path(path)
    old = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({**old, **update}, indent=2) + "\n", encoding="utf-8")


RAY_MEMORY = (("unbounded", "1GiB"), ("48MiB", "48MiB"))  # 48 MiB: about 1,000 tokens of fp32 KV, two agents


def _ray_run(workload, replicas: int, router: str, turns: int, port: int, budget: str = "1GiB",
             router_kwargs: dict | None = None) -> dict:
    """Deploy ``replicas`` engine replicas with ``router``, send the workload turn by turn (a turn's
    requests concurrently), and total what the answers report."""
    import concurrent.futures

    import httpx
    from ray import serve

    from promptc.deploy.ray import build_app
    from promptc.runtime.engine_client import payload

    keys = {"acme": "key-acme", "globex": "key-globex"}
    app = build_app({"num_replicas": replicas, "dtype": "float32", "replica_cpus": 0.5, "budget": budget,
                     "routing_stats_period_s": 0.5, "request_router_class": router,
                     "router": router_kwargs or {},
                     "limits": {}, "keys_file": None})
    serve.run(app, name="fleet", route_prefix="/")
    served, router_view = [], {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            def send(turn):
                body = payload(turn.request, max_tokens=1)
                r = client.post("/v1/chat/completions", json=body,
                                headers={"authorization": f"Bearer {keys[turn.tenant]}"})
                r.raise_for_status()
                u = r.json()["usage"]
                return (r.headers["x-promptc-replica"], u["prompt_tokens"], u["prompt_tokens_details"]["cached_tokens"],
                        f"{turn.tenant}/{turn.plan}")

            ingress = serve.get_app_handle("fleet")
            client.get("/v1/models", headers={"authorization": "Bearer key-acme"})  # creates the handle's router
            if router.endswith("SegmentHashRouter"):  # wait until the router follows every replica's events
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    s = ingress.router_state.remote().result()
                    if len(s["subscribers"]) == replicas and all(v["ready"] for v in s["subscribers"].values()):
                        break
                    time.sleep(0.2)
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                for t in range(turns):
                    served += list(pool.map(send, [w for w in workload if w.turn == t]))
            router_view = ingress.router_state.remote().result() if router.endswith("SegmentHashRouter") else {}
    finally:
        serve.delete("fleet")
    prompt = sum(p for _, p, _, _ in served)
    cached = sum(c for _, _, c, _ in served)
    per = Counter(r for r, _, _, _ in served)
    # where each agent ran, turn by turn (replicas numbered by first use): stickiness at a glance
    numbers: dict[str, str] = {}
    placements: dict[str, str] = {}
    for r, _, _, agent in served:
        placements[agent] = placements.get(agent, "") + numbers.setdefault(r, str(len(numbers)))
    return {"replicas": replicas, "requests": len(served), "prompt": prompt, "computed": prompt - cached,
            "hit_rate": round(cached / prompt, 4) if prompt else 0.0,
            "busiest_share": round(max(per.values()) / len(served), 4), "per_replica": sorted(per.values()),
            "placements": dict(sorted(placements.items())),
            **({"router_choices": router_view.get("choices"), "router_placed": router_view.get("placed"),
                "router_tokens": router_view.get("tokens")}
               if router_view else {})}


def shared_prefix_tokens(workload) -> dict[str, int]:
    """Per tenant: the engine's token count of the segment prefix every one of its requests shares (the
    tenant's global block), tokenized as the engine does (promptc.engine.tokenize, the bundled model's
    tokenizer and chat template; no weights are loaded into a model)."""
    from promptc.engine.request import SegmentIn
    from promptc.engine.tokenize import RequestTokenizer, TokenCache
    from promptc.engine.weights import load_weights
    from promptc.runtime.engine_client import payload
    from promptc.tokenizers.chat import ChatTemplate

    w = load_weights(None)
    tok = RequestTokenizer(w.tokenizer, ChatTemplate(w.chat_template), TokenCache(1 << 20, max_entry_tokens=1 << 20))
    common: dict[str, list] = {}
    for turn in workload:
        segs = payload(turn.request, max_tokens=1)["segments"]
        if turn.tenant not in common:
            common[turn.tenant] = segs
        else:
            n = 0
            for a, b in zip(common[turn.tenant], segs):
                if a["hash"] != b["hash"]:
                    break
                n += 1
            common[turn.tenant] = common[turn.tenant][:n]
    out = {}
    for tenant, segs in common.items():
        ids, _, _ = tok.tokenize([SegmentIn.of(s["id"], s["role"], s["content"]) for s in segs]) if segs else ([], 0, 0)
        out[tenant] = sum(len(i) for i in ids)
    return out


def floor_extra(workload, shared: dict[str, int], replicas: int) -> int:
    """Tokens above the single-replica minimum that no router can avoid on ``replicas`` replicas while
    holding the share goal: a tenant sending a fraction f of the requests needs at least
    ceil(f / (1/N + 0.1)) replicas, and computes its shared prefix once on each."""
    import math

    per = Counter(t.tenant for t in workload)
    total = sum(per.values())
    bound = 1 / replicas + 0.1
    return sum((min(replicas, math.ceil(per[t] / total / bound - 1e-9)) - 1) * shared[t] for t in per)


def ray_main(turns: int, out: str, memory: tuple[str, ...] = ("unbounded", "48MiB"),
             counts: tuple[int, ...] = (1, 2, 3), routers: tuple[str, ...] = ("promptc", "ray-default", "round_robin"),
             router_kwargs: dict | None = None) -> None:
    """The Ray rows; ``memory``, ``counts`` and ``routers`` pick a subset (the 1-replica minimum always runs).
    Rows are written after each run (``complete`` false until the last), so a cut-short run keeps its rows."""
    import socket

    import ray
    from ray import serve

    team = promptc.compile(REPO / "examples" / "team")
    workload = team_workload(team.plans, turns)
    shared = shared_prefix_tokens(workload)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("PROMPTC_API_KEYS", "key-acme=acme,key-globex=globex")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    started = time.monotonic()
    meta = {"turns": turns, "requests": len(workload), "model": "SmolLM2-135M-Instruct float32",
            "cpu_count": os.cpu_count(),
            "minimum_is": "computed by 1 replica for the same requests (measured in this run)",
            "goals": "computed <= 1.05x minimum and busiest <= 1/N + 0.1", "router_kwargs": router_kwargs or {},
            "shared_prefix_tokens": shared,
            "floor_is": "minimum + each tenant's shared prefix once more on every extra replica the share goal "
                        "forces it onto: ceil(tenant's request share / (1/N + 0.1)) replicas"}
    key = f"ray_{turns}_turns"  # one record per turn count (the 30-turn and the long table side by side)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        base = _ray_run(workload, 1, RAY_ROUTERS[0][1], turns, port)
        minimum = base["computed"]
        print(f"team example on Ray Serve, {len(workload)} requests ({turns} turns x 4 senders, 2 tenants), "
              f"single-replica minimum {minimum} prompt tokens computed")
        print(f"{'memory':<10} {'replicas':>8} {'router':<16} {'hit rate':>8} {'prompt':>8} {'computed':>9} "
              f"{'x min':>6} {'floor':>6} {'busiest':>8} {'goal':>5}")
        budgets, classes = dict(RAY_MEMORY), dict(RAY_ROUTERS)
        for mem_label in memory:  # in the order given (the most telling rows first on a cut-short run)
            budget = budgets[mem_label]
            for n in counts:
                for label in routers:
                    cls = classes[label]
                    if n == 1 and mem_label == "unbounded":
                        r = base
                    else:
                        r = _ray_run(workload, n, cls, turns, port, budget, router_kwargs)
                    r = {**r, "memory": mem_label, "budget": budget, "router": label if n > 1 else "any (1 replica)",
                         "x_minimum": round(r["computed"] / minimum, 4),
                         "floor_x_minimum": round((minimum + floor_extra(workload, shared, n)) / minimum, 4)}
                    r["goal_met"] = r["x_minimum"] <= 1.05 and r["busiest_share"] <= 1 / n + 0.1
                    rows.append(r)
                    print(f"{mem_label:<10} {n:>8} {r['router']:<16} {r['hit_rate']:>8.1%} {r['prompt']:>8} "
                          f"{r['computed']:>9} {r['x_minimum']:>6.3f} {r['floor_x_minimum']:>6.3f} "
                          f"{r['busiest_share']:>8.2f} "
                          f"{'yes' if r['goal_met'] else 'no':>5}", flush=True)
                    _merge_write(out, {key: {**meta, "minimum": minimum, "complete": False,
                                             "wall_s": round(time.monotonic() - started), "rows": rows}})
                    if n == 1:
                        break
    finally:
        serve.shutdown()
        ray.shutdown()
    _merge_write(out, {key: {**meta, "minimum": minimum, "complete": True,
                             "wall_s": round(time.monotonic() - started), "rows": rows}})
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=40)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fleet.json"))
    ap.add_argument("--ray", action="store_true", help="real engine replicas on Ray Serve (1, 2, 3) by router")
    ap.add_argument("--memory", default="unbounded,48MiB", help="--ray: memory settings to run")
    ap.add_argument("--counts", default="1,2,3", help="--ray: replica counts to run")
    ap.add_argument("--routers", default="promptc,ray-default,round_robin", help="--ray: routers to run")
    ap.add_argument("--router-kwargs", default="{}", help="--ray: JSON, the promptc router's Placer keywords")
    args = ap.parse_args()
    if args.ray:
        ray_main(args.turns, args.out, tuple(args.memory.split(",")),
                 tuple(int(n) for n in args.counts.split(",")), tuple(args.routers.split(",")),
                 json.loads(args.router_kwargs))
        return
    team = promptc.compile(REPO / "examples" / "team")
    workload = team_workload(team.plans, args.turns)
    encode = load_tokenizer("o200k_base").encode
    rows = []
    print(f"team example, {len(workload)} requests ({args.turns} turns x 4 senders), {args.replicas} replicas, "
          "16-token blocks")
    print(f"{'memory':<10} {'policy':<22} {'hit rate':>8} {'prompt':>8} {'computed':>9} {'minimum':>8} "
          f"{'x min':>6} {'busiest':>8}")
    for mem_label, capacity in MEMORY:
        for label, kw in POLICIES:
            r = replay(workload, encode, label=label, replicas=args.replicas, capacity_blocks=capacity, **kw)
            row = {"memory": mem_label, "capacity_blocks": capacity, **r.to_json()}
            rows.append(row)
            print(f"{mem_label:<10} {label:<22} {r.hit_rate:>8.1%} {r.prompt:>8} {r.computed:>9} "
                  f"{r.minimum_computed:>8} {r.computed / r.minimum_computed:>6.2f} {r.busiest_share:>8.2f}")
    out = {"benchmark": "fleet", "turns": args.turns, "requests": len(workload), "replicas": args.replicas,
           "block_size": 16, "python": platform.python_version(),
           "minimum": "one replica, unbounded memory: every distinct salted block prefix computed once",
           "rows": rows}
    _merge_write(args.out, out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
