"""A Llama-family decoder in plain torch with explicit, preallocated KV caches.

Supports GQA, RoPE (rotate-half layout), RMSNorm, SwiGLU, tied or untied LM head, optional QKV
bias (Qwen2). Two entry points:

* ``forward(ids, cache, start)`` — a chunk of one request (prefill): writes the new tokens' K/V at
  positions ``start … start+T-1`` of ``cache`` and attends over ``0 … start+T-1``.
* ``decode(tokens, caches, positions)`` — one new token for each of B requests in ONE pass over the
  weights (continuous batching): the matmuls see a (B, dim) batch, attention runs per request over
  that request's own cache.

Weights are fp32/bf16/fp16 dense or int8/int4 weight-only quantized (:mod:`promptc.engine.quant`).
Q/K/V and gate/up are fused into one matmul each: fewer passes and fewer Python-level ops per token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from promptc.engine.quant import make_linear
from promptc.engine.weights import LoadedWeights, ModelConfig

MODES = ("float32", "bfloat16", "float16", "int8", "int4")
# activation and KV dtype of each mode: the packed int kernels are fast only with bf16 activations
ACT_DTYPE = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
             "int8": torch.bfloat16, "int4": torch.bfloat16}


@dataclass
class KVCache:
    """K and V for every layer: ``(n_layers, n_kv_heads, capacity, head_dim)`` each."""

    k: torch.Tensor
    v: torch.Tensor

    @classmethod
    def allocate(cls, cfg: ModelConfig, capacity: int, dtype: torch.dtype, device: torch.device) -> "KVCache":
        shape = (cfg.n_layers, cfg.n_kv_heads, capacity, cfg.head_dim)
        return cls(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device))

    @property
    def capacity(self) -> int:
        return self.k.shape[2]


class KVPool:
    """Reusable request KV buffers, bucketed by power-of-two capacity.

    Why: a fresh multi-hundred-MB buffer costs more in first-touch page faults than copying a cached
    prefix into it (measured: 150-400 ms vs 13 ms for a 4k-token SmolLM2 prefix). Buffers are
    working memory of running requests, separate from the KV tree's budget; at most ``keep`` idle
    buffers per bucket are retained.
    """

    def __init__(self, cfg: ModelConfig, dtype: torch.dtype, device: torch.device, keep: int = 2):
        self.cfg, self.dtype, self.device, self.keep = cfg, dtype, device, keep
        self._free: dict[int, list[KVCache]] = {}
        self._lock = threading.Lock()
        self.in_use = 0  # buffers handed out and not released (tests check it returns to zero)

    def bucket(self, capacity: int) -> int:
        size = 256
        while size < capacity:
            size *= 2
        return min(size, max(capacity, self.cfg.max_seq_len))

    def acquire(self, capacity: int) -> KVCache:
        b = self.bucket(capacity)
        with self._lock:
            self.in_use += 1
            free = self._free.get(b)
            if free:
                return free.pop()
        return KVCache.allocate(self.cfg, b, self.dtype, self.device)

    def release(self, cache: KVCache) -> None:
        with self._lock:
            self.in_use -= 1
            free = self._free.setdefault(cache.capacity, [])
            if len(free) < self.keep:
                free.append(cache)


class Transformer:
    """Weights plus a forward pass. Not an ``nn.Module``: inference only, no autograd.

    ``mode`` is one of :data:`MODES`; ``dtype`` (activations and KV) follows from it. For backward
    compatibility ``dtype`` may also be passed as a torch dtype (fp32/bf16/fp16 dense modes).
    """

    def __init__(self, weights: LoadedWeights, dtype: torch.dtype | str = torch.float32,
                 device: str | torch.device = "cpu"):
        if isinstance(dtype, torch.dtype):
            mode = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]
        else:
            mode = dtype
        if mode not in MODES:
            raise ValueError(f"unknown weight mode `{mode}` (one of {', '.join(MODES)})")
        self.cfg = cfg = weights.config
        self.mode = mode
        self.dtype = act = ACT_DTYPE[mode]
        self.device = dev = torch.device(device)
        src = weights.tensors
        # the embedding is a row lookup (no bandwidth per token beyond one row): kept dense
        self.embed = src["model.embed_tokens.weight"].to(device=dev, dtype=act)
        head_w = src["model.embed_tokens.weight"] if cfg.tie_embeddings else src["lm_head.weight"]
        # int4 keeps the LM head in int8: the GGUF stores the tied embedding as Q8_0, not 4-bit
        head_mode = "int8" if mode == "int4" else mode
        self.lm_head = make_linear(head_mode, head_w, None, act, dev)
        # RMSNorm weights stay fp32: the norm is computed in fp32 whatever the activation dtype.
        f32 = lambda name: src[name].to(device=dev, dtype=torch.float32)  # noqa: E731
        self.norm = f32("model.norm.weight")
        hd, nh, nkv = cfg.head_dim, cfg.n_heads, cfg.n_kv_heads
        self.q_out, self.k_out = nh * hd, nkv * hd
        self.layers = []
        for i in range(cfg.n_layers):
            p = f"model.layers.{i}."
            a = p + "self_attn."
            qkv_w = torch.cat([src[a + "q_proj.weight"], src[a + "k_proj.weight"], src[a + "v_proj.weight"]])
            qkv_b = None
            if cfg.qkv_bias:
                qkv_b = torch.cat([src[a + "q_proj.bias"], src[a + "k_proj.bias"], src[a + "v_proj.bias"]])
            gate_up = torch.cat([src[p + "mlp.gate_proj.weight"], src[p + "mlp.up_proj.weight"]])
            self.layers.append({
                "attn_norm": f32(p + "input_layernorm.weight"), "ffn_norm": f32(p + "post_attention_layernorm.weight"),
                "qkv": make_linear(mode, qkv_w, qkv_b, act, dev),
                "o": make_linear(mode, src[a + "o_proj.weight"], None, act, dev),
                "gate_up": make_linear(mode, gate_up, None, act, dev),
                "down": make_linear(mode, src[p + "mlp.down_proj.weight"], None, act, dev),
            })
        inv = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        pos = torch.arange(cfg.max_seq_len, dtype=torch.float64)
        freqs = torch.outer(pos, inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos = emb.cos().to(device=dev, dtype=act)
        self.sin = emb.sin().to(device=dev, dtype=act)
        # rotate_half(x) * sin == flip-halves(x) * sin_signed: one flip instead of slice+neg+cat
        self.sin_signed = torch.cat([-emb.sin()[:, : hd // 2], emb.sin()[:, hd // 2:]], -1).to(device=dev, dtype=act)

    def weight_bytes_per_token(self) -> int:
        """Bytes of weights one decode step reads (every matrix once, plus one embedding row)."""
        total = self.lm_head.nbytes() + self.embed.shape[1] * self.embed.element_size()
        for L in self.layers:
            total += sum(L[k].nbytes() for k in ("qkv", "o", "gate_up", "down"))
        return total

    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.cfg.norm_eps)
        return (xf * w).to(self.dtype)

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        """``x``: (T, heads, hd); ``cos``/``sin_signed``: (T, 1, hd)."""
        h = x.shape[-1] // 2
        flipped = torch.cat((x[..., h:], x[..., :h]), dim=-1)
        return x * cos + flipped * sin_signed

    def _qkv(self, L: dict, x: torch.Tensor, cos: torch.Tensor, sin_s: torch.Tensor):
        T = x.shape[0]
        cfg = self.cfg
        nh, nkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        qkv = L["qkv"](self._rms(x, L["attn_norm"]))
        qk = self._rope(qkv[:, : self.q_out + self.k_out].view(T, nh + nkv, hd), cos, sin_s)
        q, k = qk[:, :nh], qk[:, nh:]
        v = qkv[:, self.q_out + self.k_out:].view(T, nkv, hd)
        return q, k, v

    def _mlp(self, L: dict, x: torch.Tensor) -> torch.Tensor:
        gu = L["gate_up"](self._rms(x, L["ffn_norm"]))
        f = gu.shape[-1] // 2
        return L["down"](F.silu(gu[:, :f]) * gu[:, f:])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self._rms(x, self.norm)).float()

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, cache: KVCache, start: int, all_logits: bool = False,
                positions: list[int] | None = None) -> torch.Tensor:
        """Logits of the last position (``(vocab,)``), of every position (``all_logits``: ``(T, vocab)``),
        or of the given chunk-relative ``positions`` (``(len(positions), vocab)``)."""
        cfg = self.cfg
        T = ids.shape[0]
        end = start + T
        if end > cache.capacity:
            raise ValueError(f"KV cache capacity {cache.capacity} exceeded ({end} tokens)")
        if end > cfg.max_seq_len:
            raise ValueError(f"context length {cfg.max_seq_len} exceeded ({end} tokens)")
        x = self.embed[ids.to(self.device)]
        cos, sin_s = self.cos[start:end, None], self.sin_signed[start:end, None]
        mask = None
        if start > 0 and T > 1:
            mask = torch.ones(T, end, dtype=torch.bool, device=self.device).tril(diagonal=start)
        gqa = cfg.n_kv_heads != cfg.n_heads
        for li, L in enumerate(self.layers):
            q, k, v = self._qkv(L, x, cos, sin_s)
            cache.k[li, :, start:end] = k.transpose(0, 1)
            cache.v[li, :, start:end] = v.transpose(0, 1)
            # 4-D (batch of one) inputs select torch's fused CPU kernel; 3-D ones fall back to a ~4x slower path.
            q4 = q.transpose(0, 1).unsqueeze(0)
            keys, values = cache.k[li, :, :end].unsqueeze(0), cache.v[li, :, :end].unsqueeze(0)
            if start == 0:
                a = F.scaled_dot_product_attention(q4, keys, values, is_causal=T > 1, enable_gqa=gqa)
            else:  # is_causal aligns top-left, wrong over a cache: use the explicit tril(start) mask
                a = F.scaled_dot_product_attention(q4, keys, values, attn_mask=mask, enable_gqa=gqa)
            x = x + L["o"](a[0].transpose(0, 1).reshape(T, -1))
            x = x + self._mlp(L, x)
        if positions is not None:
            if not positions:  # a middle chunk of a long prompt: no logits needed
                return torch.empty(0, self.cfg.vocab_size, device=self.device)
            x = x[torch.tensor(positions, dtype=torch.long, device=self.device)]
        elif not all_logits:
            x = x[-1:]
        logits = self._logits(x)
        return logits if (all_logits or positions is not None) else logits[0]

    @torch.inference_mode()
    def decode(self, tokens: Sequence[int], caches: Sequence[KVCache], positions: Sequence[int]) -> torch.Tensor:
        """Next-token logits ``(B, vocab)`` for B requests, each adding one token at its own position.

        The weights are read once for the whole batch; each request attends over its own cache only.
        """
        B = len(tokens)
        for c, p in zip(caches, positions):
            if p >= c.capacity or p >= self.cfg.max_seq_len:
                raise ValueError(f"KV cache capacity {c.capacity} exceeded ({p + 1} tokens)")
        dev = self.device
        pos_t = torch.tensor(list(positions), device=dev)
        x = self.embed[torch.tensor(list(tokens), device=dev)]
        cos, sin_s = self.cos[pos_t, None], self.sin_signed[pos_t, None]
        gqa = self.cfg.n_kv_heads != self.cfg.n_heads
        for li, L in enumerate(self.layers):
            q, k, v = self._qkv(L, x, cos, sin_s)  # (B, heads, hd)
            outs = []
            for i in range(B):
                c, p = caches[i], positions[i]
                c.k[li, :, p] = k[i]
                c.v[li, :, p] = v[i]
                outs.append(F.scaled_dot_product_attention(
                    q[i, :, None].unsqueeze(0), c.k[li, :, : p + 1].unsqueeze(0), c.v[li, :, : p + 1].unsqueeze(0),
                    enable_gqa=gqa))
            a = outs[0] if B == 1 else torch.cat(outs)  # (B, nh, 1, hd)
            x = x + L["o"](a.reshape(B, -1))
            x = x + self._mlp(L, x)
        return self._logits(x)
