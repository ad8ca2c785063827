"""The engine's model thread (the scheduler's): every torch computation of the engine runs on it —
building the model, loading weights, decode steps, ``prefill`` and ``cold_logits`` — and
``run_on_model_thread`` runs any other work there. It leaves after ``idle_exit_s`` without work and
the next request or call starts a new one."""

from __future__ import annotations

import threading

import pytest
import torch

from promptc.engine import Engine, GenerationParams, SegmentIn
from promptc.engine import runner

from .tiny import tiny_weights

SEGS = [SegmentIn.of("sys", "system", "You are a helpful assistant."),
        SegmentIn.of("q", "user", "Name three rivers of Europe.")]
PARAMS = GenerationParams(max_tokens=6)


@pytest.fixture
def tiny_engine(smollm_weights):
    """A tiny fp32 engine whose model thread stays up for the whole test (it is closed at the end)."""
    eng = Engine(weights=tiny_weights(smollm_weights, seed=4), budget_bytes=32 << 20, idle_exit_s=60)
    yield eng
    eng.close()


def record_threads(obj, name: str) -> list[threading.Thread]:
    """Wrap ``obj.name`` (an instance attribute from now on) to record the thread of every call."""
    seen: list[threading.Thread] = []
    inner = getattr(obj, name)

    def wrapper(*args, **kwargs):
        seen.append(threading.current_thread())
        return inner(*args, **kwargs)
    setattr(obj, name, wrapper)
    return seen


def on_a_helper(fn, timeout: float = 60.0):
    """Run ``fn`` on a helper thread; (finished, result) — a deadlock shows up as not finished."""
    box: list = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(timeout)
    return (not t.is_alive()), (box[0] if box else None)


def test_run_on_model_thread_runs_on_the_scheduler_thread_returns_and_raises(tiny_engine):
    eng = tiny_engine
    t = eng.run_on_model_thread(threading.current_thread)
    assert t is not threading.current_thread() and t.name == "promptc-model" and t.is_alive()
    assert t is eng.scheduler._thread
    assert eng.run_on_model_thread(lambda: 6 * 7) == 42

    class Boom(Exception):
        pass
    err = Boom("raised on the model thread")
    with pytest.raises(Boom) as caught:
        eng.run_on_model_thread(lambda: (_ for _ in ()).throw(err))
    assert caught.value is err
    # the thread survives the error and still computes requests
    decodes = record_threads(eng.model, "decode")
    out = eng.complete("thread", SEGS, params=PARAMS)
    assert out.token_ids and decodes and set(decodes) == {t}
    assert eng.run_on_model_thread(threading.current_thread) is t


def test_calls_run_between_steps_while_requests_decode(tiny_engine):
    eng = tiny_engine
    solo = eng.complete("between", SEGS, params=GenerationParams(max_tokens=40), use_cache=False)
    gen = eng.submit("between", SEGS, params=GenerationParams(max_tokens=40), use_cache=False)
    seen = [eng.run_on_model_thread(lambda: (threading.current_thread(), eng.scheduler.counts())) for _ in range(5)]
    assert {s[0] for s in seen} == {eng.scheduler._thread}
    assert gen.result().token_ids == solo.token_ids
    assert eng.pool.in_use == 0


def test_a_nested_call_runs_at_once(tiny_engine):
    eng = tiny_engine

    def outer():
        inner = eng.run_on_model_thread(threading.current_thread)
        return threading.current_thread(), inner, eng.run_on_model_thread(lambda: 5)

    finished, result = on_a_helper(lambda: eng.run_on_model_thread(outer), timeout=30)
    if not finished:  # unblock the model thread so the test session can end, then fail
        with eng.scheduler._cond:
            for _, fut in eng.scheduler._calls:
                fut.set_exception(RuntimeError("deadlocked"))
            eng.scheduler._calls = []
    assert finished, "a call from inside a call on the model thread deadlocked"
    outer_thread, inner_thread, five = result
    assert outer_thread is inner_thread is eng.scheduler._thread and five == 5


def test_model_thread_exits_when_idle_and_the_next_request_starts_a_new_one(smollm_weights):
    eng = Engine(weights=tiny_weights(smollm_weights, seed=4), budget_bytes=32 << 20, idle_exit_s=0.05)
    try:
        first = eng.complete("idle", SEGS, params=PARAMS)
        cold = eng.cold_logits(SEGS)
        t1 = eng.run_on_model_thread(threading.current_thread)
        t1.join(timeout=30)
        assert not t1.is_alive(), "the model thread did not leave when idle"
        assert eng.scheduler._thread is None
        decodes = record_threads(eng.model, "decode")
        again = eng.complete("idle", SEGS, params=PARAMS)  # a cache hit, computed on a new thread
        fresh = eng.complete("idle", SEGS, params=PARAMS, use_cache=False)
        assert again.cached_tokens > 0 and fresh.cached_tokens == 0
        for out in (again, fresh):
            assert (out.token_ids, out.text, out.finish_reason) == (first.token_ids, first.text, first.finish_reason)
        assert decodes and all(t is not t1 and t.name == "promptc-model" for t in decodes)
        t2 = decodes[-1]
        t2.join(timeout=30)
        assert not t2.is_alive()
        assert torch.equal(eng.cold_logits(SEGS), cold)  # a call also starts a new thread
        assert eng.pool.in_use == 0
    finally:
        eng.close()


def test_engine_loads_weights_and_builds_the_model_on_the_model_thread(smollm_weights, monkeypatch):
    weights = tiny_weights(smollm_weights, seed=4)
    loaded: list[threading.Thread] = []
    built: list[threading.Thread] = []

    def fake_load(path):
        loaded.append(threading.current_thread())
        return weights

    class Recorded(runner.Transformer):
        def __init__(self, *args, **kwargs):
            built.append(threading.current_thread())
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(runner, "load_weights", fake_load)
    monkeypatch.setattr(runner, "Transformer", Recorded)
    eng = Engine(None, budget_bytes=32 << 20, idle_exit_s=60)
    try:
        assert eng.weights is weights and isinstance(eng.model, Recorded)
        model_thread = eng.run_on_model_thread(threading.current_thread)
        assert loaded == [model_thread] and built == [model_thread]
        assert model_thread is not threading.current_thread()
    finally:
        eng.close()


def test_prefill_and_cold_logits_run_on_the_model_thread_and_match_a_direct_forward(engine):
    """The real fp32 model: ``prefill`` (cold and from the tree) and ``cold_logits`` give the logits
    of one forward pass over the canonical tokens, computed on the model thread."""
    model = engine.model
    segs = [SegmentIn.of("sys", "system", "You are a helpful assistant."),
            SegmentIn.of("mt-q", "user", "Which planet is the largest?")]
    seg_ids, msg_ids, gen = engine.tokenize(segs)
    ids = [t for chunk in seg_ids + msg_ids for t in chunk] + list(gen)
    direct = model.forward(torch.tensor(ids), model.new_cache(len(ids)), 0)
    in_use = engine.pool.in_use
    threads = record_threads(model, "forward")
    try:
        cold = engine.cold_logits(segs)
        p = engine.prefill("model-thread", segs, use_cache=False)
        engine.release(p)
        warm = engine.prefill("model-thread", segs)  # computes and inserts the segments
        engine.release(warm)
        hit = engine.prefill("model-thread", segs)  # every segment from the tree, only the suffix computed
        engine.release(hit)
    finally:
        del model.forward  # back to the class's method
    assert threads and all(t.name == "promptc-model" and t is not threading.current_thread() for t in threads)
    assert hit.cached_tokens == sum(len(s) for s in seg_ids) > 0
    for logits in (cold, p.logits, warm.logits, hit.logits):
        assert logits.shape == direct.shape
        assert (logits - direct).abs().max().item() <= 1e-4
    assert engine.pool.in_use == in_use


def test_an_error_on_the_model_thread_reaches_the_caller_and_leaks_nothing(tiny_engine):
    eng = tiny_engine
    with pytest.raises(ValueError, match="empty prompt"):  # raised by the job, on the model thread
        eng.prefill("empty", [], add_generation_prompt=False)
    assert eng.pool.in_use == 0 and eng.scheduler._thread is not None
    p = eng.prefill("empty", SEGS)
    assert p.cache is not None and eng.pool.in_use == 1
    eng.release(p)
    assert eng.pool.in_use == 0
