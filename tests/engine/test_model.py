"""The torch model against transformers' implementation on the same weights, and a sanity answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from promptc.engine import GenerationParams, SegmentIn
from promptc.engine.model import KVCache, Transformer

PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
          "Write a Python function that adds two numbers, and explain it. 日本語 🎉 {\"a\": [1, 2]}<|im_end|>\n"
          "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def reference_logits(smollm_weights):
    import transformers
    path = Path(smollm_weights.source)
    ref = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    ids = smollm_weights.tokenizer.encode(PROMPT)
    with torch.no_grad():
        logits = ref(torch.tensor([ids])).logits[0]
    del ref
    return ids, logits


def test_logits_match_transformers_fp32(smollm_weights, reference_logits):
    ids, ref = reference_logits
    model = Transformer(smollm_weights)
    cache = KVCache.allocate(smollm_weights.config, len(ids), torch.float32, torch.device("cpu"))
    ours = model.forward(torch.tensor(ids), cache, 0, all_logits=True)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max().item() <= 1e-3
    assert torch.equal(ours.argmax(-1), ref.argmax(-1))


def test_chunked_prefill_over_cache_matches_reference(smollm_weights, reference_logits):
    """Positions offset correctly: a prompt computed in three chunks gives the reference logits."""
    ids, ref = reference_logits
    model = Transformer(smollm_weights)
    cache = KVCache.allocate(smollm_weights.config, len(ids), torch.float32, torch.device("cpu"))
    cuts = [0, 7, 30, len(ids)]
    outs = [model.forward(torch.tensor(ids[a:b]), cache, a, all_logits=True) for a, b in zip(cuts, cuts[1:])]
    assert (torch.cat(outs) - ref).abs().max().item() <= 1e-3


def test_greedy_answer_is_correct_english(engine):
    segs = [SegmentIn.of("sys", "system", "You are a helpful assistant. Answer in one short sentence."),
            SegmentIn.of("q", "user", "What is the capital of France?")]
    out = engine.complete("model-test", segs, params=GenerationParams(max_tokens=24))
    assert "Paris" in out.text
    assert out.finish_reason == "stop"
