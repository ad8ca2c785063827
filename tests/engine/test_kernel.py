"""The compiled block kernel (promptc/engine/kernels): Q4_1 / Q8_0 weights x per-block int8 activations.

The reference is plain torch on the same blocks: the dequantized weights times the dequantized
block-quantized activations, which the kernel must reproduce up to fp32 summation order. The kernel
is built here if setup did not build it (into the same cache, so once per machine)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from promptc.core.engine_errors import DtypeUnsupported
from promptc.engine import Engine, GenerationParams, SegmentIn, kernels
from promptc.engine.model import KVPool, Transformer
from promptc.engine.quant import (BlockQLinear, Int4Linear, Int8Linear, block_dequantize, block_quantize,
                                  make_linear)

from .test_equivalence import TEXTS
from .tiny import tiny_weights

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def kernel():
    return kernels.build()


def block_q8_reference(x: torch.Tensor) -> torch.Tensor:
    """Activations as the kernel sees them: per 32-value block, a = amax/127, round(x / a) * a."""
    g = x.float().reshape(x.shape[0], -1, kernels.BLOCK)
    a = g.abs().amax(-1) / 127
    inv = torch.where(a > 0, 1 / a, torch.zeros_like(a))
    return (torch.round(g * inv[..., None]) * a[..., None]).reshape(x.shape)


def reference(layer: BlockQLinear, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    q, d, m = block_quantize(w, layer.bits)
    return block_q8_reference(x) @ block_dequantize(q, d, m, w.shape[1]).T


ROWS = list(range(1, 10)) + [40, 130]  # every decode batch size up to 9, and prefill-sized chunks


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("shape", [(70, 96), (960, 576)], ids=["ragged-tile-odd-blocks", "smollm-qkv"])
def test_kernel_matches_the_block_reference_for_every_row_count(kernel, bits, shape):
    g = torch.Generator().manual_seed(bits)
    w = torch.randn(*shape, generator=g) * 0.05
    layer = BlockQLinear(kernel, w, None, bits)
    for rows in ROWS:
        x = torch.randn(rows, shape[1], generator=g)
        ref = reference(layer, w, x)
        y = layer(x)
        assert y.dtype == torch.float32 and y.shape == (rows, shape[0])
        # same products, summed in another order in fp32
        assert (y - ref).abs().max().item() <= 1e-5 * ref.abs().max().item(), rows
        yb = layer(x.to(torch.bfloat16))  # the quantized modes' activations: bf16 in, bf16 out
        refb = reference(layer, w, x.to(torch.bfloat16))
        assert yb.dtype == torch.bfloat16
        assert (yb.float() - refb).abs().max().item() <= 2 ** -8 * refb.abs().max().item(), rows


@pytest.mark.parametrize("bits", [4, 8])
def test_the_fused_rms_norm_matches_torch_rms_norm_then_the_kernel(kernel, bits):
    g = torch.Generator().manual_seed(11)
    w = torch.randn(100, 192, generator=g) * 0.05
    norm = torch.rand(192, generator=g) + 0.5
    layer = BlockQLinear(kernel, w, None, bits)
    for rows in (1, 8, 40):
        x = torch.randn(rows, 192, generator=g) * 3
        ref = reference(layer, w, torch.rms_norm(x, (192,), norm, 1e-5))
        y = layer(x, norm, 1e-5)
        # the norm's sum in another order can move a value across a rounding boundary of its block's
        # int8 grid: one step of one input, far below the quantization error itself
        assert (y - ref).abs().max().item() <= 1e-3 * ref.abs().max().item(), rows
    with pytest.raises(RuntimeError, match="norm"):
        layer(torch.randn(1, 192), torch.ones(64), 1e-5)


@pytest.mark.parametrize("bits", [4, 8])
def test_the_fused_swiglu_matches_torch_silu_times_up_then_the_kernel(kernel, bits):
    """``swiglu=True``: x holds [gate | up] and the kernel quantizes silu(gate) * up, as the model's MLP
    (F.silu(gate) * up, then the down projection) — its own vector e^x (~2 ulp) can move a value across
    a rounding boundary of its block's int8 grid, one step of one input at most."""
    g = torch.Generator().manual_seed(12)
    w = torch.randn(100, 192, generator=g) * 0.05
    layer = BlockQLinear(kernel, w, None, bits)
    for rows in (1, 8, 40):
        gu = torch.randn(rows, 384, generator=g) * 4
        gu[0, :8] = torch.tensor([-200.0, -90.0, -88.5, 0.0, 88.5, 90.0, 200.0, -0.0])  # exp's clamped ends
        ref = reference(layer, w, torch.nn.functional.silu(gu[:, :192]) * gu[:, 192:])
        y = layer(gu, swiglu=True)
        assert torch.isfinite(y).all()
        assert (y - ref).abs().max().item() <= 1e-3 * ref.abs().max().item(), rows
    with pytest.raises(RuntimeError, match="gate and up"):
        layer(torch.randn(2, 192), swiglu=True)
    with pytest.raises(RuntimeError, match="cannot be combined"):
        layer(torch.randn(2, 384), torch.ones(192), 1e-5, swiglu=True)


def test_add_to_fuses_the_residual_add_bit_for_bit(kernel):
    """``add_to=r``: the result is added into r in place and r returned — exactly r + layer(x) (one fp32 add
    per value, as torch's); with a bias, or an r the kernel cannot write, the add happens after the call."""
    g = torch.Generator().manual_seed(13)
    w = torch.randn(70, 96, generator=g) * 0.05
    for bits in (4, 8):
        layer = BlockQLinear(kernel, w, None, bits)
        for rows in (1, 3, 9):
            x, r = torch.randn(rows, 96, generator=g), torch.randn(rows, 70, generator=g)
            expected = r + layer(x)
            out = layer(x, add_to=r)
            assert out is r and torch.equal(r, expected), rows
    biased = BlockQLinear(kernel, w, torch.randn(70, generator=g), 4)
    x, r = torch.randn(4, 96, generator=g), torch.randn(4, 70, generator=g)
    expected = r + biased(x)
    assert biased(x, add_to=r) is r and torch.equal(r, expected)
    strided = torch.randn(70, 4, generator=g).T  # not contiguous: added after the call
    expected = strided + biased(x)
    assert torch.equal(biased(x, add_to=strided), expected)
    with pytest.raises(RuntimeError, match="out must be"):
        kernel.blockq_linear(x, biased.w, biased.d, biased.m, 4, 70, out=torch.zeros(4, 71))


def test_argmax_rows_is_torch_argmax_with_its_ties_and_nan_rule(kernel):
    """The greedy pick of a decode batch: each row's first maximum, or its first NaN, as torch.argmax."""
    g = torch.Generator().manual_seed(14)
    x = torch.randn(9, 49157, generator=g)  # a tail past the last 16-value vector
    x[1, 10] = x[1, 20] = x[1, 49156] = 1e9  # ties: the first one
    x[2, 49156] = 1e9  # the maximum in the tail
    x[3, 100], x[3, 5] = float("nan"), float("nan")  # NaN wins, the first one
    x[4, 49150] = float("nan")
    x[5, 7] = float("inf")
    x[6] = -float("inf")  # every value -inf: index 0
    x[7, 3] = float("nan")
    x[7, 2] = float("inf")
    assert kernel.argmax_rows(x).tolist() == x.argmax(-1).tolist() == [
        int(x[0].argmax()), 10, 49156, 5, 49150, 7, 0, 3, int(x[8].argmax())]
    assert kernel.argmax_rows(x[4:5, :3]).tolist() == [int(x[4, :3].argmax())]
    with pytest.raises(RuntimeError, match="2-D float32"):
        kernel.argmax_rows(x[0])


def test_a_row_is_computed_the_same_whatever_else_is_in_the_call(kernel):
    g = torch.Generator().manual_seed(3)
    w = torch.randn(200, 128, generator=g) * 0.05
    for bits in (4, 8):
        layer = BlockQLinear(kernel, w, None, bits)
        x = torch.randn(19, 128, generator=g).to(torch.bfloat16)
        batch = layer(x)
        for i in range(len(x)):
            assert torch.equal(batch[i], layer(x[i:i + 1])[0])  # bit for bit


def test_the_gguf_blocks_come_back_bit_for_bit(smollm_weights):
    """Re-blocking the loader's dequantized weights gives the GGUF's own Q4_1 / Q8_0 values, so the
    kernel multiplies exactly llama.cpp's weights."""
    import gguf

    reader = gguf.GGUFReader(smollm_weights.source)
    raw = {t.name: t for t in reader.tensors}
    t = raw["blk.0.ffn_down.weight"]
    assert t.tensor_type == gguf.GGMLQuantizationType.Q4_1
    blocks = np.asarray(t.data).reshape(t.data.shape[0], -1, 20)  # fp16 d, fp16 m, 16 bytes of nibbles
    d = torch.from_numpy(blocks[..., 0:2].copy().view(np.float16)[..., 0])
    m = torch.from_numpy(blocks[..., 2:4].copy().view(np.float16)[..., 0])
    qs = torch.from_numpy(blocks[..., 4:].astype(np.int16))
    q_gguf = torch.cat([qs & 0xF, qs >> 4], -1)  # ggml: value j in the low nibble of byte j, j+16 in the high
    q, dd, mm = block_quantize(smollm_weights.tensors["model.layers.0.mlp.down_proj.weight"], 4)
    assert torch.equal(q, q_gguf) and torch.equal(dd, d) and torch.equal(mm, m)

    t = raw["token_embd.weight"]
    assert t.tensor_type == gguf.GGMLQuantizationType.Q8_0
    blocks = np.asarray(t.data).reshape(t.data.shape[0], -1, 34)  # fp16 d, 32 int8
    d = torch.from_numpy(blocks[..., 0:2].copy().view(np.float16)[..., 0])
    q_gguf = torch.from_numpy(blocks[..., 2:].copy().view(np.int8).astype(np.int16))
    q, dd, mm = block_quantize(smollm_weights.tensors["model.embed_tokens.weight"], 8)
    assert torch.equal(q, q_gguf) and torch.equal(dd, d) and not mm.any()


def test_odd_shapes_are_a_coded_error(kernel, monkeypatch):
    w = torch.randn(8, 40)  # 40 inputs: not whole 32-value blocks
    for state in ("on", "off"):
        monkeypatch.setenv("PROMPTC_KERNEL", state)
        with pytest.raises(DtypeUnsupported) as err:
            make_linear("int4", w, None, torch.bfloat16, CPU)
        assert err.value.code == "E710" and "divisible by 32" in str(err.value)
    layer = BlockQLinear(kernel, torch.randn(8, 64), None, 4)
    with pytest.raises(RuntimeError, match="features"):  # the kernel's own guard against a misfed call
        kernel.blockq_linear(torch.randn(2, 32), layer.w, layer.d, layer.m, 4, 8)


def test_without_the_kernel_int4_falls_back_to_torch_and_says_so(kernel, smollm_weights, monkeypatch, tmp_path):
    w = torch.randn(64, 64) * 0.05
    assert isinstance(make_linear("int4", w, None, torch.bfloat16, CPU), BlockQLinear)
    assert kernels.describe() == f"blockq-{kernel.isa()}"
    monkeypatch.setenv("PROMPTC_KERNEL_CACHE", str(tmp_path))  # nothing built there: load() finds nothing
    assert kernels.load() is None and kernels.describe() == "torch-int4pack"
    assert isinstance(make_linear("int4", w, None, torch.bfloat16, CPU), Int4Linear)
    assert isinstance(make_linear("q8_0", w, None, torch.bfloat16, CPU), Int8Linear)
    monkeypatch.delenv("PROMPTC_KERNEL_CACHE")
    monkeypatch.setenv("PROMPTC_KERNEL", "off")
    model = Transformer(tiny_weights(smollm_weights, dim=64, layers=2, heads=4, kv_heads=2, seed=5), "int4")
    assert model.kernel == "torch-int4pack" and isinstance(model.layers[0]["qkv"], Int4Linear)
    pool = KVPool(model.cfg, model.kv_dtype, model.device)
    cache = pool.acquire(16)
    model.forward(torch.arange(100, 108), cache, 0)
    assert torch.isfinite(model.decode([5], [cache], [8])).all()


@pytest.fixture(scope="module")
def int4_engine(smollm_weights, kernel):
    e = Engine(weights=smollm_weights, dtype="int4", device="cpu", budget_bytes=256 << 20)
    yield e
    e.close()


def test_the_int4_engine_runs_on_the_kernel_and_cached_equals_cold(int4_engine):
    assert int4_engine.model.kernel.startswith("blockq-")
    assert isinstance(int4_engine.model.layers[0]["gate_up"], BlockQLinear)
    assert isinstance(int4_engine.model.lm_head, BlockQLinear) and int4_engine.model.lm_head.bits == 8
    rng = random.Random(7)
    segs = [SegmentIn.of(f"s{i}", r, c) for i, (r, c) in enumerate(TEXTS)]
    for _ in range(6):
        comp = rng.sample(segs, rng.randint(2, 5))
        p = int4_engine.prefill("kernel-eq", comp)
        cold = int4_engine.cold_logits(comp)
        int4_engine.release(p)
        assert (p.logits - cold).abs().max().item() <= 1e-4
    assert int4_engine.tree.tenant_stats("kernel-eq").hits > 0
    params = GenerationParams(max_tokens=12)
    cold = int4_engine.complete("kernel-greedy", segs[:3], params=params, use_cache=False)
    first = int4_engine.complete("kernel-greedy", segs[:3], params=params)
    again = int4_engine.complete("kernel-greedy", segs[:3], params=params)
    assert again.cached_tokens > 0
    assert first.token_ids == cold.token_ids == again.token_ids


def test_health_says_which_kernel_the_server_runs_on(int4_engine):
    import httpx

    from promptc.engine.server import EngineServer, ServerThread

    with ServerThread(EngineServer(int4_engine)) as st:
        body = httpx.get(st.url + "/health", timeout=30).json()
    assert body["status"] == "ok" and body["kernel"] == int4_engine.model.kernel
    assert body["kernel"].startswith("blockq-")


def test_a_failed_build_is_a_note_not_a_setup_failure(monkeypatch, capsys):
    from promptc.engine.kernels.__main__ import main

    def broken(verbose=False):
        raise RuntimeError("g++: not found")
    monkeypatch.setattr(kernels, "build", broken)
    assert main(["build"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: the engine's compiled kernel did not build") and "g++: not found" in out
    assert "torch's kernel" in out
    assert main(["frobnicate"]) == 2


def sdpa_reference(q, kl, vl, slots, pos):
    """torch's attention, one row at a time over its own slot's positions 0..pos (GQA: the g query
    heads of a KV head consecutive)."""
    nkv, g = kl.shape[1], q.shape[1] // kl.shape[1]
    out = []
    for r in range(q.shape[0]):
        s, p = int(slots[r]), int(pos[r])
        keys = kl[s, :, : p + 1].repeat_interleave(g, 0)
        values = vl[s, :, : p + 1].repeat_interleave(g, 0)
        out.append(torch.nn.functional.scaled_dot_product_attention(q[r][:, None], keys, values)[:, 0])
    return torch.stack(out)


@pytest.mark.parametrize("grp", [1, 3, 4, 5])
@pytest.mark.parametrize("kv", [torch.float32, torch.float16], ids=["fp32-kv", "fp16-kv"])
@pytest.mark.parametrize("hd", [64, 24], ids=["hd64", "hd24"])
def test_decode_attention_writes_the_new_kv_then_matches_torch_attention(kernel, hd, kv, grp):
    """The kernel's one-token attention: each row's K/V land at (its slot, its position), rounded as torch
    rounds to the K/V dtype, then the row attends over positions 0..pos of its own slot only — torch's
    attention in fp32 over the stored values, up to summation order. Rows at different positions and
    slots, a slot left out, GQA with 3 query heads per KV head."""
    g = torch.Generator().manual_seed(hd)
    S, nkv, cap, grp = 5, 3, 40, 3
    kl = torch.randn(S, nkv, cap, hd, generator=g).to(kv)
    vl = torch.randn(S, nkv, cap, hd, generator=g).to(kv)
    slots, pos = torch.tensor([3, 0, 4, 1]), torch.tensor([0, 17, 39, 5])
    q = torch.randn(4, nkv * grp, hd, generator=g)
    knew, vnew = torch.randn(4, nkv, hd, generator=g), torch.randn(4, nkv, hd, generator=g)
    untouched = kl[2].clone()
    k_ref, v_ref = kl.clone(), vl.clone()
    k_ref[slots, :, pos], v_ref[slots, :, pos] = knew.to(kv), vnew.to(kv)
    out = kernel.decode_attention(q, knew, vnew, kl, vl, slots, pos, 1 / hd ** 0.5)
    assert torch.equal(kl, k_ref) and torch.equal(vl, v_ref) and torch.equal(kl[2], untouched)
    ref = sdpa_reference(q, k_ref.float(), v_ref.float(), slots, pos)
    assert out.dtype == torch.float32 and out.shape == ref.shape and (out - ref).abs().max().item() <= 1e-5


def rope_reference(x, cos, sin_s):
    """Transformer._rope: x * cos + roll(x, hd/2) * sin_signed, per head."""
    return torch.addcmul(x * cos[:, None], torch.roll(x, x.shape[-1] // 2, -1), sin_s[:, None])


@pytest.mark.parametrize("hd", [64, 24], ids=["hd64", "hd24"])
def test_decode_attention_applies_rope_and_reads_strided_rows(kernel, hd):
    """With cos/sin_signed the kernel rotates q and the new k at each row's position before writing and
    attending (the model's decode passes views of its fused QKV projection, rows strided): the same as
    rotating with torch first and passing contiguous tensors, up to the rounding of one multiply-add."""
    g = torch.Generator().manual_seed(hd + 1)
    S, nkv, cap, grp, n = 4, 3, 32, 3, 3
    kl = torch.randn(S, nkv, cap, hd, generator=g).half()
    vl = torch.randn(S, nkv, cap, hd, generator=g).half()
    slots, pos = torch.tensor([2, 0, 3]), torch.tensor([9, 0, 31])
    qkv = torch.randn(n, (nkv * grp + 2 * nkv) * hd, generator=g)
    qo, ko = nkv * grp * hd, nkv * hd
    q = qkv[:, :qo].view(n, nkv * grp, hd)
    k = qkv[:, qo: qo + ko].view(n, nkv, hd)
    v = qkv[:, qo + ko:].view(n, nkv, hd)
    assert not q.is_contiguous()
    angles = torch.rand(n, hd // 2, generator=g) * 6
    cos = torch.cat([angles.cos(), angles.cos()], -1)
    sin_s = torch.cat([-angles.sin(), angles.sin()], -1)
    k_ref, v_ref = kl.clone(), vl.clone()
    out_ref = kernel.decode_attention(rope_reference(q, cos, sin_s).contiguous(),
                                      rope_reference(k, cos, sin_s).contiguous(), v.contiguous(), k_ref, v_ref,
                                      slots, pos, 1 / hd ** 0.5)
    out = kernel.decode_attention(q, k, v, kl, vl, slots, pos, 1 / hd ** 0.5, cos, sin_s)
    assert torch.equal(vl, v_ref)
    assert (kl.float() - k_ref.float()).abs().max().item() <= 2 ** -10 * k_ref.float().abs().max().item()
    assert (out - out_ref).abs().max().item() <= 1e-5
    with pytest.raises(RuntimeError, match="go together"):
        kernel.decode_attention(q, k, v, kl, vl, slots, pos, 0.1, cos)
    with pytest.raises(RuntimeError, match=r"\(n, hd\)"):
        kernel.decode_attention(q, k, v, kl, vl, slots, pos, 0.1, cos[:2], sin_s[:2])


def test_decode_attention_checks_its_arguments(kernel):
    kl = torch.zeros(2, 3, 8, 16)
    q, kv = torch.zeros(1, 9, 16), torch.zeros(1, 3, 16)
    with pytest.raises(RuntimeError, match="out of range"):
        kernel.decode_attention(q, kv, kv, kl, kl.clone(), torch.tensor([2]), torch.tensor([0]), 0.25)
    with pytest.raises(RuntimeError, match="out of range"):
        kernel.decode_attention(q, kv, kv, kl, kl.clone(), torch.tensor([0]), torch.tensor([8]), 0.25)
    with pytest.raises(RuntimeError, match="float32"):
        kernel.decode_attention(q.bfloat16(), kv, kv, kl, kl.clone(), torch.tensor([0]), torch.tensor([0]), 0.25)
    with pytest.raises(RuntimeError, match="float32 or float16"):
        kernel.decode_attention(q, kv, kv, kl.bfloat16(), kl.bfloat16(), torch.tensor([0]), torch.tensor([0]), 0.25)


def test_int4_decode_on_the_kernel_is_row_independent_and_agrees_with_torch_attention(smollm_weights, kernel):
    """int4's decode step on the kernel's attention (fp16 K/V): each row of a batch (slab slots and a
    standalone cache mixed, positions apart) gets the logits it gets alone, bit for bit, and the same next
    token as the step on torch's attention (the SDPA path, same weights and cache)."""
    m = Transformer(smollm_weights, "int4")
    assert m._attn is not None and m.kv_dtype == torch.float16 and m.attn_dtype == torch.float32
    pool = KVPool(smollm_weights.config, m.kv_dtype, m.device)
    caches = [pool.acquire(128) for _ in range(3)] + [m.new_cache(128)]
    lengths = [40, 7, 90, 23]
    for i, (c, n) in enumerate(zip(caches, lengths)):
        m.forward(torch.arange(200 + i, 200 + i + n), c, 0)
    tokens = [11, 12, 13, 14]
    snapshot = [(c.k.clone(), c.v.clone()) for c in caches]

    def restore():
        for c, (k, v) in zip(caches, snapshot):
            c.k.copy_(k)
            c.v.copy_(v)
    batch = m.decode(tokens, caches, lengths)
    for i in range(4):
        restore()
        assert torch.equal(m.decode([tokens[i]], [caches[i]], [lengths[i]])[0], batch[i]), i
    restore()
    attn, m._attn = m._attn, None
    try:
        torch_path = m.decode(tokens, caches, lengths)
    finally:
        m._attn = attn
    assert torch.equal(batch.argmax(-1), torch_path.argmax(-1))
