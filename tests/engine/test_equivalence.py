"""KV equivalence (DESIGN.md §3.6): cached path and cold prefill agree, on the bundled model."""

from __future__ import annotations

import random

import torch

from promptc.engine import GenerationParams, SegmentIn

TEXTS = [
    ("system", "You are a careful senior engineer. Read code before answering and quote paths exactly."),
    ("system", "Tools: read_file(path), search_code(pattern), run_tests(selector). Use them before guessing."),
    ("system", "You own the backend: FastAPI, SQLAlchemy, PostgreSQL. Money is integer cents."),
    ("system", "You own the frontend: React 19, TypeScript, Vite. Components need Vitest tests."),
    ("user", "Current file: api/users.py\n\nWhy does GET /users return 500 when the table is empty?"),
    ("user", "Summarize the design of the cache in two sentences."),
    ("assistant", "The cache keys KV state by segment hash, so shared prefixes are computed once."),
    ("user", "日本語のテキストと emoji 🎉 and numbers 12345 in one line."),
]


def test_random_compositions_cached_equals_cold(engine):
    rng = random.Random(7)
    segs = [SegmentIn.of(f"s{i}", r, c) for i, (r, c) in enumerate(TEXTS)]
    tenant = "equivalence"
    for _ in range(8):
        comp = rng.sample(segs, rng.randint(2, 5))
        p = engine.prefill(tenant, comp)
        cold = engine.cold_logits(comp)
        engine.release(p)
        assert (p.logits - cold).abs().max().item() <= 1e-4
    stats = engine.tree.tenant_stats(tenant)
    assert stats.hits > 0, "some compositions must reuse cached segments"


def test_full_hit_and_greedy_text_match_cold_run(engine):
    segs = [SegmentIn.of("a", *TEXTS[0]), SegmentIn.of("b", *TEXTS[2]), SegmentIn.of("q", *TEXTS[4])]
    params = GenerationParams(max_tokens=16)
    cold = engine.complete("greedy", segs, params=params, use_cache=False)
    first = engine.complete("greedy", segs, params=params)
    second = engine.complete("greedy", segs, params=params)
    assert [s.status for s in first.statuses] == ["computed"] * 3
    assert [s.status for s in second.statuses] == ["hit"] * 3
    assert second.cached_tokens == sum(s.tokens for s in second.statuses)
    assert cold.text == first.text == second.text


def test_generation_does_not_mutate_cached_nodes(engine):
    segs = [SegmentIn.of("a", *TEXTS[1]), SegmentIn.of("q", *TEXTS[5])]
    engine.complete("pollution", segs, params=GenerationParams(max_tokens=4))
    path = engine.tree.lookup("pollution", engine.fingerprint, [(s.hash, ids) for s, ids in
                                                                   zip(segs, engine.tokenize(segs)[0])])
    snapshot = [(n.k.clone(), n.v.clone(), n.last_hidden.clone()) for n in path]
    engine.tree.release(path)
    engine.complete("pollution", segs, params=GenerationParams(max_tokens=12, temperature=0.8, seed=3))
    for n, (k, v, lg) in zip(path, snapshot):
        assert torch.equal(n.k, k) and torch.equal(n.v, v) and torch.equal(n.last_hidden, lg)


def test_per_segment_ids_concatenate_to_full_tokenization(engine):
    segs = [SegmentIn.of(f"s{i}", r, c) for i, (r, c) in enumerate(TEXTS)]
    seg_ids, msg_ids, gen = engine.tokenize(segs, [{"role": "user", "content": "and one more message"}])
    convo = [{"role": s.role, "content": s.content} for s in segs] + [{"role": "user", "content": "and one more message"}]
    full = engine.tokenizer.encode(engine.chat.render(convo, add_generation_prompt=True))
    assert [t for ids in seg_ids + msg_ids for t in ids] + list(gen) == full
