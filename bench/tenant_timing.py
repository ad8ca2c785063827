"""Cross-tenant timing: can tenant B tell, by timing, whether tenant A sent a text?

Run:  python bench/tenant_timing.py [--rounds 60] [--out bench/results/tenant_timing.json]

Each round A sends a random ~800-word document; then, interleaved in random order, B tokenizes
A's document (the probe), B tokenizes a fresh document of the same shape (the peer), and A
repeats its own document (a real cache hit: the power check). The property holds when the
probe's times are indistinguishable from the fresh ones: a two-sided permutation test on the
difference of medians (p > 0.01), while the own-tenant hit is clearly faster (so the benchmark
would see a shared cache). This was a test once; a wall-clock assertion failed on loaded
machines in either direction, so the suite checks the mechanism (tests/security/
test_server_tenants.py) and this script measures the timing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from promptc.engine import Engine, SegmentIn  # noqa: E402
from promptc.engine.weights import load_weights  # noqa: E402


def random_text(rng: random.Random, n_words: int) -> str:
    return " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(n_words))


def permutation_p(a: list[float], b: list[float], rng: random.Random, n: int = 10_000) -> float:
    """Two-sided p-value of |median(a) - median(b)| under exchangeability. Hand-written: ten
    lines, where scipy (not a dependency) would be the only reason to add a package."""
    observed = abs(statistics.median(a) - statistics.median(b))
    pooled, k, hits = a + b, len(a), 0
    for _ in range(n):
        rng.shuffle(pooled)
        hits += abs(statistics.median(pooled[:k]) - statistics.median(pooled[k:])) >= observed
    return (hits + 1) / (n + 1)


def measure(engine: Engine, rounds: int, seed: int) -> dict:
    rng = random.Random(seed)
    times: dict[str, list[float]] = {"probe": [], "fresh": [], "own": []}

    def tok(tenant: str, text: str):
        return lambda: engine.tokenize([SegmentIn.of("doc", "system", text)], tenant=tenant)

    for _ in range(rounds):
        secret, other = random_text(rng, 800), random_text(rng, 800)
        tok("tenant-a", secret)()
        runs = [("probe", tok("tenant-b", secret)), ("fresh", tok("tenant-b", other)), ("own", tok("tenant-a", secret))]
        rng.shuffle(runs)  # interleaved, in random order, so drift hits all three alike
        for name, fn in runs:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    p = permutation_p(times["probe"], times["fresh"], random.Random(seed + 1))
    return {"rounds": rounds, "median_ms": {k: round(v * 1e3, 4) for k, v in med.items()},
            "probe_over_fresh": round(med["probe"] / med["fresh"], 4),
            "own_over_fresh": round(med["own"] / med["fresh"], 4),
            "p_probe_vs_fresh": round(p, 4),
            "indistinguishable": p > 0.01, "power": med["own"] < 0.3 * med["fresh"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "tenant_timing.json"))
    args = ap.parse_args()
    engine = Engine(weights=load_weights(), budget_bytes=64 << 20, token_cache_bytes=8 << 20)
    r = measure(engine, args.rounds, args.seed)
    print(f"{'case':<8}{'median ms':>12}")
    for k, v in r["median_ms"].items():
        print(f"{k:<8}{v:>12.3f}")
    print(f"probe/fresh {r['probe_over_fresh']:.3f}  own/fresh {r['own_over_fresh']:.3f}  "
          f"permutation p(probe vs fresh) = {r['p_probe_vs_fresh']:.4f}  "
          f"{'indistinguishable' if r['indistinguishable'] else 'DISTINGUISHABLE'}; "
          f"power {'ok' if r['power'] else 'LOW (a hit is not clearly faster)'}")
    Path(args.out).write_text(json.dumps(r, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
