"""Engine benchmark: TTFT cold vs hit vs the physical limit, the multi-agent workload, decode speed.

Run:  python bench/engine.py [--quick] [--sections classic,acceptance] [--out bench/results/engine.json]

Prints Markdown tables and writes JSON. The *classic* sections run on the bundled SmolLM2-135M in fp32:

* TTFT for prefixes of 512/1k/2k/4k tokens with a 64–256-token suffix: cold (no cache), hit (prefix
  from the KV tree, suffix computed) and the physical limit (the same suffix tokens computed over a
  KV buffer that already holds the prefix: no tokenization, lookup or copy). Medians of repeats.
* The multi-agent workload: the three agents of examples/team through interleaved turns, with
  prefill tokens computed and total TTFT for (a) no cache, (b) a single-slot longest-common-prefix
  cache (what llama.cpp's server keeps per slot), (c) the KV tree; plus the theoretical minimum
  (every distinct segment path computed once).
* Decode tokens/s at 256 and 2k context.

The *acceptance* section (bench/engine_acceptance.py; issue 14's rows, ratios measured in the same
run) picks the fastest weight mode of ``--modes`` by single-stream decode and reports: that mode vs
llama.cpp on the same GGUF (``pip install 'promptc[bench]'``; skipped with a note when absent) with
its max |Δ logit| and greedy agreement vs fp32; 8 concurrent streams vs 1 through the scheduler; the
3 agents concurrent vs serial with prompt tokens computed vs the minimum; the multi-agent workload's
total TTFT vs llama-cpp-python itself (its live-state prefix reuse, and its ``LlamaRAMCache``); hit
TTFT vs computing only the new tokens; the per-token overhead of a decode step; and ``torch.compile``
on the decode step in a child process (``--no-compile`` skips it). Compared sides take turns (decode
rounds alternate, each workload request goes to every side before the next), so a change of machine
load hits them alike. ``--rows`` re-runs some rows.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import promptc  # noqa: E402
from promptc.engine import Engine, SegmentIn  # noqa: E402
from promptc.engine.model import KVCache  # noqa: E402
from serving import minimum_tokens  # noqa: E402  (bench/serving.py)

WORDS = ("the cache keys state by segment hash so agents that share a global block compute it once while "
         "a single slot keeps only the last prompt and recomputes everything else after the first change "
         "tokens positions rotary attention heads values keys budget eviction tenant fingerprint").split()


def text_of_tokens(engine: Engine, n: int, seed: int) -> str:
    words, i = [], seed
    while True:
        words.extend(WORDS[(i * 7 + j) % len(WORDS)] for j in range(64))
        i += 1
        ids = engine.tokenizer.encode(" ".join(words))
        if len(ids) >= n:
            return engine.tokenizer.decode(ids[:n])


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def ttft_table(engine: Engine, sizes, suffixes, repeats: int) -> list[dict]:
    rows = []
    for n in sizes:
        for s in suffixes:
            prefix = SegmentIn.of(f"prefix{n}", "system", text_of_tokens(engine, n, seed=n))
            suffix_segs = [SegmentIn.of(f"q{n}-{s}-{r}", "user", text_of_tokens(engine, s, seed=1000 + r))
                           for r in range(repeats + 1)]
            tenant = f"ttft-{n}-{s}"
            cold = []
            for r in range(min(repeats, 2)):
                dt, p = timed(lambda: engine.prefill(tenant + "-cold", [prefix, suffix_segs[r]], use_cache=False))
                cold.append(dt)
                engine.release(p)
            engine.warm(tenant, [prefix])
            hit, limit = [], []
            for r in range(1, repeats + 1):
                dt, p = timed(lambda: engine.prefill(tenant, [prefix, suffix_segs[r]]))
                assert p.statuses[0].status == "hit"
                hit.append(dt)
                engine.release(p)
                # physical limit: the same suffix tokens over an already-materialized prefix buffer
                seg_ids, _, gen = engine.tokenize([prefix, suffix_segs[r]])
                P = len(seg_ids[0])
                tail = list(seg_ids[1]) + list(gen)
                def limit_s(prefix_ids=seg_ids[0], tail=tail, P=P) -> float:
                    cache = engine.model.new_cache(P + len(tail))
                    engine.model.forward(torch.tensor(prefix_ids), cache, 0)
                    return timed(lambda: engine.model.forward(torch.tensor(tail), cache, P))[0]
                limit.append(engine.run_on_model_thread(limit_s))
            row = {"prefix_tokens": P, "suffix_tokens": len(tail), "cold_s": statistics.median(cold),
                   "hit_s": statistics.median(hit), "limit_s": statistics.median(limit)}
            row["hit_over_limit"] = row["hit_s"] / row["limit_s"]
            row["cold_over_hit"] = row["cold_s"] / row["hit_s"]
            rows.append(row)
            print(f"  prefix {P:5d} suffix {len(tail):4d}: cold {row['cold_s']:.3f}s hit {row['hit_s']:.3f}s "
                  f"limit {row['limit_s']:.3f}s  hit/limit {row['hit_over_limit']:.3f}", flush=True)
            engine.tree.clear(tenant)
    return rows


def workload_requests(turns: int) -> list[tuple[str, list[SegmentIn]]]:
    build = promptc.compile(REPO / "examples" / "team")
    sessions = {name: build[name].bind() for name in ("backend", "frontend", "docs")}
    files = ["api/users.py", "web/src/App.tsx", "docs/index.md", "api/orders.py", "web/src/ui/Button.tsx"]
    out = []
    for t in range(turns):
        for name, session in sessions.items():
            req = session.render(file=files[(t + len(name)) % len(files)],
                                 query=f"Turn {t}: explain what this file is for and one risk in it.")
            out.append((name, [SegmentIn(s.id, s.hash, s.role, s.content) for s in req.segments]))
    return out


class SingleSlotCache:
    """The peer: one slot holding the previous prompt's KV; reuse the longest common token prefix."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.ids: list[int] = []
        self.cache: KVCache | None = None

    def prefill(self, segments) -> int:
        seg_ids, msg_ids, gen = self.engine.tokenize(segments)
        ids = [t for s in seg_ids for t in s] + list(gen)
        lcp = 0
        for a, b in zip(self.ids, ids):
            if a != b:
                break
            lcp += 1
        lcp = min(lcp, len(ids) - 1)  # at least one token must be computed to get logits
        def compute() -> KVCache:
            new = self.engine.model.new_cache(len(ids))
            if lcp:
                new.k[:, :, :lcp] = self.cache.k[:, :, :lcp]
                new.v[:, :, :lcp] = self.cache.v[:, :, :lcp]
            self.engine.model.forward(torch.tensor(ids[lcp:]), new, lcp)
            return new
        self.ids, self.cache = ids, self.engine.run_on_model_thread(compute)
        return len(ids) - lcp


def multi_agent(engine: Engine, turns: int) -> dict:
    reqs = workload_requests(turns)
    result = {"requests": len(reqs), "agents": 3}
    total_prompt = 0
    for _, segs in reqs:
        seg_ids, _, gen = engine.tokenize(segs)
        total_prompt += sum(len(i) for i in seg_ids) + len(gen)
    result["prompt_tokens"] = total_prompt
    result["minimum_tokens"] = minimum_tokens(engine, reqs)  # every distinct token prefix computed once

    t0 = time.perf_counter()
    for _, segs in reqs:
        p = engine.prefill("bench-nocache", segs, use_cache=False)
        engine.release(p)
    result["no_cache"] = {"computed_tokens": total_prompt, "total_ttft_s": time.perf_counter() - t0}

    slot = SingleSlotCache(engine)
    t0, computed = time.perf_counter(), 0
    for _, segs in reqs:
        computed += slot.prefill(segs)
    result["single_slot"] = {"computed_tokens": computed, "total_ttft_s": time.perf_counter() - t0}

    engine.tree.clear("bench-tree")
    before = engine.tree.tenant_stats("bench-tree").computed_tokens
    t0 = time.perf_counter()
    per_request = []
    for name, segs in reqs:
        p = engine.prefill("bench-tree", segs)
        per_request.append({"agent": name, "prompt": p.prompt_tokens, "cached": p.cached_tokens,
                            "computed": p.computed_tokens})
        engine.release(p)
    stats = engine.tree.tenant_stats("bench-tree")
    result["tree"] = {"computed_tokens": stats.computed_tokens - before, "total_ttft_s": time.perf_counter() - t0,
                      "evictions": stats.evictions, "bytes": engine.tree.bytes_used,
                      "budget_bytes": engine.tree.budget_bytes}
    result["per_request"] = per_request
    return result


def decode_speed(engine: Engine, contexts, n_tokens: int) -> list[dict]:
    rows = []
    for ctx in contexts:
        seg = SegmentIn.of(f"ctx{ctx}", "user", text_of_tokens(engine, ctx, seed=ctx + 5))
        p = engine.prefill("decode", [seg], extra_capacity=n_tokens, use_cache=False)

        def measure() -> float:
            pos, tok = p.length, int(p.logits.argmax())
            t0 = time.perf_counter()
            for _ in range(n_tokens):
                logits = engine.model.decode([tok], [p.cache], [pos])[0]
                tok = int(logits.argmax())
                pos += 1
            return time.perf_counter() - t0
        dt = engine.run_on_model_thread(measure)
        engine.release(p)
        rows.append({"context": p.length, "tokens": n_tokens, "tok_per_s": n_tokens / dt})
        print(f"  decode at {p.length}: {n_tokens / dt:.1f} tok/s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "engine.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default="classic,acceptance", help="classic, acceptance or both")
    ap.add_argument("--modes", default="float32,int8,int4",
                    help="weight modes the acceptance rows choose from; int4-torch: int4 on torch's kernel (the "
                         "compiled kernel off), the A side of the kernel's rows")
    ap.add_argument("--rows", default="all", help="acceptance rows: all, or some of peer,streams,agents,ttft,hit,"
                                                   "overhead,compile (the fastest-mode decode row always runs)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile probe")
    ap.add_argument("--compile-timeout", type=int, default=600, help="seconds for the torch.compile probe")
    ap.add_argument("--compile-probe", metavar="MODE", help=argparse.SUPPRESS)  # the child process
    ap.add_argument("--probe-tokens", type=int, default=16, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.compile_probe:
        import engine_acceptance

        print(json.dumps(engine_acceptance.compile_probe(args.compile_probe, args.threads, args.probe_tokens)))
        return
    sections = set(args.sections.split(","))
    out = {"machine": {"platform": platform.platform(), "threads": args.threads, "torch": torch.__version__},
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick}
    if "classic" in sections:
        out.update(classic(args))
    if "acceptance" in sections:
        import engine_acceptance

        print("acceptance rows (issue 14):", flush=True)
        out["acceptance"] = engine_acceptance.run(args, ttft_table, workload_requests, minimum_tokens)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    if "acceptance" in out:
        print("\n" + engine_acceptance.table(out["acceptance"]))
    print(f"\nwrote {args.out}")


def classic(args) -> dict:
    t_load, engine = timed(lambda: Engine(budget_bytes=2 << 30))
    print(f"model loaded in {t_load:.1f}s ({engine.model_name}, fp32, {engine.model.device})", flush=True)
    sizes = [512, 1024] if args.quick else [512, 1024, 2048, 4096]
    suffixes = [64] if args.quick else [64, 256]
    repeats = 2 if args.quick else 3
    print("TTFT:", flush=True)
    ttft = ttft_table(engine, sizes, suffixes, repeats)
    print("multi-agent workload:", flush=True)
    work = multi_agent(engine, 4 if args.quick else 10)
    print("decode:", flush=True)
    dec = decode_speed(engine, [256, 2048], 16 if args.quick else 32)
    engine.close()
    out = {"model": engine.model_name, "dtype": "float32", "load_s": t_load, "ttft": ttft, "multi_agent": work,
           "decode": dec}

    print("\n| prefix | suffix | cold TTFT | hit TTFT | physical limit | hit / limit | cold / hit |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in ttft:
        print(f"| {r['prefix_tokens']} | {r['suffix_tokens']} | {r['cold_s']:.3f} s | {r['hit_s']:.3f} s | "
              f"{r['limit_s']:.3f} s | {r['hit_over_limit']:.2f} | {r['cold_over_hit']:.1f} |")
    w = work
    print(f"\nMulti-agent workload: {w['requests']} requests, 3 agents, {w['prompt_tokens']} prompt tokens; "
          f"theoretical minimum {w['minimum_tokens']} computed tokens.\n")
    print("| strategy | tokens computed | vs minimum | total TTFT |")
    print("|---|---:|---:|---:|")
    for key, label in (("no_cache", "(a) no cache"), ("single_slot", "(b) single-slot LCP (llama.cpp-style)"),
                       ("tree", "(c) promptc KV tree")):
        r = w[key]
        print(f"| {label} | {r['computed_tokens']} | {r['computed_tokens'] / w['minimum_tokens']:.2f}× | "
              f"{r['total_ttft_s']:.2f} s |")
    print(f"\ntree: {w['tree']['evictions']} evictions, {w['tree']['bytes'] / 2**20:.1f} MiB of "
          f"{w['tree']['budget_bytes'] / 2**20:.0f} MiB budget")
    print("\n| context | decode tok/s |")
    print("|---:|---:|")
    for r in dec:
        print(f"| {r['context']} | {r['tok_per_s']:.1f} |")
    return out


if __name__ == "__main__":
    main()
