"""KV slabs (fp32): decode over pooled slab slots gives the logits of decode over standalone
``KVCache.allocate`` buffers — rows in any order, slots with gaps (filler rows), several capacity
buckets and standalone buffers in one batch — and greedy decoding in slabs, with requests leaving and
joining, gives the tokens of one-at-a-time decoding. Plus the pool's slot bookkeeping."""

from __future__ import annotations

import dataclasses
import random

import pytest
import torch

from promptc.engine.model import KVCache, KVPool, Transformer
from promptc.engine.weights import ModelConfig

from .tiny import tiny_weights

CPU = torch.device("cpu")
TOL = 1e-4


@pytest.fixture(scope="module")
def tiny(smollm_weights):
    """A 2-layer fp32 model with grouped-query attention (4 query heads over 2 KV heads)."""
    return Transformer(tiny_weights(smollm_weights, dim=64, layers=2, heads=4, kv_heads=2, seed=3))


def scribble(caches: list[KVCache], seed: int) -> None:
    """Fill every buffer (whole slabs included) with large finite values: positions a request has not
    written hold whatever the memory held, and decode must never let them reach a request's output."""
    g = torch.Generator().manual_seed(seed)
    seen = set()
    for c in caches:
        for t in ((c.slab.k, c.slab.v) if c.slab is not None else (c.k, c.v)):
            if id(t) not in seen:
                seen.add(id(t))
                t.copy_(torch.randn(t.shape, generator=g) * 4)


def prefill_both(model: Transformer, pooled: list[KVCache], lengths: list[int], seed: int,
                 fill: bool = True) -> list[KVCache]:
    """Compute a random prompt of each length into its pooled buffer and into a fresh standalone one
    (``fill``: :func:`scribble` over the buffers first)."""
    rng = random.Random(seed)
    standalone = [KVCache.allocate(model.cfg, c.capacity, torch.float32, CPU) for c in pooled]
    if fill:
        scribble(pooled + standalone, seed)
    for a, b, n in zip(pooled, standalone, lengths):
        ids = torch.tensor([rng.randrange(model.cfg.vocab_size) for _ in range(n)])
        model.forward(ids, a, 0)
        model.forward(ids, b, 0)
    return standalone


def assert_decode_matches(model: Transformer, pooled: list[KVCache], standalone: list[KVCache], lengths: list[int],
                          order: list[int], steps: int = 3) -> None:
    """Decode ``steps`` tokens for the requests ``order`` names, in that row order, over the pooled and
    over the standalone buffers; the logits of each row agree within ``TOL`` at every step (later
    steps read the K/V that earlier steps wrote into the slab)."""
    pos = [lengths[i] for i in order]
    tokens = [(7 * i + 3) % model.cfg.vocab_size for i in order]
    for step in range(steps):
        got = model.decode(tokens, [pooled[i] for i in order], pos)
        want = model.decode(tokens, [standalone[i] for i in order], pos)
        assert got.shape == want.shape == (len(order), model.cfg.vocab_size)
        diff = (got - want).abs().max(dim=-1).values
        assert diff.max().item() <= TOL, f"step {step}: per-row max |Δ logit| {diff.tolist()}"
        tokens = want.argmax(-1).tolist()
        pos = [p + 1 for p in pos]


def test_slab_decode_matches_standalone_for_different_lengths(tiny):
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    lengths = [3, 17, 40, 9]
    pooled = [pool.acquire(64) for _ in lengths]
    assert [c.slot for c in pooled] == [0, 1, 2, 3] and len({id(c.slab) for c in pooled}) == 1
    standalone = prefill_both(tiny, pooled, lengths, seed=1)
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[0, 1, 2, 3])


def test_slab_decode_matches_standalone_for_rows_out_of_slot_order(tiny):
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    lengths = [5, 31, 12, 2, 20]
    pooled = [pool.acquire(64) for _ in lengths]
    standalone = prefill_both(tiny, pooled, lengths, seed=2)
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[2, 0, 4, 3, 1])


def test_slab_decode_matches_standalone_with_released_slots_between_rows(tiny):
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    lengths = [8, 25, 4, 14, 30, 6]
    pooled = [pool.acquire(64) for _ in lengths]
    standalone = prefill_both(tiny, pooled, lengths, seed=3)
    pool.release(pooled[1])
    pool.release(pooled[4])
    # slots 0, 2, 3, 5 run: slots 1 and 4 are filler rows inside the group's range
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[3, 0, 5, 2])
    # the lowest free slot is handed out again and decodes with the others; past its new, shorter
    # prompt it still holds the previous request's K/V, which must stay masked
    again = pool.acquire(64)
    assert again.slab is pooled[0].slab and again.slot == 1
    pooled[1] = again
    standalone[1] = prefill_both(tiny, [again], [11], seed=4, fill=False)[0]
    lengths[1] = 11
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[0, 1, 2, 3, 5])


def test_slab_decode_matches_standalone_across_buckets_and_a_standalone_buffer(tiny):
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    small = [pool.acquire(64) for _ in range(3)]  # bucket 256
    large = [pool.acquire(300) for _ in range(2)]  # bucket 512
    assert small[0].slab is not large[0].slab
    assert {c.capacity for c in small} == {256} and {c.capacity for c in large} == {512}
    alone = tiny.new_cache(128)
    assert alone.slab is None
    pooled = [small[0], large[0], alone, small[1], large[1], small[2]]
    lengths = [10, 270, 33, 3, 41, 19]
    standalone = prefill_both(tiny, pooled, lengths, seed=5)
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[4, 2, 0, 5, 1, 3])
    # one request of each kind, and a group whose slots have a gap (slot 1 of the small slab is left out)
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[5, 2, 0])


def test_batched_greedy_decode_in_slabs_equals_one_at_a_time(smollm_weights):
    """Four requests decode in slabs while one leaves early and another joins in its slot; each
    request's greedy tokens equal decoding it alone in a standalone buffer."""
    model = Transformer(tiny_weights(smollm_weights, dim=96, layers=3, heads=6, kv_heads=2, seed=11))
    rng = random.Random(7)
    prompts = [[rng.randrange(model.cfg.vocab_size) for _ in range(n)] for n in (12, 30, 5, 21)]
    budget = [14, 4, 14, 9]  # request 1 leaves after 4 tokens; request 3 joins in its slot then

    expected = []
    for ids, n in zip(prompts, budget):
        cache = model.new_cache(len(ids) + n)
        logits = model.forward(torch.tensor(ids), cache, 0)
        out = []
        for _ in range(n):
            out.append(int(logits.argmax()))
            logits = model.decode([out[-1]], [cache], [len(ids) + len(out) - 1])[0]
        expected.append(out)

    pool = KVPool(model.cfg, model.kv_dtype, model.device)
    running: dict[int, tuple[KVCache, torch.Tensor]] = {}
    got: dict[int, list[int]] = {i: [] for i in range(4)}

    def join(i: int) -> KVCache:
        cache = pool.acquire(len(prompts[i]) + budget[i])
        if cache.slot == 0:  # the slab is new: garbage in it must not matter
            scribble([cache], seed=i)
        running[i] = (cache, model.forward(torch.tensor(prompts[i]), cache, 0))
        return cache

    for i in range(3):
        join(i)
    step = 0
    while running:
        for i, (cache, logits) in list(running.items()):
            got[i].append(int(logits.argmax()))
            if len(got[i]) == budget[i]:
                del running[i]
                pool.release(cache)
                if i == 1:
                    assert join(3).slot == 1  # the freed middle slot is reused
                    got[3].append(int(running[3][1].argmax()))
        if not running:
            break
        rows = sorted(running)
        rows = rows[step % len(rows):] + rows[: step % len(rows)]  # rows in a different order each step
        step += 1
        logits = model.decode([got[i][-1] for i in rows], [running[i][0] for i in rows],
                              [len(prompts[i]) + len(got[i]) - 1 for i in rows])
        for r, i in enumerate(rows):
            running[i] = (running[i][0], logits[r])
    assert [got[i] for i in range(4)] == expected
    assert pool.in_use == 0


# -- the pool ------------------------------------------------------------------------------------

CFG = ModelConfig(arch="llama", vocab_size=64, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16,
                  ffn_dim=128, rope_theta=10000.0, norm_eps=1e-5, max_seq_len=4096, tie_embeddings=True)
PER_SLOT_256 = 2 * CFG.n_layers * CFG.n_kv_heads * 256 * CFG.head_dim * 4  # K and V of one fp32 slot


def test_pool_hands_out_the_lowest_free_slot_and_counts_buffers_in_use():
    pool = KVPool(CFG, torch.float32, CPU, max_slots=4)
    a, b, c = (pool.acquire(100) for _ in range(3))
    assert (a.slot, b.slot, c.slot) == (0, 1, 2) and a.slab is b.slab is c.slab
    assert a.k.shape == (CFG.n_layers, CFG.n_kv_heads, 256, CFG.head_dim) and a.capacity == 256
    assert a.slab.k.shape == (CFG.n_layers, 4, CFG.n_kv_heads, 256, CFG.head_dim)
    assert a.k.data_ptr() == a.slab.k[:, 0].data_ptr() and b.v.data_ptr() == b.slab.v[:, 1].data_ptr()
    assert pool.in_use == 3
    pool.release(b)
    pool.release(a)
    assert pool.in_use == 1
    a2, b2, d = (pool.acquire(50) for _ in range(3))
    assert (a2.slot, b2.slot, d.slot) == (0, 1, 3) and d.slab is c.slab
    for x in (a2, b2, c, d):
        pool.release(x)
    assert pool.in_use == 0


def test_pool_drops_an_idle_slab_when_its_bucket_has_another_with_room():
    pool = KVPool(CFG, torch.float32, CPU, max_slots=2)
    first = [pool.acquire(10), pool.acquire(10)]
    extra = pool.acquire(10)
    assert extra.slab is not first[0].slab and extra.slot == 0
    pool.release(first[1])  # the first slab has room again
    pool.release(extra)  # ...so the now idle second slab is dropped
    assert pool._slabs[256] == [first[0].slab]
    again = pool.acquire(10)
    assert again.slab is first[0].slab and again.slot == 1
    newer = pool.acquire(10)
    assert newer.slab is not extra.slab  # the dropped slab is never handed out again
    # the last slab of a bucket stays when it goes idle (no other has room)
    for x in (first[0], again):
        pool.release(x)
    pool.release(newer)
    assert len(pool._slabs[256]) == 1 and pool.in_use == 0


def test_pool_caps_slots_per_slab_by_slab_bytes_and_buckets_by_power_of_two():
    assert [KVPool(CFG, torch.float32, CPU).bucket(n) for n in (1, 256, 257, 1000, 3000, 4096)] == \
        [256, 256, 512, 1024, 4096, 4096]
    # a context length that is no power of two caps the bucket; a buffer never needs more
    assert KVPool(dataclasses.replace(CFG, max_seq_len=3000), torch.float32, CPU).bucket(2500) == 3000
    pool = KVPool(CFG, torch.float32, CPU, max_slots=16, slab_bytes=3 * PER_SLOT_256 + 5)
    assert pool.slots_for(256) == 3
    assert pool.slots_for(512) == 1  # twice as long: only one fits, and a slab always has one
    assert pool.slots_for(4096) == 1
    assert KVPool(CFG, torch.float32, CPU, max_slots=5).slots_for(256) == 5  # the default 1 GiB is not the cap
    assert KVPool(CFG, torch.bfloat16, CPU, max_slots=16, slab_bytes=3 * PER_SLOT_256).slots_for(256) == 6
    caches = [pool.acquire(200) for _ in range(4)]
    assert [c.slot for c in caches] == [0, 1, 2, 0]
    assert caches[0].slab.slots == 3 and caches[3].slab is not caches[0].slab
    long = [pool.acquire(400), pool.acquire(400)]
    assert long[0].slab.slots == 1 and long[0].slab is not long[1].slab
    for c in caches + long:
        pool.release(c)
    assert pool.in_use == 0


# -- KV dtype --------------------------------------------------------------------------------------

def test_cpu_kv_is_fp32_in_every_mode_and_other_cache_dtypes_still_decode(smollm_weights, tiny):
    w = tiny_weights(smollm_weights, dim=64, layers=2, heads=4, kv_heads=2, seed=3)
    bf16 = Transformer(w, "bfloat16")
    assert bf16.dtype == torch.bfloat16 and bf16.kv_dtype == torch.float32
    assert bf16.new_cache(40).k.dtype == torch.float32 and bf16.new_cache(40).capacity == 40
    assert tiny.kv_dtype == torch.float32
    # an fp32 model over bf16 buffers (standalone and slab) tracks the fp32 buffers
    ids = torch.tensor([5, 9, 200, 31, 7, 1000, 42])
    ref_cache = tiny.new_cache(16)
    ref = tiny.forward(ids, ref_cache, 0)
    half = KVCache.allocate(tiny.cfg, 16, torch.bfloat16, CPU)
    slot = KVPool(tiny.cfg, torch.bfloat16, CPU).acquire(16)
    for c in (half, slot):
        assert (tiny.forward(ids, c, 0) - ref).abs().max().item() < 0.2
    want = tiny.decode([3], [ref_cache], [7])
    got = tiny.decode([3, 3], [half, slot], [7, 7])
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    assert (got - want).abs().max().item() < 0.2  # bf16 rounding of K/V: |logits| here reach ~5


def test_never_written_slab_memory_holding_nan_cannot_reach_a_request(tiny, monkeypatch):
    # torch.empty may hand back memory whose bytes read as NaN or Inf; a batched step reads every slot of
    # its group up to the longest request's position, and a masked weight of 0 times NaN is NaN. Slots are
    # zeroed when first handed out, so a short request next to a long one still decodes exactly.
    real_empty = torch.empty

    def dirty_empty(*shape, **kw):
        return real_empty(*shape, **kw).fill_(float("nan"))
    monkeypatch.setattr(torch, "empty", dirty_empty)
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    pooled = [pool.acquire(64) for _ in range(3)]
    monkeypatch.setattr(torch, "empty", real_empty)
    lengths = [3, 40, 11]
    standalone = prefill_both(tiny, pooled, lengths, seed=5, fill=False)
    assert_decode_matches(tiny, pooled, standalone, lengths, order=[0, 1, 2])
    for c in pooled:
        pool.release(c)
    # a reused slot keeps the previous request's finite K/V past the new, shorter prompt: still exact
    again = [pool.acquire(64) for _ in range(2)]
    standalone = prefill_both(tiny, again, [2, 30], seed=6, fill=False)
    assert_decode_matches(tiny, again, standalone, [2, 30], order=[1, 0])


def test_a_standalone_buffer_is_refused_by_the_pool(tiny):
    pool = KVPool(tiny.cfg, torch.float32, CPU)
    with pytest.raises(ValueError, match="not handed out by a KVPool"):
        pool.release(KVCache.allocate(tiny.cfg, 8, torch.float32, CPU))
    assert pool.in_use == 0
