"""The two paths of a quantized linear: the packed int kernel for up to ``PACKED_MAX_ROWS[mode]``
rows and the prepacked bf16 copy of the dequantized weights above. Both compute on the same
quantized grid, so they agree far more closely than either agrees with the dense fp32 matmul."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from promptc.engine.model import KVPool, Transformer
from promptc.engine.quant import PACKED_MAX_ROWS, BF16Matmul, DenseLinear, Int4Linear, Int8Linear

from .tiny import tiny_weights

# the quantization error bound against fp32 (as in test_quant.py) and the bound between the two paths
# (bf16 rounding only: both use one grid), each relative to the largest |output|
CASES = [(Int8Linear, "int8", 0.05), (Int4Linear, "int4", 0.25)]
PATHS_TOL = 0.02
# a whole (tiny, random) model's step: bf16 activations compound the paths' rounding differences over
# the layers, and int4's packed kernel rounds its zero point to bf16 on its own (one bf16 step of a
# weight apart from the copy's grid); its error against fp32 is 0.2-0.5 here
STEP_TOL = {"int8": 0.05, "int4": 0.1}


def counted(layer) -> dict[str, int]:
    """Count the calls of ``layer``'s packed kernel and of its bf16 copy."""
    calls = {"packed": 0, "bf16": 0}
    packed, dense = layer._packed, layer._dense

    def count_packed(x):
        calls["packed"] += 1
        return packed(x)

    def count_dense(x):
        calls["bf16"] += 1
        return dense(x)
    layer._packed, layer._dense = count_packed, count_dense
    return calls


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("cls,mode,tol", CASES, ids=[c[1] for c in CASES])
def test_packed_and_bf16_copy_paths_agree_with_each_other_and_with_fp32(cls, mode, tol, bias):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(96, 128, generator=g) * 0.05
    b = torch.randn(96, generator=g) * 0.1 if bias else None
    layer = cls(w, b)
    calls = counted(layer)
    n = PACKED_MAX_ROWS[mode]
    x = torch.randn(n + 7, 128, generator=g).to(torch.bfloat16)
    ref = F.linear(x.float(), w, b)
    scale = ref.abs().max().item()

    many = layer(x).float()  # more rows than the packed kernel takes: the bf16 copy
    assert calls == {"packed": 0, "bf16": 1}
    edge = layer(x[:n + 1]).float()  # one row past the crossover: still the copy
    assert calls == {"packed": 0, "bf16": 2}
    few = torch.cat([layer(x[i:i + n]) for i in range(0, len(x), n)]).float()  # n rows at a time: packed
    assert calls == {"packed": -(-len(x) // n), "bf16": 2}

    assert many.shape == few.shape == ref.shape
    assert (many - few).abs().max().item() <= PATHS_TOL * scale
    assert (edge - few[:n + 1]).abs().max().item() <= PATHS_TOL * scale
    for got in (many, few, edge):
        assert (got - ref[: len(got)]).abs().max().item() <= tol * scale


@pytest.mark.parametrize("cls,mode,tol", CASES, ids=[c[1] for c in CASES])
def test_quantized_model_decode_batched_tracks_single_rows(smollm_weights, cls, mode, tol):
    """A quantized model's batched decode step (the bf16 copy) and one-row steps (the packed kernel)
    give close logits for every request."""
    model = Transformer(tiny_weights(smollm_weights, dim=64, layers=2, heads=4, kv_heads=2, seed=5), mode)
    pool = KVPool(model.cfg, model.kv_dtype, model.device)
    caches = [pool.acquire(64) for _ in range(PACKED_MAX_ROWS[mode] + 2)]
    slab = caches[0].slab
    assert all(c.slab is slab for c in caches)
    g = torch.Generator().manual_seed(0)  # finite garbage where no request has written (see test_kv_slabs.py)
    for t in (slab.k, slab.v):
        t.copy_(torch.randn(t.shape, generator=g))
    lengths = [4 + 3 * i for i in range(len(caches))]
    for c, n in zip(caches, lengths):
        model.forward(torch.arange(100, 100 + n), c, 0)
    tokens = [17 * (i + 1) for i in range(len(caches))]
    batched = model.decode(tokens, caches, lengths)
    for i, c in enumerate(caches):
        single = model.decode([tokens[i]], [c], [lengths[i]])[0]  # rewrites the same K/V at the same position
        assert torch.isfinite(single).all()
        assert (batched[i] - single).abs().max().item() <= STEP_TOL[mode] * single.abs().max().item()


@pytest.mark.parametrize("rows", [1, 3, 40])
def test_bf16_dense_linear_uses_the_bf16_matmul_and_matches_fp32_of_its_weights(rows):
    g = torch.Generator().manual_seed(2)
    w = (torch.randn(80, 64, generator=g) * 0.05).to(torch.bfloat16)
    b = (torch.randn(80, generator=g) * 0.1).to(torch.bfloat16)
    layer = DenseLinear(w, b)
    assert isinstance(layer.bf16, BF16Matmul)
    assert layer.nbytes() == w.numel() * 2
    x = torch.randn(rows, 64, generator=g).to(torch.bfloat16)
    ref = F.linear(x.float(), w.float(), b.float())
    got = layer(x)
    assert got.dtype == torch.bfloat16 and got.shape == ref.shape
    assert (got.float() - ref).abs().max().item() <= 0.01 * ref.abs().max().item()
    # an fp32 weight stays on the exact F.linear path
    exact = DenseLinear(w.float(), b.float())
    assert exact.bf16 is None and torch.equal(exact(x.float()), F.linear(x.float(), w.float(), b.float()))
