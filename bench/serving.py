"""Serving benchmark: decode speed per weight mode against the memory-bandwidth limit, accuracy of
the quantized modes against fp32, batched decode throughput, and the 3-agent workload sent
concurrently vs serially through the continuous-batching scheduler.

Run:  python bench/serving.py [--quick] [--modes float32,bfloat16,int8,int4] [--out bench/results/serving.json]

Prints Markdown tables and writes JSON. Every cell is a median of repeats measured in this run.

* **Limit**: decode is memory-bandwidth bound, so the physical limit of a mode is
  ``measured read bandwidth / weight bytes read per token`` (every matrix once, one embedding row).
  The bandwidth is measured here, with the same thread count, by summing a 1 GiB fp32 tensor.
* **Accuracy** (quantized modes vs the fp32 reference): on a fixed prompt set, fp32 generates a
  greedy continuation; each mode then scores prompt + that continuation in one pass (teacher
  forcing). Reported: max |Δ logit| and the share of positions whose argmax equals fp32's.
* **Decode**: single stream and B concurrent streams in one batched step (``Transformer.decode``).
* **3 agents**: the agents of examples/team (shared global segments, own agent segments), each
  sending its turns one after another; all three at once (one thread each) vs every request
  serially. Same tokens out (fp32 greedy), wall time, and prompt tokens computed vs the theoretical
  minimum (every distinct segment path computed once).
* **llama.cpp peer** (``pip install llama-cpp-python``, optional): single-stream decode of the same
  GGUF with the same thread count; the row is skipped with a note when the package is absent.
  ``scripts/build_llama_peer.sh`` builds it (and ``llama-server``) once into ``.bench/llama/``, which
  this script puts on ``sys.path`` when no installed ``llama_cpp`` is importable.
* **End to end** (``--e2e 3x64,6x128,12x256 --solo 512``): ``promptc serve`` vs ``llama-server`` (built
  by ``scripts/build_llama_peer.sh``, or ``$LLAMA_SERVER``) over loopback HTTP, each a subprocess on the
  same GGUF with the same threads; three agents (a 900-word global block A and 250-word agent blocks:
  A+B+D, A+C+E, A+B+E), each sending its turns one after another and streaming, greedy; llama-server
  runs one slot per agent (``-np 3``, ``id_slot`` pinned, ``cache_prompt``). Plus one agent writing
  ``--solo`` tokens alone (exactly that many on both sides: ``ignore_eos``). The sides alternate per row;
  skipped with a note without llama-server.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEER_DIR = REPO / ".bench" / "llama"  # scripts/build_llama_peer.sh's output
if importlib.util.find_spec("llama_cpp") is None and (PEER_DIR / "python" / "llama_cpp").is_dir():
    sys.path.insert(0, str(PEER_DIR / "python"))

import promptc  # noqa: E402
from promptc.engine import Engine, GenerationParams, SegmentIn  # noqa: E402
from promptc.engine.weights import load_weights  # noqa: E402

PROMPTS = [
    "What is the capital of France? Answer in one sentence.",
    "Write a Python function that returns the square of a number.",
    "List three colours, comma separated.",
    "Explain in two sentences why the sky is blue.",
    "Translate 'good morning' into Spanish and German.",
    "Give one tip for writing readable code.",
    "What is 12 plus 30? Show the sum.",
    "Summarize: the KV tree caches attention state per prompt segment, so agents sharing a prefix compute it once.",
]
FILLER = ("The cache keys state by segment hash so agents that share a global block compute it once while a single "
          "slot keeps only the last prompt. ")


def isolated(fn):
    """Run ``fn`` on a new thread and return its result once that thread has exited.

    torch's and llama.cpp's CPU kernels run on a GNU OpenMP thread team per calling thread, and a team
    lives as long as its thread; once a process holds more OpenMP threads than CPUs, every kernel waits
    for sleeping threads to wake (promptc.engine.scheduler). So nothing here computes on the main
    thread: a peer runs on a thread that exits after each call, and each engine (built with
    ``idle_exit_s=0``) computes on its own model thread, which exits as soon as it is idle.
    """
    box: dict = {}

    def run():
        try:
            box["out"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["err"] = exc
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "err" in box:
        raise box["err"]
    return box["out"]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def read_bandwidth(threads: int, repeats: int) -> float:
    """Bytes/s of a streaming read (sum of a 1 GiB fp32 tensor)."""
    def measure():
        x = torch.ones(1 << 28)
        x.sum()
        return x.numel() * 4 / median_time(lambda: x.sum(), repeats)
    return isolated(measure)


def prompt_ids(engine: Engine, text: str) -> list[int]:
    seg_ids, _, gen = engine.tokenize([SegmentIn.of("p", "user", text)])
    return [t for s in seg_ids for t in s] + list(gen)


def greedy_reference(engine: Engine, n_new: int) -> list[list[int]]:
    """fp32 prompt + greedy continuation ids, per prompt."""
    out = []
    for text in PROMPTS:
        ids = prompt_ids(engine, text)
        c = engine.complete("accuracy-ref", [SegmentIn.of("p", "user", text)], params=GenerationParams(max_tokens=n_new),
                            use_cache=False)
        out.append((ids, list(c.token_ids)))
    return out


def teacher_forced_logits(engine: Engine, ids: list[int], n_prompt: int) -> torch.Tensor:
    """Logits at every position of the continuation (call on the engine's model thread)."""
    positions = list(range(n_prompt - 1, len(ids)))
    return engine.model.forward(torch.tensor(ids), engine.model.new_cache(len(ids)), 0, positions=positions)


def accuracy(engine: Engine, ref_engine: Engine, reference) -> dict:
    refs = ref_engine.run_on_model_thread(
        lambda: [teacher_forced_logits(ref_engine, p + c, len(p)) for p, c in reference])

    def compare() -> dict:
        max_delta, agree, total = 0.0, 0, 0
        for (prompt, cont), ref in zip(reference, refs):
            got = teacher_forced_logits(engine, prompt + cont, len(prompt))
            max_delta = max(max_delta, (got - ref).abs().max().item())
            agree += int((got.argmax(-1) == ref.argmax(-1)).sum())
            total += ref.shape[0]
        return {"max_abs_logit_delta": max_delta, "greedy_agreement": agree / total, "positions": total}
    return engine.run_on_model_thread(compare)


def decode_speed(engine: Engine, batch: int, context: int, n_tokens: int, repeats: int) -> float:
    """Aggregate decode tokens/s of ``batch`` streams at ``context`` tokens (one batched step per token),
    with pooled KV buffers as the scheduler uses them; measured on the engine's model thread."""
    text = FILLER * (context // 20 + 1)
    ids = engine.tokenizer.encode(text)[:context]
    model = engine.model

    def measure() -> float:
        caches = [engine.pool.acquire(context + n_tokens + 1) for _ in range(batch)]
        try:
            for c in caches:
                model.forward(torch.tensor(ids), c, 0)

            def run():
                toks = [int(i) for i in ids[-batch:]] if batch <= len(ids) else [5] * batch
                for s in range(n_tokens):
                    toks = model.decode(toks, caches, [context + s] * batch).argmax(-1).tolist()

            model.decode([5] * batch, caches, [context] * batch)  # warm-up
            return batch * n_tokens / median_time(run, repeats)
        finally:
            for c in caches:
                engine.pool.release(c)
    return engine.run_on_model_thread(measure)


def workload(turns: int) -> list[tuple[str, list[SegmentIn]]]:
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


def minimum_tokens(engine: Engine, reqs) -> int:
    """Prompt tokens to compute if every distinct token prefix of the requests' segments is computed
    once (the size of their token trie), plus each request's generation prompt: what the KV tree
    computes (whole-segment hits, and the tokens a new segment shares with a cached sibling)."""
    trie: dict = {}
    minimum = 0
    for _, segs in reqs:
        seg_ids, _, gen = engine.tokenize(segs)
        node = trie
        for t in (t for ids in seg_ids for t in ids):
            if t not in node:
                node[t] = {}
                minimum += 1
            node = node[t]
        minimum += len(gen)
    return minimum


def three_agents(engine: Engine, turns: int, max_tokens: int) -> dict:
    reqs = workload(turns)
    params = GenerationParams(max_tokens=max_tokens)
    res = {"requests": len(reqs), "max_tokens": max_tokens, "minimum_tokens": minimum_tokens(engine, reqs)}

    def computed(tenant):
        return engine.tree.tenant_stats(tenant).computed_tokens

    t0 = time.perf_counter()
    serial = [engine.complete("agents-serial", segs, params=params) for _, segs in reqs]
    res["serial"] = {"wall_s": time.perf_counter() - t0, "computed_tokens": computed("agents-serial"),
                     "completion_tokens": sum(len(c.token_ids) for c in serial)}

    results: dict[int, object] = {}

    def agent(name):
        for i, (n, segs) in enumerate(reqs):
            if n == name:
                results[i] = engine.complete("agents-concurrent", segs, params=params)

    max_batch_before = engine.scheduler.stats.max_batch
    threads = [threading.Thread(target=agent, args=(n,)) for n in ("backend", "frontend", "docs")]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    res["concurrent"] = {"wall_s": time.perf_counter() - t0, "computed_tokens": computed("agents-concurrent"),
                         "completion_tokens": sum(len(results[i].token_ids) for i in range(len(reqs))),
                         "max_batch": engine.scheduler.stats.max_batch, "max_batch_before": max_batch_before}
    res["same_outputs"] = all(results[i].token_ids == serial[i].token_ids for i in range(len(reqs)))
    res["speedup"] = res["serial"]["wall_s"] / res["concurrent"]["wall_s"]
    return res


def llama_cpp_decode(path: str, threads: int, context: int, n_tokens: int, repeats: int) -> dict | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    import llama_cpp

    def measure() -> dict:
        llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads, n_batch=512, verbose=False)
        ids = llm.tokenize((FILLER * (context // 20 + 1)).encode(), add_bos=False)[:context]

        def run():
            llm.reset()
            llm.eval(ids)
            t = time.perf_counter()
            for _ in range(n_tokens):  # a fixed next token: the decode cost alone, as in decode_speed
                llm.eval([ids[-1]])
            return time.perf_counter() - t

        times = [run() for _ in range(repeats)]
        return {"tok_per_s": n_tokens / statistics.median(times), "version": llama_cpp.__version__}
    return isolated(measure)


# -- end to end: promptc serve vs llama-server, three agents streaming ----------------------------------

WORDS = ("cache segment agent prompt token model server request answer block global shared tree slot decode "
         "prefill weight layer batch stream thread memory budget tenant review code file test build deploy "
         "schema field value error retry queue latency user policy rule tool search index commit branch").split()


def words(seed: int, n: int) -> str:
    rnd = random.Random(seed)  # fixed text: the same prompts on both sides and in every run
    return " ".join(rnd.choice(WORDS) for _ in range(n)) + "."


def agent_blocks() -> dict[str, list[tuple[str, str]]]:
    """The issue's shape: global block A (900 words), agent blocks B-E (250 words); agents A+B+D, A+C+E, A+B+E."""
    blocks = {"A": words(1, 900), **{k: words(i + 2, 250) for i, k in enumerate("BCDE")}}
    return {name: [(k, blocks[k]) for k in keys] for name, keys in
            (("agent1", "ABD"), ("agent2", "ACE"), ("agent3", "ABE"))}


def question(turn: int) -> str:
    return f"Turn {turn}: count from 1 to 1000, one number per line, nothing else."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {path}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"no answer on {path} in {timeout_s} s")


def sse_post(port: int, path: str, body: dict):
    """POST ``body`` and yield each ``data:`` event of the streamed answer, decoded."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    c.request("POST", path, json.dumps(body), {"content-type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{path}: HTTP {r.status}: {r.read()[:300]!r}")
    for line in r:
        line = line.strip()
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
            yield json.loads(line[5:])
    c.close()


def promptc_turn(port: int, agent: str, blocks, turn: int, n_new: int, fixed: bool = False) -> tuple[float, int]:
    """(TTFT s, completion tokens) of one streamed request to promptc serve; ``fixed``: exactly ``n_new``
    tokens (vLLM's ``ignore_eos``, which promptc serve takes)."""
    segs = [SegmentIn.of(f"{agent}.{k}" if k != "A" else "global", "system", text) for k, text in blocks]
    body = {"segments": [{"id": s.id, "hash": s.hash, "role": s.role, "content": s.content} for s in segs],
            "messages": [{"role": "user", "content": question(turn)}], "max_tokens": n_new, "temperature": 0,
            "stream": True, "stream_options": {"include_usage": True}, **({"ignore_eos": True} if fixed else {})}
    t0, ttft, tokens = time.perf_counter(), None, 0
    for ev in sse_post(port, "/v1/chat/completions", body):
        if ttft is None and ev.get("choices") and ev["choices"][0]["delta"].get("content"):
            ttft = time.perf_counter() - t0
        if ev.get("usage"):
            tokens = ev["usage"]["completion_tokens"]
        if "error" in ev:
            raise RuntimeError(f"promptc: {ev['error']}")
    return (ttft if ttft is not None else time.perf_counter() - t0), tokens


def chatml(blocks, turn: int) -> str:
    """The same conversation in SmolLM2's ChatML template, one system message per block (as promptc renders
    segments), for llama-server's /completion (which tokenizes the special tokens)."""
    msgs = [("system", text) for _, text in blocks] + [("user", question(turn))]
    return "".join(f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in msgs) + "<|im_start|>assistant\n"


def llama_turn(port: int, slot: int, blocks, turn: int, n_new: int, fixed: bool = False) -> tuple[float, int]:
    """(TTFT s, tokens predicted) of one streamed /completion; ``fixed``: exactly ``n_new`` (its ``ignore_eos``)."""
    body = {"prompt": chatml(blocks, turn), "n_predict": n_new, "temperature": 0, "stream": True,
            "id_slot": slot, "cache_prompt": True, **({"ignore_eos": True} if fixed else {})}
    t0, ttft, tokens = time.perf_counter(), None, 0
    for ev in sse_post(port, "/completion", body):
        if ttft is None and ev.get("content"):
            ttft = time.perf_counter() - t0
        if ev.get("stop"):
            tokens = ev.get("tokens_predicted", ev.get("timings", {}).get("predicted_n", 0))
    return (ttft if ttft is not None else time.perf_counter() - t0), tokens


def run_agents(turn_fn, agents: dict, turns: int, n_new: int, turn0: int) -> dict:
    """Every agent on its own thread sending ``turns`` turns one after another; wall time, TTFTs, tokens."""
    ttfts: list[float] = []
    tokens = [0]
    errors: list[BaseException] = []
    lock = threading.Lock()

    def agent(i: int, blocks) -> None:
        try:
            for t in range(turns):
                ttft, n = turn_fn(i, blocks, turn0 + t, n_new)
                with lock:
                    ttfts.append(ttft)
                    tokens[0] += n
        except BaseException as exc:  # re-raised below
            errors.append(exc)
    threads = [threading.Thread(target=agent, args=(i, b)) for i, b in enumerate(agents.values())]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "mean_ttft_s": statistics.mean(ttfts), "tokens": tokens[0],
            "tok_per_s": tokens[0] / wall}


class Side:
    """One server subprocess (started in ``__enter__``) and how to send it one agent's turn."""

    def __init__(self, name: str, cmd: list[str], health: str, turn, env: dict | None = None):
        self.name, self.cmd, self.health, self.turn, self.env = name, cmd, health, turn, env
        self.port = free_port()

    def __enter__(self):
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env={**os.environ, **(self.env or {})})
        wait_http(self.port, self.health, self.proc)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def agents(self, agents: dict, turns: int, n_new: int, turn0: int, fixed: bool = False) -> dict:
        return run_agents(lambda i, b, t, n: self.turn(self.port, i, b, t, n, fixed), agents, turns, n_new, turn0)


def llama_server_path() -> str | None:
    for p in (os.environ.get("LLAMA_SERVER"), PEER_DIR / "bin" / "llama-server", shutil.which("llama-server")):
        if p and Path(p).is_file() and os.access(p, os.X_OK):
            return str(p)
    return None


def end_to_end(gguf: str, threads: int, shapes: list[tuple[int, int]], solo: int, dtype: str | None) -> dict:
    server = llama_server_path()
    if server is None:
        return {"skipped": "llama-server not built: run scripts/build_llama_peer.sh (or set LLAMA_SERVER)"}
    agents = agent_blocks()
    ctx = 4096  # per slot: the longest prompt (~1,900 tokens) plus 512 new tokens fits
    promptc_cmd = [sys.executable, "-m", "promptc", "serve", "--port", "{port}", "--model", gguf,
                   "--max-tokens-limit", "4096"] + (["--dtype", dtype] if dtype else [])
    llama_cmd = [server, "-m", gguf, "--port", "{port}", "--host", "127.0.0.1", "-t", str(threads), "-tb",
                 str(threads), "-np", "3", "-c", str(3 * ctx), "--log-disable"]
    env = {"OMP_NUM_THREADS": str(threads)}
    out: dict = {"llama_server": server, "threads": threads, "promptc_dtype": dtype or "default", "rows": []}
    turn0 = 0
    for turns, n_new in shapes + ([(1, solo)] if solo else []):
        alone = (turns, n_new) == (1, solo)
        use = {"agent1": agents["agent1"]} if alone else agents
        row: dict = {"turns": turns, "new_tokens": n_new, "agents": len(use)}
        # each side starts cold (a fresh server) per row; sides alternate which goes first
        order = [("promptc", promptc_cmd, "/v1/models", promptc_turn),
                 ("llama_server", llama_cmd, "/health", llama_turn)]
        if len(out["rows"]) % 2:
            order.reverse()
        for name, cmd, health, fn in order:
            with Side(name, cmd, health, fn, env) as side:
                if name == "promptc":  # which int4 kernel the server runs on (its /health says)
                    with urllib.request.urlopen(f"http://127.0.0.1:{side.port}/health", timeout=30) as r:
                        row["promptc_kernel"] = out["promptc_kernel"] = json.loads(r.read()).get("kernel")
                # the agent alone writes exactly n_new tokens on both sides (ignore_eos): a greedy answer that
                # ends early on one side (the two quantizations round differently) would compare unequal work
                row[name] = side.agents(use, turns, n_new, turn0, fixed=alone)
        row["ratio"] = row["llama_server"]["wall_s"] / row["promptc"]["wall_s"]
        row["loadavg"] = os.getloadavg()
        out["rows"].append(row)
        turn0 += turns
        p, q = row["promptc"], row["llama_server"]
        print(f"  {len(use)} agent(s) × {turns} turns × {n_new} new: promptc [{row.get('promptc_kernel')}] "
              f"{p['wall_s']:.1f} s "
              f"({p['tokens']} tokens, mean TTFT {p['mean_ttft_s']:.2f} s), llama-server {q['wall_s']:.1f} s "
              f"({q['tokens']} tokens, mean TTFT {q['mean_ttft_s']:.2f} s) = {row['ratio']:.2f}× "
              f"(load {row['loadavg'][0]:.1f})", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats and tokens, for a smoke run")
    ap.add_argument("--modes", default="float32,bfloat16,int8,int4")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "serving.json"))
    ap.add_argument("--e2e", default=None, metavar="TURNSxTOKENS,...",
                    help="only the end-to-end row vs llama-server, e.g. 3x64,6x128,12x256")
    ap.add_argument("--solo", type=int, default=512, help="with --e2e: one agent writing this many tokens alone")
    ap.add_argument("--dtype", default=None, help="with --e2e: promptc serve's --dtype [default: its default]")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.e2e:
        from promptc.core.locate import default_model_path
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.e2e.split(",")]
        print("end to end, promptc serve vs llama-server (3 agents streaming; sides alternate per row):", flush=True)
        res = end_to_end(str(default_model_path()), args.threads, shapes, args.solo, args.dtype)
        res["loadavg_end"] = os.getloadavg()
        if "skipped" in res:
            print(f"  skipped: {res['skipped']}")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"end_to_end": res}, indent=2) + "\n")
        print(f"wrote {args.out}")
        return
    modes = args.modes.split(",")
    repeats = 3 if args.quick else 5
    n_tokens = 16 if args.quick else 32
    context = 256
    weights = isolated(load_weights)
    bw = read_bandwidth(args.threads, repeats)
    print(f"read bandwidth: {bw / 1e9:.1f} GB/s ({args.threads} threads)", flush=True)
    out = {"machine": {"platform": platform.platform(), "threads": args.threads, "torch": torch.__version__},
           "model": weights.name, "read_bandwidth_Bps": bw, "context": context, "modes": {}}
    ref = Engine(weights=weights, budget_bytes=1 << 30, idle_exit_s=0)
    reference = greedy_reference(ref, 16 if args.quick else 32)
    fastest = None
    for mode in modes:
        engine = ref if mode == "float32" else Engine(weights=weights, dtype=mode, budget_bytes=1 << 30,
                                                             idle_exit_s=0)
        row = {"weight_bytes_per_token": engine.model.weight_bytes_per_token()}
        row["limit_tok_per_s"] = bw / row["weight_bytes_per_token"]
        row["single_tok_per_s"] = decode_speed(engine, 1, context, n_tokens, repeats)
        row["batch3_tok_per_s"] = decode_speed(engine, 3, context, n_tokens, repeats)
        row["batch8_tok_per_s"] = decode_speed(engine, 8, context, n_tokens, repeats)
        row["batch8_over_single"] = row["batch8_tok_per_s"] / row["single_tok_per_s"]
        row["single_over_limit"] = row["single_tok_per_s"] / row["limit_tok_per_s"]
        row.update(accuracy(engine, ref, reference) if mode != "float32" else
                   {"max_abs_logit_delta": 0.0, "greedy_agreement": 1.0, "positions": None})
        out["modes"][mode] = row
        print(f"  {mode}: {row['single_tok_per_s']:.1f} tok/s single, {row['batch8_tok_per_s']:.1f} aggregate x8, "
              f"limit {row['limit_tok_per_s']:.1f}; max|Δ| {row['max_abs_logit_delta']:.3f}, "
              f"agreement {row['greedy_agreement']:.1%}", flush=True)
        if fastest is None or row["single_tok_per_s"] > out["modes"][fastest]["single_tok_per_s"]:
            fastest = mode
        if engine is not ref:
            engine.close()
            del engine
    out["fastest_mode"] = fastest
    print("3 agents, concurrent vs serial (fp32):", flush=True)
    out["three_agents"] = three_agents(ref, 2 if args.quick else 4, 16 if args.quick else 32)
    peer = llama_cpp_decode(weights.source, args.threads, context, n_tokens, repeats)
    out["llama_cpp"] = peer or {"skipped": "llama-cpp-python is not installed (pip install llama-cpp-python)"}
    ref.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")

    print(f"\nDecode at {context} tokens of context, {args.threads} threads; limit = {bw / 1e9:.1f} GB/s measured read "
          "bandwidth / weight bytes per token.\n")
    print("| mode | MB/token | limit tok/s | 1 stream tok/s | vs limit | 3 streams (agg.) | 8 streams (agg.) "
          "| 8 vs 1 | max abs Δ logit vs fp32 | greedy agreement |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, r in out["modes"].items():
        print(f"| {mode} | {r['weight_bytes_per_token'] / 1e6:.0f} | {r['limit_tok_per_s']:.1f} | "
              f"{r['single_tok_per_s']:.1f} | {r['single_over_limit']:.2f} | {r['batch3_tok_per_s']:.1f} | "
              f"{r['batch8_tok_per_s']:.1f} | {r['batch8_over_single']:.1f}× | {r['max_abs_logit_delta']:.3f} | "
              f"{r['greedy_agreement']:.1%} |")
    if peer:
        f = out["modes"][fastest]["single_tok_per_s"]
        print(f"\nllama.cpp {peer['version']}: {peer['tok_per_s']:.1f} tok/s single stream; fastest promptc mode "
              f"({fastest}) {f:.1f} tok/s = {f / peer['tok_per_s']:.2f}× llama.cpp")
    else:
        print(f"\nllama.cpp peer skipped: {out['llama_cpp']['skipped']}")
    a = out["three_agents"]
    print(f"\n3 agents × {a['requests'] // 3} turns, {a['max_tokens']} new tokens each (fp32):\n")
    print("| sent | wall time | prompt tokens computed | minimum | completion tokens |")
    print("|---|---:|---:|---:|---:|")
    for key in ("serial", "concurrent"):
        r = a[key]
        print(f"| {key} | {r['wall_s']:.2f} s | {r['computed_tokens']} | {a['minimum_tokens']} | "
              f"{r['completion_tokens']} |")
    print(f"\nconcurrent speedup {a['speedup']:.2f}×, identical outputs: {a['same_outputs']}, "
          f"max batch {a['concurrent']['max_batch']}")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
