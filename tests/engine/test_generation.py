"""Decoding: streaming equals the one-shot result, stop strings, seeded sampling, reference release."""

from __future__ import annotations

from promptc.engine import GenerationParams, SegmentIn

SEGS = [SegmentIn.of("sys", "system", "You are a helpful assistant."),
        SegmentIn.of("q", "user", "List three colours, comma separated.")]


def test_stream_concatenates_to_completion(engine):
    params = GenerationParams(max_tokens=20)
    events = list(engine.stream("gen", SEGS, params=params))
    final = events[-1].completion
    assert final is not None and events[-1].finish_reason in ("stop", "length")
    assert "".join(e.text for e in events) == final.text == engine.complete("gen", SEGS, params=params).text
    assert len(final.token_ids) <= 20


def test_stop_string_truncates(engine):
    full = engine.complete("gen", SEGS, params=GenerationParams(max_tokens=20)).text
    stop = "Green"
    assert stop in full
    stopped = engine.complete("gen", SEGS, params=GenerationParams(max_tokens=20, stop=(stop,)))
    assert stopped.text == full[: full.index(stop)]
    assert stopped.finish_reason == "stop"


def test_seeded_sampling_is_reproducible_and_differs_from_greedy(engine):
    p = GenerationParams(max_tokens=24, temperature=1.2, top_p=0.95, seed=11)
    a = engine.complete("gen", SEGS, params=p).text
    b = engine.complete("gen", SEGS, params=p).text
    assert a == b
    others = {engine.complete("gen", SEGS, params=GenerationParams(max_tokens=24, temperature=1.2, seed=s)).text
              for s in range(4)}
    assert len(others) > 1


def test_closing_a_stream_early_releases_references(engine):
    it = engine.stream("early", SEGS, params=GenerationParams(max_tokens=50))
    next(it)
    assert any(n.refs > 0 for n in engine.tree.nodes("early"))
    it.close()
    assert all(n.refs == 0 for n in engine.tree.nodes("early"))


def test_bfloat16_engine_runs_and_keeps_its_own_cache_root(smollm_weights, engine):
    from promptc.engine import Engine

    bf16 = Engine(weights=smollm_weights, dtype="bfloat16", budget_bytes=256 << 20)
    assert bf16.fingerprint != engine.fingerprint  # dtype is part of the tree's root key
    out = bf16.complete("bf16", SEGS, params=GenerationParams(max_tokens=12))
    assert out.text.strip() and out.prompt_tokens > 0
    again = bf16.complete("bf16", SEGS, params=GenerationParams(max_tokens=12))
    assert again.cached_tokens > 0 and again.text == out.text
