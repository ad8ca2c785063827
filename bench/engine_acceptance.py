"""The acceptance rows of issue 14, measured in one run on one machine (imported by bench/engine.py).

Every row is a ratio of two numbers measured in the same process, minutes apart, so machine load
affects both sides. See :func:`run` for the rows and docs/benchmarks.md for the results.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import serving  # noqa: E402  (bench/serving.py: decode speed, accuracy, the 3-agent run, llama.cpp decode)

from promptc.engine import Engine, GenerationParams, SegmentIn  # noqa: E402
from promptc.engine.runner import serving_dtype  # noqa: E402

STORY = "Write a long, detailed story about {}. Do not stop early."
TOPICS = ["a lighthouse keeper", "a lost robot", "a desert caravan", "a mountain village", "a deep-sea diver",
          "a clockmaker", "a space station", "a river ferry"]


def have_llama_cpp() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


# -- decode: single stream, 8 streams, accuracy ---------------------------------------------------------
class _PromptcDecode:
    """Single-stream decode timing on one engine, on its model thread: a 256-token context computed
    once, then ``n_tokens`` steps from the same position each round."""

    def __init__(self, engine: Engine, n_tokens: int, context: int = 256):
        self.engine, self.model, self.n, self.ctx = engine, engine.model, n_tokens, context

        def setup():
            self.cache = engine.pool.acquire(context + n_tokens + 1)
            self.model.forward(torch.tensor(list(range(1000, 1000 + context))), self.cache, 0)
            self.model.decode([5], [self.cache], [context])  # warm-up
        engine.run_on_model_thread(setup)

    def round(self) -> float:
        def measure() -> float:
            t = time.perf_counter()
            tok = 5
            for s in range(self.n):
                tok = int(self.model.decode([tok], [self.cache], [self.ctx + s])[0].argmax())
            return self.n / (time.perf_counter() - t)
        return self.engine.run_on_model_thread(measure)

    def close(self) -> None:
        self.engine.pool.release(self.cache)


class _LlamaDecode:
    """llama.cpp single-stream decode of the same GGUF: the context evaluated untimed, then ``n_tokens``
    single-token evals (the decode cost alone, as on the promptc side); each round on a thread of its
    own (serving.isolated)."""

    def __init__(self, path: str, threads: int, n_tokens: int, context: int = 256):
        import llama_cpp

        self.version = llama_cpp.__version__
        self.llm = serving.isolated(lambda: llama_cpp.Llama(model_path=path, n_ctx=2048, n_threads=threads,
                                                            n_batch=512, verbose=False))
        self.ids, self.n = list(range(1000, 1000 + context)), n_tokens

    def round(self) -> float:
        def measure() -> float:
            self.llm.reset()
            self.llm.eval(self.ids)
            t = time.perf_counter()
            for _ in range(self.n):
                self.llm.eval([self.ids[-1]])
            return self.n / (time.perf_counter() - t)
        return serving.isolated(measure)

    def close(self) -> None:
        pass


def interleaved_rounds(sides: dict, rounds: int) -> dict[str, float]:
    """Median tok/s of each side, the sides taking turns round by round (a load change hits all alike)."""
    got: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(rounds):
        for name, side in sides.items():
            got[name].append(side.round())
    return {name: statistics.median(v) for name, v in got.items()}


def fastest_mode(engines: dict[str, Engine], n_tokens: int, repeats: int) -> tuple[str, dict]:
    sides = {m: _PromptcDecode(e, n_tokens) for m, e in engines.items()}
    speeds = interleaved_rounds(sides, max(3, repeats))
    for side in sides.values():
        side.close()
    rows = {m: {"single_tok_per_s": v} for m, v in speeds.items()}
    for mode, r in rows.items():
        print(f"  {mode}: {r['single_tok_per_s']:.1f} tok/s single stream (Transformer.decode, modes interleaved)",
              flush=True)
    best = max(rows, key=lambda m: rows[m]["single_tok_per_s"])
    return best, rows


def accuracy(engine: Engine, ref: Engine, n_prompts: int, n_new: int) -> dict:
    reference = []
    for text in serving.PROMPTS[:n_prompts]:
        ids = serving.prompt_ids(ref, text)
        c = ref.complete("accuracy-ref", [SegmentIn.of("p", "user", text)], params=GenerationParams(max_tokens=n_new),
                         use_cache=False)
        reference.append((ids, list(c.token_ids)))
    return serving.accuracy(engine, ref, reference)


def streams(engine: Engine, n: int, max_tokens: int) -> dict:
    """``n`` concurrent streams through the scheduler: aggregate decode tok/s, measured from the moment
    every stream has its first token (prefill excluded) to the moment the last one finishes."""
    params = GenerationParams(max_tokens=max_tokens)
    segs = [[SegmentIn.of(f"story{i}", "user", STORY.format(TOPICS[i % len(TOPICS)]))] for i in range(n)]
    with engine.scheduler.hold():
        gens = [engine.submit(f"streams-{n}", s, params=params, use_cache=False) for s in segs]
    while not all(g.generated >= 1 or g.done.is_set() for g in gens):
        time.sleep(0.002)
    t0, g0 = time.perf_counter(), sum(g.generated for g in gens)
    for g in gens:
        g.result()
    dt = time.perf_counter() - t0
    tokens = sum(g.generated for g in gens) - g0
    return {"streams": n, "decode_tokens": tokens, "seconds": dt, "tok_per_s": tokens / dt}


# -- the multi-agent workload: TTFT vs llama-cpp-python ------------------------------------------------
def canonical_ids(engine: Engine, segs) -> list[int]:
    seg_ids, _, gen = engine.tokenize(segs)
    return [t for s in seg_ids for t in s] + list(gen)


def _promptc_side(engine: Engine, tenant: str):
    engine.tree.clear(tenant)

    def first_token(segs, ids) -> None:
        engine.complete(tenant, segs, params=GenerationParams(max_tokens=1))
    return first_token


def _llama_side(path: str, threads: int, ram_cache: bool):
    """llama-cpp-python on the same GGUF: its own prefix reuse (the live KV state keeps the longest
    common prefix with the previous prompt) and, with ``ram_cache``, ``LlamaRAMCache`` (the state is
    saved after each request; the saved state with the longest common prefix is restored). Every call
    runs on a thread of its own (serving.isolated)."""
    import llama_cpp

    def load():
        llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, n_batch=512,
                              verbose=False)
        if ram_cache:
            llm.set_cache(llama_cpp.LlamaRAMCache(capacity_bytes=2 << 30))
        return llm
    llm = serving.isolated(load)

    def first_token(segs, ids) -> None:
        it = llm.create_completion(ids, max_tokens=1, temperature=0.0, stream=True)
        serving.isolated(lambda: next(it))
        first_token.after = it  # the state save runs after the first token: drained outside the timing
    first_token.llm = llm
    return first_token


def peer_tokens(prompts: list[list[int]]) -> dict:
    """Prompt tokens llama-cpp-python computes on these prompts: with its live slot, all but the longest
    common prefix with the previous prompt; with LlamaRAMCache, all but the longest common prefix with
    any earlier prompt (its saved states); at least one token per request either way."""
    def lcp(a, b):
        n = 0
        for x, y in zip(a, b):
            if x != y:
                break
            n += 1
        return n
    slot = ram = 0
    for i, p in enumerate(prompts):
        slot += len(p) - min(lcp(prompts[i - 1], p) if i else 0, len(p) - 1)
        ram += len(p) - min(max((lcp(q, p) for q in prompts[:i]), default=0), len(p) - 1)
    return {"slot": slot, "ram_cache": ram}


def interleaved_ttft(sides: dict, reqs, prompts) -> dict:
    """Time to first token of every request on every side, the sides taking turns request by request
    (in a rotating order), so a change of machine load hits every side alike. ``cpu_s``: the process CPU
    time each side's calls used (every side runs on one thread at a time), a second, load-robust measure:
    on a loaded machine the wall time also counts the time a side waited for a core."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i, ((_, segs), ids) in enumerate(zip(reqs, prompts)):
        for name in names[i % len(names):] + names[:i % len(names)]:
            fn = sides[name]
            t, c = time.perf_counter(), time.process_time()
            fn(segs, ids)
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
            after = getattr(fn, "after", ())
            serving.isolated(lambda: [None for _ in after])
            fn.after = ()
    return {name: {"total_ttft_s": sum(ts), "per_request_s": ts, "cpu_s": sum(cpu[name]),
                   "per_request_cpu_s": cpu[name]} for name, ts in times.items()}


# -- per-token overhead and torch.compile --------------------------------------------------------------
def _step_ms(model, steps: int) -> float:
    """Median single-stream decode step (call on a model thread)."""
    cache = model.new_cache(256 + steps + 2)
    model.forward(torch.tensor(list(range(100, 356))), cache, 0)
    model.decode([5], [cache], [256])
    times = []
    for s in range(steps):
        t = time.perf_counter()
        model.decode([5], [cache], [257 + s])
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def decode_profile(engine: Engine, steps: int = 8) -> dict:
    """Per-token overhead of one single-stream decode step: the step's wall time for the real model vs a
    model with the same structure (layers, heads, weight mode) but tiny matrices, whose step time is
    almost all Python, op dispatch and kernel launch; plus the aten op count of one step."""
    from promptc.engine.model import Transformer
    from tests.engine.tiny import tiny_weights

    def measure() -> dict:
        cfg = engine.weights.config
        real = _step_ms(engine.model, steps)
        tiny_w = tiny_weights(engine.weights, dim=128, layers=cfg.n_layers, heads=4, kv_heads=2 if cfg.n_kv_heads <
                              cfg.n_heads else 4, vocab=cfg.vocab_size)
        floor = _step_ms(Transformer(tiny_w, engine.model.mode, engine.model.device), steps)
        cache = engine.model.new_cache(300)
        engine.model.forward(torch.tensor(list(range(100, 356))), cache, 0)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            engine.model.decode([5], [cache], [256])
        top_level = sum(1 for e in prof.events() if e.name.startswith("aten::") and e.cpu_parent is None)
        return {"step_ms": real, "same_structure_tiny_step_ms": floor, "overhead_share": floor / real,
                "top_level_aten_ops_per_step": top_level, "mode": engine.model.mode}
    return engine.run_on_model_thread(measure)


def scheduler_overhead(engine: Engine, n_tokens: int) -> dict:
    """Single-stream tok/s through the scheduler vs the bare decode loop, same prompt length."""
    one = streams(engine, 1, n_tokens)
    bare = serving.decode_speed(engine, 1, 30, n_tokens, 2)
    return {"scheduler_tok_per_s": one["tok_per_s"], "bare_decode_tok_per_s": bare,
            "per_token_overhead_ms": max(0.0, 1e3 / one["tok_per_s"] - 1e3 / bare)}


def compile_probe(mode: str, threads: int, n_tokens: int) -> dict:
    """Runs in a child process (bench/engine.py --compile-probe MODE): torch.compile on the decode step."""
    torch.set_num_threads(threads)
    engine = Engine(dtype=mode, budget_bytes=1 << 28)
    try:
        return engine.run_on_model_thread(lambda: _compile_probe(engine, mode, n_tokens))
    finally:
        engine.close()


def _compile_probe(engine: Engine, mode: str, n_tokens: int) -> dict:
    model = engine.model
    cache = model.new_cache(512)
    model.forward(torch.tensor(list(range(1000, 1256))), cache, 0)

    def run(fn, start):
        t = time.perf_counter()
        for s in range(n_tokens):
            fn([5], [cache], [start + s])
        return n_tokens / (time.perf_counter() - t)

    eager = run(model.decode, 256)
    out = {"mode": mode, "torch": torch.__version__, "eager_tok_per_s": eager}
    compiled = torch.compile(model.decode, dynamic=True)
    t = time.perf_counter()
    try:
        ref = model.decode([5], [cache], [300])
        got = compiled([5], [cache], [300])
        out["compile_s"] = time.perf_counter() - t
        out["max_abs_diff_vs_eager"] = (got.float() - ref.float()).abs().max().item()
        run(compiled, 301)  # settle recompilations for new positions
        out["compiled_tok_per_s"] = run(compiled, 301 + n_tokens)
        out["speedup"] = out["compiled_tok_per_s"] / eager
        diff = out["max_abs_diff_vs_eager"]
        # "works" means it compiles, runs AND gives the eager logits (within bf16 rounding in quantized modes)
        out["correct"] = diff == diff and diff < (1e-3 if mode == "float32" else 0.5)
        out["works"] = out["correct"]
        if diff != diff:  # NaN logits (JSON has no NaN)
            out["max_abs_diff_vs_eager"], out["nan_logits"] = None, True
    except Exception as exc:  # the finding is reported, whatever it is
        out.update(works=False, compile_s=time.perf_counter() - t, error=f"{type(exc).__name__}: {str(exc)[:400]}")
    return out


def compile_in_child(mode: str, threads: int, n_tokens: int, timeout_s: int) -> dict:
    cmd = [sys.executable, str(REPO / "bench" / "engine.py"), "--compile-probe", mode, "--threads", str(threads),
           "--probe-tokens", str(n_tokens)]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"mode": mode, "works": False, "error": f"did not finish within {timeout_s} s (compile + measure)"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"mode": mode, "works": False, "error": (p.stderr or p.stdout)[-400:],
                "seconds": time.perf_counter() - t}
    return json.loads(lines[-1])


# -- everything --------------------------------------------------------------------------------------------
def make_engine(weights, mode: str) -> Engine:
    """An engine in ``mode``; ``int4-torch`` is int4 on torch's kernel (the compiled kernel turned off while
    the weights are built), the A side of the compiled kernel's rows."""
    if mode != "int4-torch":
        return Engine(weights=weights, dtype=mode, budget_bytes=1 << 30, idle_exit_s=0)
    before = os.environ.get("PROMPTC_KERNEL")
    os.environ["PROMPTC_KERNEL"] = "off"
    try:
        return Engine(weights=weights, dtype="int4", budget_bytes=1 << 30, idle_exit_s=0)
    finally:
        if before is None:
            os.environ.pop("PROMPTC_KERNEL")
        else:
            os.environ["PROMPTC_KERNEL"] = before


def run(args, ttft_table, workload_requests, minimum_tokens) -> dict:
    quick = args.quick
    n_tokens, repeats = (16, 2) if quick else (32, 3)
    modes = args.modes.split(",")
    from promptc.engine.weights import load_weights

    weights = serving.isolated(load_weights)
    engines = {m: make_engine(weights, m) for m in modes}
    ref = engines.get("float32") or Engine(weights=weights, budget_bytes=1 << 30, idle_exit_s=0)
    out: dict = {"modes_tried": modes, "kernels": {m: e.model.kernel for m, e in engines.items()}}
    print(f"kernels: {out['kernels']}", flush=True)
    load_before = _loadavg()

    print("decode, single stream:", flush=True)
    best, rows = fastest_mode(engines, n_tokens, repeats)
    fast = engines[best]
    out["fastest_mode"], out["decode_by_mode"] = best, rows
    # the mode serve/demo/run --embedded use without --dtype; the claim is that it is the fastest
    out["default_mode"] = serving_dtype(str(fast.model.device))
    print(f"  fastest: {best}; the serving default: {out['default_mode']}", flush=True)
    rows_wanted = set(getattr(args, "rows", "all").split(","))

    def want(row: str) -> bool:
        return "all" in rows_wanted or row in rows_wanted

    if want("peer"):
        peer_rows(out, args, best, engines, ref, weights, quick, n_tokens, repeats)
    if want("streams"):
        streams_row(out, best, engines, rows, n_tokens, repeats)
    turns = 2 if quick else 4
    if want("agents"):
        print(f"3 agents concurrent vs serial ({best}, {turns} turns):", flush=True)
        out["three_agents"] = serving.three_agents(fast, turns, 16 if quick else 32)
        a = out["three_agents"]
        print(f"  serial {a['serial']['wall_s']:.1f} s, concurrent {a['concurrent']['wall_s']:.1f} s = "
              f"{a['speedup']:.2f}×; computed {a['concurrent']['computed_tokens']} (minimum {a['minimum_tokens']})",
              flush=True)
    if want("ttft"):
        ttft_row(out, args, best, engines, fast, weights, workload_requests, minimum_tokens, turns)
    if want("hit"):
        print(f"hit TTFT vs computing only the new tokens ({best}):", flush=True)
        out["hit_ttft"] = {"mode": best,
                           "rows": ttft_table(fast, [1024], [64] if quick else [64, 256], 2 if quick else 3)}
    if want("overhead"):
        overhead_row(out, fast, n_tokens)
    for e in engines.values():
        e.close()
    if ref not in engines.values():
        ref.close()
    if want("compile") and not args.no_compile:
        print("torch.compile on the decode step (child process):", flush=True)
        out["torch_compile"] = compile_in_child(best, args.threads, n_tokens, args.compile_timeout)
        print(f"  {out['torch_compile']}", flush=True)
    out["load_average"] = {"before": load_before, "after": _loadavg()}
    return out


def peer_rows(out, args, best, engines, ref, weights, quick, n_tokens, repeats) -> None:
    """Accuracy vs fp32 and single-stream decode vs llama.cpp (rounds interleaved), in the fastest mode
    and in int8 (the mode whose 8-stream row is also reported)."""
    modes = [m for m in dict.fromkeys([best, "int4", "int4-torch", "int8"]) if m in engines]
    out["accuracy"], out["llama_cpp_decode"] = {}, {}
    for mode in modes:
        print(f"accuracy of {mode} vs float32:", flush=True)
        acc = out["accuracy"][mode] = (accuracy(engines[mode], ref, 4 if quick else 8, 16 if quick else 32)
                                       if mode != "float32" else
                                       {"max_abs_logit_delta": 0.0, "greedy_agreement": 1.0, "positions": None})
        print(f"  max |Δ logit| {acc['max_abs_logit_delta']:.3f}, greedy agreement {acc['greedy_agreement']:.1%}",
              flush=True)
    if not have_llama_cpp():
        out["llama_cpp_decode"] = {"skipped": "llama-cpp-python is not installed (pip install 'promptc[bench]')"}
        return
    llama = _LlamaDecode(weights.source, args.threads, n_tokens)
    sides = {mode: _PromptcDecode(engines[mode], n_tokens) for mode in modes}
    speeds = interleaved_rounds({**sides, "llama_cpp": llama}, max(5, repeats))
    for side in sides.values():
        side.close()
    del llama.llm
    out["llama_cpp_decode"] = {"tok_per_s": speeds["llama_cpp"], "version": llama.version, "interleaved": True,
                               "promptc_tok_per_s": {m: speeds[m] for m in modes},
                               "ratio": {m: speeds[m] / speeds["llama_cpp"] for m in modes}}
    for mode in modes:
        print(f"  llama.cpp {llama.version}: {speeds['llama_cpp']:.1f} tok/s; promptc {mode} {speeds[mode]:.1f} tok/s "
              f"(rounds interleaved) = {speeds[mode] / speeds['llama_cpp']:.2f}×", flush=True)


def streams_row(out, best, engines, rows, n_tokens, repeats) -> None:
    """8 streams vs 1 through the scheduler, rounds alternating, medians; in the fastest mode and int8."""
    out["streams"] = {}
    for mode in dict.fromkeys([best, "int4", "int4-torch", "int8"]):
        if mode not in engines:
            continue
        e = engines[mode]
        print(f"8 concurrent streams vs 1 ({mode}, through the scheduler, rounds alternating):", flush=True)
        ones, eights = [], []
        for _ in range(max(3, repeats)):
            ones.append(streams(e, 1, n_tokens * 2))
            eights.append(streams(e, 8, n_tokens * 2))
        one = statistics.median(r["tok_per_s"] for r in ones)
        eight = statistics.median(r["tok_per_s"] for r in eights)
        bare8 = serving.decode_speed(e, 8, 256, n_tokens, repeats)
        bare1 = serving.decode_speed(e, 1, 256, n_tokens, repeats)
        st = out["streams"][mode] = {"single_tok_per_s": one, "eight_tok_per_s": eight, "ratio": eight / one,
                                     "rounds": {"single": ones, "eight": eights},
                                     "bare_decode_single_tok_per_s": bare1, "bare_decode_batch8_tok_per_s": bare8,
                                     "bare_decode_ratio": bare8 / bare1}
        print(f"  1 stream {one:.1f} tok/s, 8 streams {eight:.1f} tok/s aggregate = {st['ratio']:.2f}× "
              f"(bare decode at 256 tokens of context: {st['bare_decode_ratio']:.2f}×)", flush=True)


def ttft_row(out, args, best, engines, fast, weights, workload_requests, minimum_tokens, turns) -> None:
    reqs = workload_requests(turns * 2)
    minimum = minimum_tokens(fast, reqs)
    prompts = [canonical_ids(fast, segs) for _, segs in reqs]
    print(f"multi-agent TTFT, {len(reqs)} requests, promptc vs llama-cpp-python:", flush=True)
    ttft_rows = {"requests": len(reqs), "prompt_tokens": sum(map(len, prompts)), "minimum_tokens": minimum,
                 "peer_tokens": peer_tokens(prompts)}
    sides = {f"promptc_{m}": _promptc_side(engines[m], f"ttft-{m}") for m in dict.fromkeys([best, "float32"])
             if m in engines}
    if have_llama_cpp():
        sides["llama_cpp_slot"] = _llama_side(weights.source, args.threads, False)
        sides["llama_cpp_ram_cache"] = _llama_side(weights.source, args.threads, True)
    before = {m: engines[m].tree.tenant_stats(f"ttft-{m}").computed_tokens for m in engines}
    ttft_rows.update(interleaved_ttft(sides, reqs, prompts), interleaved=True)
    for m in engines:
        if f"promptc_{m}" in ttft_rows:
            ttft_rows[f"promptc_{m}"]["computed_tokens"] = engines[m].tree.tenant_stats(f"ttft-{m}").computed_tokens \
                - before[m]
    for name in sides:
        print(f"  {name}: {ttft_rows[name]['total_ttft_s']:.2f} s (CPU {ttft_rows[name]['cpu_s']:.2f} s)", flush=True)
    if have_llama_cpp():
        import llama_cpp

        ttft_rows["llama_cpp_version"] = llama_cpp.__version__
        best_peer = min(ttft_rows["llama_cpp_slot"]["total_ttft_s"], ttft_rows["llama_cpp_ram_cache"]["total_ttft_s"])
        ttft_rows["ratio"] = best_peer / ttft_rows[f"promptc_{best}"]["total_ttft_s"]
        ttft_rows["ratio_vs_slot"] = (ttft_rows["llama_cpp_slot"]["total_ttft_s"]
                                      / ttft_rows[f"promptc_{best}"]["total_ttft_s"])
        ttft_rows["ratio_cpu"] = (ttft_rows["llama_cpp_ram_cache"]["cpu_s"] / ttft_rows[f"promptc_{best}"]["cpu_s"])
        print(f"  vs the better peer {ttft_rows['ratio']:.2f}× wall; vs RAM cache in CPU time "
              f"{ttft_rows['ratio_cpu']:.2f}×", flush=True)
    else:
        ttft_rows["llama_cpp"] = {"skipped": "llama-cpp-python is not installed"}
    del sides
    out["multi_agent_ttft"] = ttft_rows


def overhead_row(out, fast, n_tokens) -> None:
    print("per-token overhead:", flush=True)
    out["overhead"] = {"profile": decode_profile(fast), "scheduler": scheduler_overhead(fast, n_tokens)}
    p, sch = out["overhead"]["profile"], out["overhead"]["scheduler"]
    print(f"  decode step {p['step_ms']:.1f} ms; the same structure with tiny matrices "
          f"{p['same_structure_tiny_step_ms']:.1f} ms ({p['overhead_share']:.0%} of the step is Python/dispatch/"
          f"launch, {p['top_level_aten_ops_per_step']} top-level aten ops); scheduler adds "
          f"{sch['per_token_overhead_ms']:.1f} ms/token", flush=True)


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


def table(out: dict) -> str:
    """The acceptance rows as a Markdown table (the rows this run measured)."""
    best = out["fastest_mode"]
    lines = ["| row | measured | goal |", "|---|---:|---|"]
    peer = out.get("llama_cpp_decode")
    if peer and "tok_per_s" in peer:
        for mode, single in peer["promptc_tok_per_s"].items():
            acc = out["accuracy"][mode]
            lines.append(f"| single-stream decode, promptc {mode} vs llama.cpp {peer['version']} (Q4_1 GGUF) | "
                         f"{single:.1f} vs {peer['tok_per_s']:.1f} tok/s = **{peer['ratio'][mode]:.2f}×** "
                         f"(max abs Δ logit {acc['max_abs_logit_delta']:.3f}, greedy agreement "
                         f"{acc['greedy_agreement']:.1%} vs fp32) | ≥ 0.5× |")
    elif peer:
        single = out["decode_by_mode"][best]["single_tok_per_s"]
        lines.append(f"| single-stream decode, promptc {best} | {single:.1f} tok/s; llama.cpp row skipped: "
                     f"{peer['skipped']} | ≥ 0.5× |")
    for mode, s in out.get("streams", {}).items():
        lines.append(f"| 8 concurrent streams vs 1 ({mode}, scheduler, median of alternating rounds) | "
                     f"{s['eight_tok_per_s']:.1f} vs {s['single_tok_per_s']:.1f} tok/s = **{s['ratio']:.2f}×** "
                     f"(bare batched decode {s['bare_decode_ratio']:.2f}×) | ≥ 4× |")
    a = out.get("three_agents")
    if a:
        lines.append(f"| 3 agents concurrent vs serial ({best}, {a['requests']} requests) | "
                     f"{a['concurrent']['wall_s']:.1f} vs {a['serial']['wall_s']:.1f} s = **{a['speedup']:.2f}×** "
                     f"faster; prompt tokens computed {a['concurrent']['computed_tokens']} = minimum "
                     f"{a['minimum_tokens']}: {a['concurrent']['computed_tokens'] == a['minimum_tokens']} "
                     "| = minimum |")
    t = out.get("multi_agent_ttft")
    if t and "ratio" in t:
        how = "sides interleaved" if t.get("interleaved") else "sides one after another"
        lines.append(f"| multi-agent total TTFT ({t['requests']} requests, {how}), promptc {best} vs "
                     f"llama-cpp-python | {t[f'promptc_{best}']['total_ttft_s']:.2f} s vs slot "
                     f"{t['llama_cpp_slot']['total_ttft_s']:.2f} s (**{t['ratio_vs_slot']:.2f}×**) and RAM cache "
                     f"{t['llama_cpp_ram_cache']['total_ttft_s']:.2f} s; vs the better one **{t['ratio']:.2f}×** "
                     f"(in CPU time vs RAM cache: {t.get('ratio_cpu', float('nan')):.2f}×) | ≥ 5× |")
    o = out.get("overhead")
    if o:
        p, sch = o["profile"], o["scheduler"]
        lines.append(f"| per-token overhead ({best}) | decode step {p['step_ms']:.1f} ms, of which "
                     f"≈{p['same_structure_tiny_step_ms']:.1f} ms ({p['overhead_share']:.0%}) is Python/dispatch/"
                     f"launch ({p['top_level_aten_ops_per_step']} aten ops); the scheduler adds "
                     f"{sch['per_token_overhead_ms']:.1f} ms/token | — |")
    c = out.get("torch_compile")
    if c:
        if "compile_s" in c and "compiled_tok_per_s" in c:
            lines.append(f"| torch.compile(decode, dynamic=True), {c['mode']} | compile {c['compile_s']:.0f} s; "
                         f"{c['compiled_tok_per_s']:.1f} vs eager {c['eager_tok_per_s']:.1f} tok/s = "
                         f"{c['speedup']:.2f}×; max abs diff vs eager "
                         f"{'NaN' if c.get('nan_logits') else c['max_abs_diff_vs_eager']}; "
                         f"correct: {c['correct']} | — |")
        else:
            lines.append(f"| torch.compile(decode), {c['mode']} | failed: {c.get('error', '')[:120]} | — |")
    for r in out.get("hit_ttft", {}).get("rows", []):
        lines.append(f"| hit TTFT / new tokens only ({best}, prefix {r['prefix_tokens']}, "
                     f"suffix {r['suffix_tokens']}) | {r['hit_s'] * 1e3:.0f} / {r['limit_s'] * 1e3:.0f} ms = "
                     f"**{r['hit_over_limit']:.2f}** | ≤ 1.15 |")
    return "\n".join(lines)
