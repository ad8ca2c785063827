"""Scale-out benchmark: the team example through a simulated fleet of 4 vLLM replicas, by routing policy.

Run:  python bench/fleet.py [--turns 40] [--out bench/results/fleet.json]

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
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--turns", type=int, default=40)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fleet.json"))
    args = ap.parse_args()
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
