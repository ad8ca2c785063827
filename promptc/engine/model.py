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

from promptc.engine import kernels
from promptc.engine.quant import BlockQLinear, int4_kernel, make_linear
from promptc.engine.weights import LoadedWeights, ModelConfig

MODES = ("float32", "bfloat16", "float16", "int8", "int4")
# activation and KV dtype of each mode: the packed int kernels are fast only with bf16 activations
ACT_DTYPE = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16,
             "int8": torch.bfloat16, "int4": torch.bfloat16}


@dataclass
class KVCache:
    """K and V for every layer: ``(n_layers, n_kv_heads, capacity, head_dim)`` each.

    A pooled buffer is one slot of a :class:`KVSlab` (``slab``/``slot`` set; ``k``/``v`` are views into
    the slab); :meth:`allocate` makes a standalone one.
    """

    k: torch.Tensor
    v: torch.Tensor
    slab: "KVSlab | None" = None
    slot: int = -1

    @classmethod
    def allocate(cls, cfg: ModelConfig, capacity: int, dtype: torch.dtype, device: torch.device) -> "KVCache":
        shape = (cfg.n_layers, cfg.n_kv_heads, capacity, cfg.head_dim)
        return cls(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device))

    @property
    def capacity(self) -> int:
        return self.k.shape[2]


class KVSlab:
    """``slots`` request buffers of one capacity in one K and one V tensor,
    ``(n_layers, slots, n_kv_heads, capacity, head_dim)``.

    Why: a decode step attends over every running request's cache. With one buffer per request that
    is a loop of small attention calls per layer (measured on 2 cores: 8 requests x 30 layers of
    ``scaled_dot_product_attention`` took 48 ms of a 86 ms int8 step); requests whose buffers share
    a slab are attended with one batched matmul pair per layer instead.
    """

    def __init__(self, cfg: ModelConfig, capacity: int, slots: int, dtype: torch.dtype, device: torch.device):
        shape = (cfg.n_layers, slots, cfg.n_kv_heads, capacity, cfg.head_dim)
        # untouched pages cost no memory on a CPU: only slots in use become resident
        self.k = torch.empty(shape, dtype=dtype, device=device)
        self.v = torch.empty(shape, dtype=dtype, device=device)
        self.capacity, self.slots = capacity, slots
        self.free = list(range(slots))
        self.touched = 0  # slots 0..touched-1 have been handed out (their pages may be resident)
        self.slot_bytes = 2 * self.k[:, 0].numel() * self.k.element_size()

    def take(self) -> KVCache:
        """The lowest free slot (running requests stay packed at the front, so a step's slots are dense).

        A slot handed out for the first time is zeroed: a batched decode step reads every slot of its
        group up to the longest request's position, and a masked weight of 0 times a NaN or Inf left
        in never-written memory by ``torch.empty`` is still NaN. Reused slots hold earlier requests'
        (finite) K/V, which the mask zeroes out."""
        slot = min(self.free)
        self.free.remove(slot)
        if slot >= self.touched:
            self.k[:, slot].zero_()
            self.v[:, slot].zero_()
            self.touched = slot + 1
        return KVCache(self.k[:, slot], self.v[:, slot], self, slot)

    @property
    def resident_bytes(self) -> int:
        """An upper bound of the memory the slab holds: every slot handed out so far, in full."""
        return self.touched * self.slot_bytes

    def give(self, cache: KVCache) -> None:
        self.free.append(cache.slot)

    @property
    def idle(self) -> bool:
        return len(self.free) == self.slots


class KVPool:
    """Request KV buffers, bucketed by power-of-two capacity, handed out as slots of :class:`KVSlab`.

    Why reuse: a fresh multi-hundred-MB buffer costs more in first-touch page faults than copying a
    cached prefix into it (measured: 150-400 ms vs 13 ms for a 4k-token SmolLM2 prefix). Buffers are
    working memory of running requests, separate from the KV tree's budget. A slab holds up to
    ``max_slots`` buffers and at most ``slab_bytes`` (long buffers get fewer per slab). A slab that
    becomes idle is dropped when its bucket has another slab with room, or when idle slabs would
    hold more than ``idle_bytes`` (counting every slot they ever handed out).
    """

    def __init__(self, cfg: ModelConfig, dtype: torch.dtype, device: torch.device, max_slots: int = 16,
                 slab_bytes: int = 1 << 30, idle_bytes: int = 1 << 30):
        self.cfg, self.dtype, self.device = cfg, dtype, device
        self.max_slots, self.slab_bytes, self.idle_bytes = max_slots, slab_bytes, idle_bytes
        self._slabs: dict[int, list[KVSlab]] = {}
        self._lock = threading.Lock()
        self.in_use = 0  # buffers handed out and not released (tests check it returns to zero)

    def bucket(self, capacity: int) -> int:
        size = 256
        while size < capacity:
            size *= 2
        return min(size, max(capacity, self.cfg.max_seq_len))

    def slots_for(self, bucket: int) -> int:
        cfg = self.cfg
        per_slot = 2 * cfg.n_layers * cfg.n_kv_heads * bucket * cfg.head_dim * self.dtype.itemsize
        return max(1, min(self.max_slots, self.slab_bytes // per_slot))

    def acquire(self, capacity: int) -> KVCache:
        b = self.bucket(capacity)
        with self._lock:
            self.in_use += 1
            slabs = self._slabs.setdefault(b, [])
            for slab in slabs:
                if slab.free:
                    return slab.take()
            slab = KVSlab(self.cfg, b, self.slots_for(b), self.dtype, self.device)
            slabs.append(slab)
            return slab.take()

    def release(self, cache: KVCache) -> None:
        """Give a buffer from :meth:`acquire` back (a standalone :meth:`KVCache.allocate` one is no pool's)."""
        if cache.slab is None:
            raise ValueError("this KV buffer was not handed out by a KVPool")
        with self._lock:
            self.in_use -= 1
            slab = cache.slab
            slab.give(cache)
            if not slab.idle:
                return
            slabs = self._slabs.get(slab.capacity, [])
            idle = sum(s.resident_bytes for b in self._slabs.values() for s in b if s.idle)
            if any(s is not slab and s.free for s in slabs) or idle > self.idle_bytes:
                slabs.remove(slab)


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
        self.device = dev = torch.device(device)
        # which kernel int4's linears run on (serve/bench report it): the compiled block kernel or torch's
        self.kernel = int4_kernel() if mode == "int4" and dev.type == "cpu" else "torch"
        # the block kernel quantizes its input per 32-value block itself, so bf16 activations buy it nothing:
        # int4 on it keeps fp32 activations (more accurate, and faster: docs/benchmarks.md "Issue 28, session 4")
        self.dtype = act = torch.float32 if self.kernel.startswith("blockq") else ACT_DTYPE[mode]
        # one-token decode attention on the compiled kernel too, where int4 runs on it: torch's fused CPU
        # attention costs ~50 us of dispatch per call, more than a one-token query's work
        self._attn = kernels.load() if self.kernel.startswith("blockq") else None
        # KV dtype: on the kernel's attention float16, llama.cpp's default (decode reads every cached K/V
        # each step, so the bytes per token set its speed past a few hundred tokens of context; the kernel
        # reads float16 at float32's cost per value); else on a CPU fp32 (torch's decode attention in
        # bf16/fp16 ran 1.3-3x slower than in fp32 there, for 1-token queries over 100-300 cached
        # tokens); on a GPU the activation dtype
        self.kv_dtype = torch.float16 if self._attn is not None else torch.float32 if dev.type == "cpu" else act
        # prefill attends in fp32 over an fp16 cache on a CPU (torch's fp16 CPU attention is the slow one)
        self.attn_dtype = torch.float32 if dev.type == "cpu" else self.kv_dtype
        src = weights.tensors
        # the embedding is a row lookup (no bandwidth per token beyond one row): kept dense
        self.embed = src["model.embed_tokens.weight"].to(device=dev, dtype=act)
        head_w = src["model.embed_tokens.weight"] if cfg.tie_embeddings else src["lm_head.weight"]
        # int4 keeps the LM head in 8 bits: the GGUF stores the tied embedding as Q8_0, not 4-bit
        head_mode = "q8_0" if mode == "int4" else mode
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
        # Q/K/V leave the QKV matmul in the attention dtype (one cast per layer instead of one per tensor: on
        # a CPU the quantized modes compute in bf16 but attend in fp32), so RoPE runs in that dtype too
        rope_dtype = self.attn_dtype
        self.cos = emb.cos().to(device=dev, dtype=rope_dtype)
        self.sin = emb.sin().to(device=dev, dtype=rope_dtype)
        # rotate_half(x) * sin == flip-halves(x) * sin_signed: one roll instead of slice+neg+cat
        self.sin_signed = torch.cat([-emb.sin()[:, : hd // 2], emb.sin()[:, hd // 2:]], -1).to(
            device=dev, dtype=rope_dtype)
        self.scale = 1.0 / hd ** 0.5  # attention's softmax scale (scaled_dot_product_attention's default)

    def new_cache(self, capacity: int) -> KVCache:
        """A standalone KV buffer for ``capacity`` tokens in this model's KV dtype and device."""
        return KVCache.allocate(self.cfg, capacity, self.kv_dtype, self.device)

    def weight_bytes_per_token(self) -> int:
        """Bytes of weights one decode step reads (every matrix once, plus one embedding row)."""
        total = self.lm_head.nbytes() + self.embed.shape[1] * self.embed.element_size()
        for L in self.layers:
            total += sum(L[k].nbytes() for k in ("qkv", "o", "gate_up", "down"))
        return total

    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # torch's own RMSNorm (one call from Python instead of six; identical to the hand-written
        # x * rsqrt(mean(x^2) + eps) * w in fp32), computed in fp32 whatever the activation dtype
        return torch.rms_norm(x.float(), (x.shape[-1],), w, self.cfg.norm_eps).to(self.dtype)

    def _rope(self, x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> torch.Tensor:
        """``x``: (T, heads, hd); ``cos``/``sin_signed``: (T, 1, hd). Swapping the two halves of the last
        dimension is a roll by half of it (one op instead of two slices and a cat)."""
        return torch.addcmul(x * cos, torch.roll(x, x.shape[-1] // 2, -1), sin_signed)

    def _qkv(self, L: dict, x: torch.Tensor, cos: torch.Tensor, sin_s: torch.Tensor):
        T = x.shape[0]
        cfg = self.cfg
        nh, nkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        qkv = self._normed(L["qkv"], x, L["attn_norm"]).to(self.attn_dtype)
        qk = self._rope(qkv[:, : self.q_out + self.k_out].view(T, nh + nkv, hd), cos, sin_s)
        q, k = qk[:, :nh], qk[:, nh:]
        v = qkv[:, self.q_out + self.k_out:].view(T, nkv, hd)
        return q, k, v

    def _prefill_qkv(self, L: dict, li: int, x: torch.Tensor, cache: KVCache, start: int, cos: torch.Tensor,
                     sin_s: torch.Tensor) -> torch.Tensor:
        """A prompt chunk's queries ``(1, heads, T, hd)`` in the attention dtype (4-D, a batch of one: that
        selects torch's fused CPU attention; 3-D inputs fall back to a ~4x slower path), its K/V written into
        layer ``li`` of ``cache`` at ``start``. On the compiled kernel one call does RoPE and the writes, with
        the same RoPE code as the decode step."""
        if self._attn is not None:
            cfg = self.cfg
            qkv = self._normed(L["qkv"], x, L["attn_norm"])
            T = x.shape[0]
            return self._attn.rope_qkv(qkv, cos.view(T, -1), sin_s.view(T, -1), cfg.n_heads, cfg.n_kv_heads,
                                       cache.k[li], cache.v[li], start).unsqueeze(0)
        q, k, v = self._qkv(L, x, cos, sin_s)
        end = start + x.shape[0]
        cache.k[li, :, start:end] = k.transpose(0, 1)
        cache.v[li, :, start:end] = v.transpose(0, 1)
        return q.transpose(0, 1).unsqueeze(0).to(self.attn_dtype)

    def _mlp(self, L: dict, x: torch.Tensor) -> torch.Tensor:
        """``x + mlp(x)``; on the block kernel SwiGLU and the residual add are fused into the down projection
        (x is updated in place: every caller's x is a tensor of this forward's own)."""
        gu = self._normed(L["gate_up"], x, L["ffn_norm"])
        if isinstance(L["down"], BlockQLinear):
            return L["down"](gu, swiglu=True, add_to=x)
        f = gu.shape[-1] // 2
        return x + L["down"](F.silu(gu[:, :f]) * gu[:, f:])

    @staticmethod
    def _residual(layer, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``x + layer(a)``, the add fused into the block kernel (x updated in place) where it runs."""
        if isinstance(layer, BlockQLinear):
            return layer(a, add_to=x)
        return x + layer(a)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._normed(self.lm_head, x, self.norm).float()

    def _normed(self, layer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``layer(rms_norm(x) * w)``: the block kernel fuses the norm into its input quantization (one call
        instead of the norm's seven ops; docs/benchmarks.md "Issue 28, session 4")."""
        if isinstance(layer, BlockQLinear):
            return layer(x, w, self.cfg.norm_eps)
        return layer(self._rms(x, w))

    @torch.inference_mode()
    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits ``(rows, vocab)`` of final hidden states from ``forward(..., hidden=True)``."""
        return self._logits(hidden)

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, cache: KVCache, start: int, all_logits: bool = False,
                positions: list[int] | None = None, hidden: bool = False) -> torch.Tensor:
        """Logits of the last position (``(vocab,)``), of every position (``all_logits``: ``(T, vocab)``),
        or of the given chunk-relative ``positions`` (``(len(positions), vocab)``). With ``hidden`` and
        ``positions``: the final hidden states of those positions instead (``(len(positions), dim)``,
        before the final norm; :meth:`logits` turns them into logits)."""
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
        # the rows read after the last layer; that layer's K/V are cached for every row, but its attention,
        # o-projection and MLP run for these rows only (each row's result does not depend on the others):
        # a prompt chunk needs a few rows (segment ends, the last position), a middle chunk none
        keep = positions if positions is not None else (None if all_logits else [T - 1])
        pruned = keep is not None and len(keep) < T
        last = len(self.layers) - 1
        for li, L in enumerate(self.layers):
            q4 = self._prefill_qkv(L, li, x, cache, start, cos, sin_s)  # (1, heads, T, hd); K/V written
            layer_mask = mask
            if li == last and pruned:
                if not keep:
                    break
                rows = torch.tensor(keep, dtype=torch.long, device=self.device)
                q4, x = q4[:, :, rows], x[rows]
                layer_mask = torch.arange(end, device=self.device)[None, :] <= (start + rows)[:, None]
            n = q4.shape[2]
            # the keys and values as stored (this chunk's too): cached and cold prefill attend over the same values
            keys = cache.k[li, :, :end].unsqueeze(0).to(self.attn_dtype)
            values = cache.v[li, :, :end].unsqueeze(0).to(self.attn_dtype)
            if layer_mask is None:
                a = F.scaled_dot_product_attention(q4, keys, values, is_causal=n > 1, enable_gqa=gqa)
            else:  # is_causal aligns top-left, wrong over a cache: use the explicit tril(start) mask
                a = F.scaled_dot_product_attention(q4, keys, values, attn_mask=layer_mask, enable_gqa=gqa)
            x = self._residual(L["o"], a[0].transpose(0, 1).reshape(n, -1).to(x.dtype), x)
            x = self._mlp(L, x)
        if positions is not None:
            if not positions:  # a middle chunk of a long prompt: no logits needed
                return torch.empty(0, self.cfg.vocab_size, device=self.device)
            if not pruned:
                x = x[torch.tensor(positions, dtype=torch.long, device=self.device)]
            if hidden:
                return x
        elif not all_logits and not pruned:
            x = x[-1:]
        logits = self._logits(x)
        return logits if (all_logits or positions is not None) else logits[0]

    @torch.inference_mode()
    def decode(self, tokens: Sequence[int], caches: Sequence[KVCache], positions: Sequence[int]) -> torch.Tensor:
        """Next-token logits ``(B, vocab)`` for B requests, each adding one token at its own position.

        The weights are read once for the whole batch; each request attends over its own cache only.
        Requests whose buffers share a :class:`KVSlab` are attended together (one batched matmul pair
        per layer over their slots, positions past a request's own length masked out); a standalone
        buffer is attended alone.
        """
        B = len(tokens)
        for c, p in zip(caches, positions):
            if p >= c.capacity or p >= self.cfg.max_seq_len:
                raise ValueError(f"KV cache capacity {c.capacity} exceeded ({p + 1} tokens)")
        # rows ordered by (slab, slot) inside the step, so a slab's rows are one dense run; undone at the end
        order = sorted(range(B), key=lambda i: (id(caches[i].slab), caches[i].slot))
        unsorted = order != list(range(B))
        if unsorted:
            tokens, caches, positions = ([seq[i] for i in order] for seq in (tokens, caches, positions))
        dev = self.device
        pos_t = torch.tensor(list(positions), device=dev)
        # index_select: 2.6 us for 8 rows of the embedding where advanced indexing takes 7.4 us (2 CPU threads)
        x = self.embed.index_select(0, torch.tensor(list(tokens), device=dev))
        cos, sin_s = self.cos[pos_t, None], self.sin_signed[pos_t, None]
        if self._attn is not None:
            return self._decode_on_kernel(x, caches, pos_t, cos, sin_s, order if unsorted else None)
        groups = _SlabGroup.of(caches, positions, dev)
        singles = [i for i, c in enumerate(caches) if c.slab is None]
        gqa = self.cfg.n_kv_heads != self.cfg.n_heads
        nkv, hd = self.cfg.n_kv_heads, self.cfg.head_dim
        g = self.cfg.n_heads // nkv
        for li, L in enumerate(self.layers):
            q, k, v = self._qkv(L, x, cos, sin_s)  # (B, heads, hd)
            if len(groups) == 1 and not singles and groups[0].whole:
                a = groups[0].attend(li, q, k, v, nkv, g, hd, self.scale)
            else:
                a = torch.empty(B, self.cfg.n_heads, hd, dtype=caches[0].k.dtype, device=dev)
                for grp in groups:
                    a[grp.rows] = grp.attend(li, q[grp.rows], k[grp.rows], v[grp.rows], nkv, g, hd, self.scale)
                for i in singles:
                    c, p = caches[i], positions[i]
                    c.k[li, :, p] = k[i]
                    c.v[li, :, p] = v[i]
                    a[i] = F.scaled_dot_product_attention(
                        q[i, :, None].unsqueeze(0).to(c.k.dtype), c.k[li, :, : p + 1].unsqueeze(0),
                        c.v[li, :, : p + 1].unsqueeze(0), enable_gqa=gqa)[0, :, 0]
            x = self._residual(L["o"], a.reshape(B, -1).to(x.dtype), x)
            x = self._mlp(L, x)
        return self._unsorted(self._logits(x), order if unsorted else None)

    def argmax(self, logits: torch.Tensor) -> list[int]:
        """Each row's argmax of ``(rows, vocab)`` logits (torch.argmax's ties and NaN rule), on the compiled
        kernel where it is loaded (64 us for 8 rows of 49,152 where torch takes 175 us on 2 threads)."""
        if self._attn is not None and logits.dtype == torch.float32 and logits.device.type == "cpu":
            return self._attn.argmax_rows(logits).tolist()
        return logits.argmax(-1).tolist()

    def _unsorted(self, logits: torch.Tensor, order: list[int] | None) -> torch.Tensor:
        """A step's logits back in the caller's row order (``order``: the step's row i was the caller's
        ``order[i]``; None: unchanged)."""
        if order is None:
            return logits
        B = logits.shape[0]
        inverse = torch.empty(B, dtype=torch.long, device=self.device)
        inverse[torch.tensor(order, device=self.device)] = torch.arange(B, device=self.device)
        return logits[inverse]

    def _decode_on_kernel(self, x: torch.Tensor, caches: Sequence[KVCache], pos_t: torch.Tensor,
                          cos: torch.Tensor, sin_s: torch.Tensor, order: list[int] | None) -> torch.Tensor:
        """:meth:`decode`'s layers with the compiled kernel's attention (``decode_attention``): per layer one
        call per KV buffer (a slab, or a standalone cache) applies RoPE, writes each row's K/V and attends over
        its own positions. A row's result does not depend on the other rows."""
        B, dev = x.shape[0], self.device
        runs: list[tuple[object, list[int]]] = []  # (slab or standalone cache, rows), rows ascending
        for i, c in enumerate(caches):
            owner = c.slab if c.slab is not None else c
            if runs and runs[-1][0] is owner:
                runs[-1][1].append(i)
            else:
                runs.append((owner, [i]))
        plan = []
        for owner, rows in runs:
            slots = torch.tensor([caches[i].slot if caches[i].slab is not None else 0 for i in rows], device=dev)
            sel = None if len(runs) == 1 else torch.tensor(rows, device=dev)
            plan.append((owner, sel, slots, pos_t if sel is None else pos_t[sel]))
        cfg = self.cfg
        nh, nkv, hd = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        cos, sin_s = cos.view(B, hd), sin_s.view(B, hd)
        for li, L in enumerate(self.layers):
            # views of the fused projection's rows; the kernel applies RoPE and writes K/V itself
            qkv = self._normed(L["qkv"], x, L["attn_norm"])
            q = qkv[:, : self.q_out].view(B, nh, hd)
            k = qkv[:, self.q_out: self.q_out + self.k_out].view(B, nkv, hd)
            v = qkv[:, self.q_out + self.k_out:].view(B, nkv, hd)
            if len(plan) == 1:
                owner, _, slots, pos = plan[0]
                kl, vl = self._layer_kv(owner, li)
                a = self._attn.decode_attention(q, k, v, kl, vl, slots, pos, self.scale, cos, sin_s)
            else:
                a = torch.empty(B, nh, hd, dtype=q.dtype, device=dev)
                for owner, sel, slots, pos in plan:
                    kl, vl = self._layer_kv(owner, li)
                    a[sel] = self._attn.decode_attention(q[sel], k[sel], v[sel], kl, vl, slots, pos, self.scale,
                                                         cos[sel], sin_s[sel])
            x = self._residual(L["o"], a.reshape(B, -1), x)
            x = self._mlp(L, x)
        return self._unsorted(self._logits(x), order)

    @staticmethod
    def _layer_kv(owner, li: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer ``li`` of a slab ``(slots, kv heads, capacity, hd)``, or of a standalone cache as a slab of one."""
        if isinstance(owner, KVSlab):
            return owner.k[li], owner.v[li]
        return owner.k[li].unsqueeze(0), owner.v[li].unsqueeze(0)


class _SlabGroup:
    """The rows of one decode step whose buffers live in one :class:`KVSlab` (index tensors built once
    per step, used by every layer)."""

    def __init__(self, slab: KVSlab, rows: list[int], slots: list[int], positions: list[int], batch: int,
                 device: torch.device):
        self.slab = slab
        order = sorted(range(len(rows)), key=lambda j: slots[j])
        rows, slots, positions = [rows[j] for j in order], [slots[j] for j in order], [positions[j] for j in order]
        self.lo, hi = slots[0], slots[-1] + 1
        self.dense = hi - self.lo == len(slots)  # the slots form one run: no filler rows
        self.whole = self.dense and rows == list(range(batch))  # ...and they are the whole batch, in order
        self.rows = torch.tensor(rows, device=device)
        self.slots = torch.tensor(slots, device=device)
        self.pos = torch.tensor(positions, device=device)
        self.fill = self.slots - self.lo
        self.width = max(positions) + 1
        # additive mask over slots lo..hi-1: a request sees positions 0..p; a filler row sees position 0
        # (its output is discarded, it must only not divide by zero)
        self.n_slots = hi - self.lo
        self.mask: torch.Tensor | None = None  # every slot sees every position up to width: no mask needed
        if not (self.dense and min(positions) == self.width - 1):
            last = torch.zeros(hi - self.lo, dtype=torch.long, device=device)
            last[self.fill] = self.pos
            seen = torch.arange(self.width, device=device)[None, :] <= last[:, None]
            mask = torch.zeros(seen.shape, dtype=slab.k.dtype, device=device).masked_fill_(~seen, float("-inf"))
            self.mask = mask[:, None, None, :]

    @classmethod
    def of(cls, caches: Sequence[KVCache], positions: Sequence[int], device: torch.device) -> list["_SlabGroup"]:
        by_slab: dict[int, tuple[KVSlab, list[int]]] = {}
        for i, c in enumerate(caches):
            if c.slab is not None:
                by_slab.setdefault(id(c.slab), (c.slab, []))[1].append(i)
        return [cls(slab, rows, [caches[i].slot for i in rows], [positions[i] for i in rows], len(caches), device)
                for slab, rows in by_slab.values()]

    def attend(self, li: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, nkv: int, g: int, hd: int,
               scale: float) -> torch.Tensor:
        """Write this step's K/V at each request's position and attend; ``(rows, heads, hd)``."""
        kl, vl = self.slab.k[li], self.slab.v[li]
        kl[self.slots, :, self.pos] = k.to(kl.dtype)
        vl[self.slots, :, self.pos] = v.to(vl.dtype)
        hi = self.lo + self.n_slots
        n = q.shape[0]
        q = q.view(n, nkv, g, hd).to(kl.dtype)
        if self.dense:
            qs = q
        else:
            qs = q.new_zeros(hi - self.lo, nkv, g, hd)
            qs[self.fill] = q
        keys, values = kl[self.lo:hi, :, : self.width], vl[self.lo:hi, :, : self.width]
        # torch's fused attention kernel, the g query heads of a KV head as g query rows (no GQA expand):
        # measured 2-4x faster than a matmul/softmax/matmul chain over the strided slab views
        out = F.scaled_dot_product_attention(qs, keys, values, attn_mask=self.mask, scale=scale)  # (slots,nkv,g,hd)
        if not self.dense:
            out = out[self.fill]
        return out.view(n, nkv * g, hd)
