"""The scheduler decides, the engine executes: a step is a plan of plain data that ``Engine.step`` runs.

The scheduler, the prefill jobs and the metrics reach an engine only through
``promptc.engine.steps.EngineCore`` (no import of the runner, no touching the model or its lock), and
``Engine.step`` computes what a plan says: the same logits as calling the model directly, a failing
chunk failing alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import promptc.engine
from promptc.engine import Engine, GenerationParams, SegmentIn
from promptc.engine.steps import DecodeBatch, PrefillChunk, StepPlan

from .tiny import tiny_weights

ENGINE_DIR = Path(promptc.engine.__file__).parent


@pytest.mark.parametrize("module", ["scheduler.py", "prefill.py", "metrics.py"])
def test_scheduler_prefill_and_metrics_neither_import_the_runner_nor_touch_the_model(module):
    tree = ast.parse((ENGINE_DIR / module).read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "promptc.engine.runner" not in imported  # not even for annotations: no type-only cycle
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not attrs & {"_compute", "model"}, f"{module} reaches into the engine: {attrs & {'_compute', 'model'}}"


@pytest.fixture(scope="module")
def tiny_engine(smollm_weights):
    e = Engine(weights=tiny_weights(smollm_weights, dim=64, layers=2, heads=4, kv_heads=2, seed=5),
               budget_bytes=1 << 24, idle_exit_s=0.2)
    yield e
    e.close()


def test_engine_step_runs_a_plan_like_the_model_does(tiny_engine):
    e, m = tiny_engine, tiny_engine.model
    ids = list(range(40, 71))
    a, b = e.pool.acquire(64), e.pool.acquire(64)
    try:
        res = e.step(StepPlan(chunks=(PrefillChunk(tuple(ids[:20]), a, 0, (19,)),
                                      PrefillChunk(tuple(ids[:31]), b, 0, (4, 30), logits=True))))
        assert [r.error for r in res.chunks] == [None, None]
        cold = e.run_on_model_thread(lambda: m.forward(torch.tensor(ids), m.new_cache(64), 0, all_logits=True))
        assert res.chunks[0].logits is None and res.chunks[1].hidden.shape == (2, m.cfg.dim)
        assert (res.chunks[1].logits - cold[30]).abs().max().item() <= 1e-4
        head = e.run_on_model_thread(lambda: m.logits(res.chunks[0].hidden))
        assert (head[0] - cold[19]).abs().max().item() <= 1e-4
        # the decode batch: row a continues at 20 with ids[20], row b at 31 with a new token
        out = e.step(StepPlan(decode=DecodeBatch((ids[20], 7), (a, b), (20, 31)))).logits
        assert (out[0] - cold[20]).abs().max().item() <= 1e-4
        ref = e.run_on_model_thread(lambda: m.forward(torch.tensor(ids + [7]), m.new_cache(64), 0))
        assert (out[1] - ref).abs().max().item() <= 1e-4
    finally:
        e.pool.release(a)
        e.pool.release(b)


def test_a_failing_chunk_fails_alone(tiny_engine):
    e = tiny_engine
    small, ok = e.pool.acquire(4), e.pool.acquire(64)
    try:
        too_long = tuple(range(small.capacity + 1))
        res = e.step(StepPlan(chunks=(PrefillChunk(too_long, small, 0, ()), PrefillChunk((1, 2, 3), ok, 0, (2,)))))
        assert isinstance(res.chunks[0].error, ValueError) and "capacity" in str(res.chunks[0].error)
        assert res.chunks[1].error is None and res.chunks[1].hidden.shape[0] == 1
    finally:
        e.pool.release(small)
        e.pool.release(ok)


def test_requests_through_the_scheduler_still_match_the_blocking_path(tiny_engine):
    """End to end over the split: a streamed request's first-token logits equal the blocking prefill's."""
    segs = [SegmentIn.of("sys", "system", "You are terse."), SegmentIn.of("q", "user", "Count to five.")]
    out = tiny_engine.complete("plan", segs, params=GenerationParams(max_tokens=6))
    again = tiny_engine.complete("plan", segs, params=GenerationParams(max_tokens=6))
    assert again.cached_tokens > 0 and again.token_ids == out.token_ids
    p = tiny_engine.prefill("plan-ref", segs, use_cache=False)
    try:
        first = int(p.logits.argmax())
        assert first == out.token_ids[0] if out.token_ids else first in tiny_engine.weights.eos_token_ids
    finally:
        tiny_engine.release(p)
