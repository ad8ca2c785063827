"""Weight-only quantized modes (int8, int4): own cache root, close to fp32, never the exact reference."""

from __future__ import annotations

import pytest
import torch

from promptc.engine import Engine, GenerationParams, SegmentIn
from promptc.engine.model import KVCache
from promptc.engine.quant import Int4Linear, Int8Linear

SEGS = [SegmentIn.of("sys", "system", "You are a helpful assistant. Answer in one short sentence."),
        SegmentIn.of("q", "user", "What is the capital of France?")]


def test_quantized_linears_approximate_the_dense_matmul():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(96, 128, generator=g) * 0.05
    for rows in (1, 3, 40):  # the packed kernel for a few rows, dequantize + dense matmul for many
        x = torch.randn(rows, 128, generator=g)
        ref = x @ w.T
        for layer, tol in ((Int8Linear(w), 0.05), (Int4Linear(w), 0.25)):
            got = layer(x.to(torch.bfloat16)).float()
            assert got.shape == ref.shape
            assert (got - ref).abs().max().item() <= tol * ref.abs().max().item()


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_engine_tracks_fp32_and_has_its_own_root(smollm_weights, engine, mode):
    # int4 is torch's CPU kernel (a GPU gets E710); the comparison below runs on CPU copies of the logits
    q = Engine(weights=smollm_weights, dtype=mode, budget_bytes=128 << 20, device="cpu" if mode == "int4" else None)
    try:
        assert q.fingerprint != engine.fingerprint  # the weight mode is part of the tree's root key
        assert q.model.weight_bytes_per_token() < engine.model.weight_bytes_per_token() / 3
        # teacher-forced: score fp32's greedy answer with both models
        ref_out = engine.complete("quant-ref", SEGS, params=GenerationParams(max_tokens=12))
        seg_ids, _, gen = engine.tokenize(SEGS)
        prompt = [t for s in seg_ids for t in s] + list(gen)
        ids = prompt + ref_out.token_ids
        pos = list(range(len(prompt) - 1, len(ids) - 1))
        logits = []
        for m in (engine.model, q.model):
            cache = KVCache.allocate(smollm_weights.config, len(ids), m.dtype, m.device)
            logits.append(m.forward(torch.tensor(ids), cache, 0, positions=pos).float().cpu())
        agree = (logits[0].argmax(-1) == logits[1].argmax(-1)).float().mean().item()
        assert agree >= 0.9
        assert (logits[0] - logits[1]).abs().max().item() < 5.0
        out = q.complete("quant", SEGS, params=GenerationParams(max_tokens=12))
        again = q.complete("quant", SEGS, params=GenerationParams(max_tokens=12))
        assert again.cached_tokens > 0 and again.text == out.text and "Paris" in out.text
    finally:
        q.close()
