"""Issue 9 item 7 (timing half): what one tenant sent cannot be learned from another tenant's timings.

The tokenization cache is per tenant, so tenant B tokenizing text that tenant A sent costs B as much
as tokenizing fresh text. The timing test measures exactly that probe, interleaved and repeated, and
checks its own power first: a same-tenant repeat (a real cache hit) must be clearly faster, so a
shared cache — the old design, or the tokenizer's shared word cache — would fail it.
"""

from __future__ import annotations

import random
import statistics
import time

import pytest

from promptc.engine import SegmentIn
from promptc.engine.tokenize import TokenCache

from .conftest import seg


def test_token_cache_hits_never_cross_tenants():
    cache = TokenCache(1 << 20)
    cache.put("a", "secret piece", [1, 2, 3])
    assert cache.get("a", "secret piece") == (1, 2, 3)
    assert cache.get("b", "secret piece") is None


def test_token_cache_is_bounded_in_bytes_and_fair():
    cache = TokenCache(200_000)
    for i in range(50):
        cache.put("alice", f"alice piece {i} " + "x" * 500, list(range(200)))
    alice = cache.tenant_bytes("alice")
    assert alice < 100_000  # under half the budget
    for i in range(5000):  # mallory floods with many distinct pieces
        cache.put("mallory", f"mallory {i} " + "y" * 500, list(range(200)))
        assert cache.bytes_used <= cache.budget_bytes
    assert cache.tenant_bytes("alice") == alice  # alice's entries all survived
    assert all(cache.get("alice", f"alice piece {i} " + "x" * 500) is not None for i in range(50))


def test_token_cache_does_not_keep_pieces_that_cannot_be_used():
    cache = TokenCache(1 << 30, max_entry_tokens=100)
    assert not cache.put("a", "long", list(range(101)))
    assert cache.put("a", "short", list(range(100)))
    small = TokenCache(1000)
    assert not small.put("a", "x" * 10_000, [1])  # no single entry may take over the cache
    assert small.bytes_used == 0


def test_the_engine_caches_per_tenant(tiny_server):
    engine = tiny_server.engine
    s = [SegmentIn.of("s", "system", "A tenant's private instructions " * 10)]
    engine.tokenize(s, tenant="alpha")
    piece = engine.chat.split([{"role": "system", "content": s[0].content}], add_generation_prompt=False).pieces[0]
    assert engine.token_cache.get("alpha", piece) is not None
    assert engine.token_cache.get("beta", piece) is None


def _random_text(rng: random.Random, n_words: int) -> str:
    return " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(3, 9))) for _ in range(n_words))


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_cross_tenant_probe_timing_is_indistinguishable_from_fresh(tiny_server):
    """Median(B probes A's text) vs median(B tokenizes fresh text of the same shape): within noise."""
    engine = tiny_server.engine
    rng = random.Random(99)
    probe, fresh, own = [], [], []

    def tok(tenant, text):
        return lambda: engine.tokenize([SegmentIn.of("doc", "system", text)], tenant=tenant)

    for _ in range(25):
        secret, other = _random_text(rng, 800), _random_text(rng, 800)  # ~3k tokens, < the context
        tok("tenant-a", secret)()  # A sends its document
        runs = [("probe", tok("tenant-b", secret)), ("fresh", tok("tenant-b", other)),
                ("own", tok("tenant-a", secret))]
        rng.shuffle(runs)  # interleaved, in random order, so drift hits all three alike
        for name, fn in runs:
            {"probe": probe, "fresh": fresh, "own": own}[name].append(_timed(fn))
    m_probe, m_fresh, m_own = (statistics.median(x) for x in (probe, fresh, own))
    # power: a real cache hit (A repeating itself) is far faster than tokenizing
    assert m_own < 0.3 * m_fresh, (m_own, m_fresh)
    # the probe: B learns nothing — its timing is fresh-like, not hit-like
    assert abs(m_probe - m_fresh) < 0.25 * m_fresh, (m_probe, m_fresh, m_own)


def test_cross_tenant_probe_over_http_sees_no_cache(tiny_server, http_a):
    """Over the wire, B's usage and stats show nothing of A's segment either."""
    import httpx

    secret = seg("s", "system", "Only tenant A knows this: the code is 4242.")
    assert http_a.post("/v1/cache/warm", json={"segments": [secret]}).status_code == 200
    with httpx.Client(base_url=tiny_server.url, headers={"authorization": "Bearer key-b"}) as b:
        r = b.post("/v1/chat/completions", json={"segments": [secret], "max_tokens": 1}).json()
    assert r["usage"]["prompt_tokens_details"]["cached_tokens"] == 0


@pytest.mark.parametrize("tenant", ["tenant-b"])
def test_clearing_a_tenant_leaves_others_tokens(tiny_server, tenant):
    engine = tiny_server.engine
    engine.token_cache.put("keep", "p", [1])
    engine.token_cache.clear(tenant)
    assert engine.token_cache.get("keep", "p") == (1,)
