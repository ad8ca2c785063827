"""Tiny random Llama models built in-process (no downloads), for fast engine property tests."""

from __future__ import annotations

import torch

from promptc.engine.weights import LoadedWeights, ModelConfig


def tiny_weights(base: LoadedWeights, *, dim: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2,
                 seed: int = 0, vocab: int | None = None) -> LoadedWeights:
    """Random weights of a tiny Llama that shares ``base``'s tokenizer and chat template."""
    vocab = vocab or base.config.vocab_size
    g = torch.Generator().manual_seed(seed)
    hd = dim // heads
    cfg = ModelConfig(arch="llama", vocab_size=vocab, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads,
                      head_dim=hd, ffn_dim=dim * 2, rope_theta=10000.0, norm_eps=1e-5, max_seq_len=4096,
                      tie_embeddings=True)
    r = lambda *s: torch.randn(*s, generator=g) * 0.2  # noqa: E731
    t = {"model.embed_tokens.weight": r(vocab, dim), "model.norm.weight": torch.ones(dim)}
    for i in range(layers):
        p = f"model.layers.{i}."
        t.update({p + "input_layernorm.weight": torch.ones(dim), p + "post_attention_layernorm.weight": torch.ones(dim),
                  p + "self_attn.q_proj.weight": r(heads * hd, dim), p + "self_attn.k_proj.weight": r(kv_heads * hd, dim),
                  p + "self_attn.v_proj.weight": r(kv_heads * hd, dim), p + "self_attn.o_proj.weight": r(dim, heads * hd),
                  p + "mlp.gate_proj.weight": r(dim * 2, dim), p + "mlp.up_proj.weight": r(dim * 2, dim),
                  p + "mlp.down_proj.weight": r(dim, dim * 2)})
    return LoadedWeights(cfg, t, base.tokenizer, base.chat_template, base.eos_token_ids,
                         f"sha256:tiny-{seed}-{dim}-{layers}", "tiny", f"tiny-{seed}")
