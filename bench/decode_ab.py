"""Decode step A/B: ``promptc/engine/model.py`` at a git revision vs the working tree, same process.

Run:  python bench/decode_ab.py [--rev e0b4ffc] [--modes int4,int8,float32] [--rows 1,8] [--rounds 20] [--threads N] [--context 200]
      python bench/decode_ab.py --kernel --modes int4   (old: torch's int4 kernel, new: the compiled block kernel)

For each mode and batch size: the median step time of each side (rounds interleaved, so a change of
machine load hits both alike), the ratio old/new, the top-level aten ops per step (``torch.profiler``;
deterministic, unlike the times on a shared machine) and the largest logit difference between the
sides. Prints one line per row and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import promptc.engine.model as NEW  # noqa: E402
from promptc.engine.weights import load_weights  # noqa: E402


def old_model(rev: str):
    src = subprocess.run(["git", "show", f"{rev}:promptc/engine/model.py"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    path = Path(tempfile.mkdtemp()) / "model_old.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("model_old", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["model_old"] = mod
    spec.loader.exec_module(mod)
    return mod


def top_level_ops(fn) -> int:
    from torch.profiler import profile

    with profile() as p:
        fn()
    return sum(1 for e in p.events() if e.cpu_parent is None and e.name.startswith("aten::"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="e0b4ffc", help="the old side's revision of promptc/engine/model.py")
    ap.add_argument("--modes", default="int4,int8,float32")
    ap.add_argument("--rows", default="1,8")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--context", type=int, default=200, help="cached tokens before the step (row i: context + i)")
    ap.add_argument("--kernel", action="store_true",
                    help="old = this tree with PROMPTC_KERNEL=off (torch's int4 path), new = the compiled kernel")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    OLD = NEW if args.kernel else old_model(args.rev)
    weights = load_weights(None)
    for mode in args.modes.split(","):
        if args.kernel:
            os.environ["PROMPTC_KERNEL"] = "off"
        old = OLD.Transformer(weights, mode)
        os.environ.pop("PROMPTC_KERNEL", None)
        new = NEW.Transformer(weights, mode)
        print(f"{mode}: old kernel {getattr(old, 'kernel', '-')}, new kernel {getattr(new, 'kernel', '-')}")
        sides = {"old": (OLD, old), "new": (NEW, new)}
        for B in map(int, args.rows.split(",")):
            steps = {}
            for name, (mod, m) in sides.items():
                pool = mod.KVPool(weights.config, m.kv_dtype, m.device)
                caches = [pool.acquire(args.context + B + 8) for _ in range(B)]
                for i, c in enumerate(caches):
                    m.forward(torch.arange(100, 100 + args.context + i), c, 0)
                pos = [args.context + i for i in range(B)]
                steps[name] = lambda m=m, caches=caches, pos=pos: m.decode([5] * B, caches, pos)
            delta = (steps["old"]() - steps["new"]()).abs().max().item()
            times: dict[str, list[float]] = {k: [] for k in steps}
            for _ in range(args.rounds):
                for name, fn in steps.items():
                    t = time.perf_counter()
                    fn()
                    times[name].append((time.perf_counter() - t) * 1e3)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{mode} context={args.context} rows={B}: old {med['old']:.2f} ms, new {med['new']:.2f} ms = {med['old'] / med['new']:.2f}x; "
                  f"top-level aten ops {top_level_ops(steps['old'])} -> {top_level_ops(steps['new'])}; "
                  f"max |dlogit| {delta:.2e}", flush=True)
    print("load average", Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
