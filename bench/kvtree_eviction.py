"""KV-tree eviction cost: an insert into a full tree, heap-based victims vs a scan of the tree.

Run:  python bench/kvtree_eviction.py [--out bench/results/kvtree_eviction.json]

The peer in the same run is the previous design: every victim found by scanning the whole tree for
unreferenced leaves (``ScanTree`` below reproduces it on top of the same class). Tensors are tiny, so
the numbers are the bookkeeping cost alone. Medians of 5 repeats of 300 evicting inserts each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from promptc.engine.kvtree import KVTree  # noqa: E402


class ScanTree(KVTree):
    """The previous eviction: a full scan of the tree per victim (global LRU, expired first)."""

    def _make_room(self, nbytes: int, tenant: str) -> bool:
        if nbytes > self.budget_bytes:
            return False
        while self.bytes_used + nbytes > self.budget_bytes:
            leaves = [n for n in self.nodes() if not n.children and n.refs == 0]
            if not leaves:
                return False
            expired = [n for n in leaves if self._expired(n)]
            victim = min(expired or leaves, key=lambda n: n.last_used)
            self._remove(victim, "expired" if expired else "evicted")
        return True


def _kv():
    k = torch.zeros((1, 1, 1, 2))
    return k, k.clone(), torch.zeros(1)


def per_insert_us(cls, leaves: int, inserts: int = 300) -> float:
    per = sum(t.numel() * t.element_size() for t in _kv())
    tree = cls(budget_bytes=per * leaves)
    roots = [tree.root(t, "fp") for t in ("a", "b", "c", "d")]
    for i in range(leaves):
        tree.release([tree.insert(roots[i % 4], f"k{i}", (i,), *_kv())])
    t0 = time.perf_counter()
    for i in range(inserts):
        tree.release([tree.insert(roots[i % 4], f"x{i}", (i,), *_kv())])
    return (time.perf_counter() - t0) / inserts * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "kvtree_eviction.json"))
    args = ap.parse_args()
    rows = []
    print("| leaves | heap (µs/insert) | scan (µs/insert) |\n|---:|---:|---:|")
    for leaves in (1_000, 5_000, 20_000):
        heap = statistics.median(per_insert_us(KVTree, leaves) for _ in range(5))
        scan = statistics.median(per_insert_us(ScanTree, leaves, 50) for _ in range(3))
        rows.append({"leaves": leaves, "heap_us": round(heap, 1), "scan_us": round(scan, 1)})
        print(f"| {leaves} | {heap:.0f} | {scan:.0f} |", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"bench": "kvtree_eviction", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
