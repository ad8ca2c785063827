"""Continuous batching (fp32, exact): batched = unbatched, shared segments computed once, chunked
prefill, and a join/leave stress test with random arrivals and cancellations."""

from __future__ import annotations

import random
import threading

import pytest
import torch

from promptc.engine import Engine, GenerationParams, SegmentIn
from promptc.engine.model import KVCache

from .tiny import tiny_weights

SYSTEM = SegmentIn.of("sys", "system", "You are a helpful assistant. Answer briefly.")
QUESTIONS = [SegmentIn.of(f"q{i}", "user", q) for i, q in enumerate([
    "List three colours, comma separated.", "What is the capital of Italy?", "Write a haiku about the sea.",
    "Name two prime numbers."])]


@pytest.fixture(scope="module")
def fresh(smollm_weights):
    """An fp32 engine of its own, so scheduler counters start at zero."""
    eng = Engine(weights=smollm_weights, budget_bytes=512 << 20)
    yield eng
    eng.close()


def run_together(engine: Engine, requests) -> list:
    """Submit every request before any is admitted, so they prefill and decode as one batch."""
    with engine.scheduler.hold():
        gens = [engine.submit(tenant, segs, params=params) for tenant, segs, params in requests]
    return [g.result() for g in gens]


def test_batched_decode_logits_match_single_decode(smollm_weights, fresh):
    model = fresh.model
    prompts = [fresh.tokenize([SYSTEM, q])[0] for q in QUESTIONS[:3]]
    caches, pos = [], []
    for segs in prompts:
        ids = [t for s in segs for t in s]
        c = KVCache.allocate(smollm_weights.config, len(ids) + 1, torch.float32, model.device)
        model.forward(torch.tensor(ids), c, 0)
        caches.append(c)
        pos.append(len(ids))
    batched = model.decode([11, 22, 33], caches, pos)
    for i, tok in enumerate([11, 22, 33]):
        single = model.decode([tok], [caches[i]], [pos[i]])[0]
        assert (batched[i] - single).abs().max().item() <= 1e-4
        assert int(batched[i].argmax()) == int(single.argmax())


def test_batched_and_unbatched_greedy_outputs_are_identical(fresh):
    params = GenerationParams(max_tokens=24)
    solo = [fresh.complete("solo", [SYSTEM, q], params=params) for q in QUESTIONS[:3]]
    before = fresh.scheduler.stats.batched_tokens
    together = run_together(fresh, [("together", [SYSTEM, q], params) for q in QUESTIONS[:3]])
    assert fresh.scheduler.stats.max_batch >= 3, "the three requests must have shared decode steps"
    assert fresh.scheduler.stats.batched_tokens > before
    for a, b in zip(solo, together):
        assert a.token_ids == b.token_ids and a.text == b.text and a.finish_reason == b.finish_reason
    assert all(n.refs == 0 for n in fresh.tree.nodes())


def test_a_missing_shared_segment_is_computed_once(fresh):
    shared = SegmentIn.of("shared", "system", "Shared context for both agents: the project is a KV-tree engine. " * 4)
    params = GenerationParams(max_tokens=4)
    waits = fresh.scheduler.stats.waits_on_inflight
    a, b = run_together(fresh, [("dedupe", [shared, QUESTIONS[0]], params), ("dedupe", [shared, QUESTIONS[1]], params)])
    assert [s.status for s in a.statuses] == ["computed", "computed"]
    assert [s.status for s in b.statuses] == ["hit", "computed"]
    # b's question reuses the K/V of the tokens it shares with a's question (at least "<|im_start|>user\n")
    qa, qb = (fresh.tokenize([shared, q])[0][1] for q in QUESTIONS[:2])
    common = next(i for i, (x, y) in enumerate(zip(qa, qb)) if x != y)
    assert common >= 3
    assert b.cached_tokens == a.statuses[0].tokens + common
    stats = fresh.tree.tenant_stats("dedupe")
    assert stats.computed_tokens == a.prompt_tokens + b.prompt_tokens - a.statuses[0].tokens - common
    assert fresh.scheduler.stats.waits_on_inflight > waits


def test_chunked_prefill_matches_and_interleaves_with_decoding(smollm_weights, fresh):
    chunked = Engine(weights=smollm_weights, budget_bytes=256 << 20, chunk_tokens=16)
    try:
        long_q = SegmentIn.of("long", "user", "Summarize: " + "the tree caches KV per segment hash. " * 12)
        params = GenerationParams(max_tokens=12)
        expected = [fresh.complete("unchunked", [SYSTEM, q], params=params) for q in (QUESTIONS[0], long_q)]
        got = run_together(chunked, [("chunked", [SYSTEM, q], params) for q in (QUESTIONS[0], long_q)])
        assert [c.token_ids for c in got] == [c.token_ids for c in expected]
        assert chunked.scheduler.stats.prefill_chunks > 4  # the long prompt took several steps
        p = chunked.prefill("chunked-logits", [SYSTEM, long_q], use_cache=False)
        cold = fresh.cold_logits([SYSTEM, long_q])
        chunked.release(p)
        assert (p.logits - cold).abs().max().item() <= 1e-4
    finally:
        chunked.close()


def test_join_leave_stress_no_leaks_budget_held_outputs_exact(smollm_weights):
    engine = Engine(weights=tiny_weights(smollm_weights), budget_bytes=300_000, max_batch=6, chunk_tokens=32)
    rng = random.Random(99)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    pool = [SegmentIn.of(f"s{i}", "system", " ".join(rng.choices(words, k=rng.randint(4, 30)))) for i in range(8)]
    reqs = [(rng.choice(["t1", "t2"]), rng.sample(pool, rng.randint(1, 3)), GenerationParams(max_tokens=rng.randint(1, 20)))
            for _ in range(40)]
    expected = {}
    for i, (tenant, segs, params) in enumerate(reqs):
        expected[i] = engine.complete(tenant, segs, params=params).token_ids
    tree, sched = engine.tree, engine.scheduler
    violations: list[str] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if tree.bytes_used > tree.budget_bytes:
                violations.append(f"budget exceeded: {tree.bytes_used}")
            stop.wait(0.001)

    results: dict[int, list[int]] = {}
    cancelled = []

    def client(idx: list[int], seed: int):
        r = random.Random(seed)
        for i in idx:
            tenant, segs, params = reqs[i]
            if r.random() < 0.3:  # disconnect after a few events
                it = engine.stream(tenant, segs, params=params)
                for _ in range(r.randint(0, 2)):
                    if next(it, None) is None:
                        break
                it.close()
                cancelled.append(i)
            else:
                results[i] = engine.complete(tenant, segs, params=params).token_ids
            stop.wait(r.random() * 0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    order = list(range(len(reqs)))
    rng.shuffle(order)
    threads = [threading.Thread(target=client, args=(order[k::4], k)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert not violations
    assert sched.active() == 0
    assert all(n.refs == 0 for n in tree.nodes()), "a reference leaked"
    assert tree.bytes_used == tree.stored_bytes() <= tree.budget_bytes
    assert sched.stats.max_batch >= 2 and cancelled and results
    for i, ids in results.items():
        assert ids == expected[i], f"request {i}: batched output differs from its solo run"
    engine.close()
