"""Token-level reuse where the segment path diverges (fp32, exact): a missing segment that starts like a
cached sibling copies the sibling's K/V for the shared tokens instead of computing them, and the result
equals a cold forward pass."""

from __future__ import annotations

import pytest

from promptc.engine import Engine, SegmentIn

SYSTEM = SegmentIn.of("sys", "system", "You are a code reviewer for the promptc repository. Answer briefly.")
USERS = SegmentIn.of("q-users", "user", "Explain what the file api/users.py is for and name one risk in it.")
ORDERS = SegmentIn.of("q-orders", "user", "Explain what the file api/orders.py is for and name one risk in it.")


@pytest.fixture
def engine(smollm_weights):
    eng = Engine(weights=smollm_weights, budget_bytes=256 << 20)
    yield eng
    eng.close()


def shared_tokens(engine: Engine, a: SegmentIn, b: SegmentIn) -> int:
    ia, ib = (engine.tokenize([SYSTEM, s])[0][1] for s in (a, b))
    return next(i for i, (x, y) in enumerate(zip(ia, ib)) if x != y)


def test_a_new_segment_reuses_the_tokens_it_shares_with_a_cached_sibling(engine):
    first = engine.prefill("t", [SYSTEM, USERS])
    engine.release(first)
    common = shared_tokens(engine, USERS, ORDERS)
    assert common > 8  # "<|im_start|>user\nExplain what the file api/" at least
    second = engine.prefill("t", [SYSTEM, ORDERS])
    try:
        assert [s.status for s in second.statuses] == ["hit", "computed"]
        assert second.cached_tokens == first.statuses[0].tokens + common
        assert second.computed_tokens == second.prompt_tokens - second.cached_tokens
        cold = engine.cold_logits([SYSTEM, ORDERS])
        assert (second.logits - cold).abs().max().item() <= 1e-4
    finally:
        engine.release(second)
    stats = engine.tree.tenant_stats("t")
    assert stats.computed_tokens == first.prompt_tokens + second.computed_tokens
    # the partly reused segment is stored whole: the same request again hits every segment
    again = engine.prefill("t", [SYSTEM, ORDERS])
    try:
        assert [s.status for s in again.statuses] == ["hit", "hit"]
        assert (again.logits - engine.cold_logits([SYSTEM, ORDERS])).abs().max().item() <= 1e-4
    finally:
        engine.release(again)
    assert all(n.refs == 0 for n in engine.tree.nodes())


def test_reuse_never_covers_a_segments_last_token_and_stays_within_the_tenant(engine):
    # a sibling that differs only in its last token: all but that token are copied, the last one is
    # computed (its final hidden state is stored with the new node)
    a = SegmentIn.of("a", "user", "Name two prime numbers, please")
    b = SegmentIn.of("b", "user", "Name two prime numbers, please!")
    engine.release(engine.prefill("t", [SYSTEM, a]))
    ia, ib = (engine.tokenize([SYSTEM, s])[0][1] for s in (a, b))
    p = engine.prefill("t", [SYSTEM, b])
    try:
        assert p.cached_tokens - len(engine.tokenize([SYSTEM])[0][0]) == min(
            next((i for i, (x, y) in enumerate(zip(ia, ib)) if x != y), min(len(ia), len(ib))), len(ib) - 1)
        assert (p.logits - engine.cold_logits([SYSTEM, b])).abs().max().item() <= 1e-4
    finally:
        engine.release(p)
    # another tenant has its own tree: nothing of tenant t is reused
    other = engine.prefill("u", [SYSTEM, ORDERS])
    try:
        assert other.cached_tokens == 0 and [s.status for s in other.statuses] == ["computed", "computed"]
    finally:
        engine.release(other)
    # without the cache nothing is reused either
    cold = engine.prefill("t", [SYSTEM, b], use_cache=False)
    try:
        assert cold.cached_tokens == 0
    finally:
        engine.release(cold)
