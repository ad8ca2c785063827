"""Linear layers for the engine's weight modes: dense fp32/bf16/fp16 and int8/int4 weight-only quantized.

Decode is memory-bandwidth bound: every generated token reads every weight once. fp32 SmolLM2-135M
reads ~540 MB per token; int8 weights read a quarter of that, int4 an eighth. The quantized kernels
are the ones gpt-fast uses, shipped in torch: ``aten._weight_int8pack_mm`` (per-output-channel
symmetric int8) and ``aten._weight_int4pack_mm_for_cpu`` (groupwise asymmetric 4-bit). Both run fast
only with bf16 activations (measured on torch 2.13 CPU: fp32 activations take a ~5-20x slower path),
so the quantized modes compute in bf16 and keep norms in fp32.

The packed kernels win only for a few rows: their cost grows with every row (measured over the whole
SmolLM2 stack on 2 cores: int8 10 ms for 1 row, 33 ms for 8; int4 5 ms and 15 ms). A batched decode
step (many requests, one row each) and a prefill chunk therefore use a second copy of the same
quantized weights, dequantized once to bf16 at load time and prepacked for oneDNN
(``mkldnn._linear_pointwise``), whose cost hardly grows with rows (13 ms for 1 row, 13 ms for 8).
:data:`PACKED_MAX_ROWS` is each mode's crossover. The copy costs 2 bytes per weight of memory.

int4 on a CPU runs on the engine's own compiled kernel when it is built (:mod:`promptc.engine.kernels`,
:class:`BlockQLinear`): the GGUF's Q4_1 blocks (and the LM head's Q8_0 blocks) times activations
quantized per 32-value block to int8, as llama.cpp computes, flat in the rows. Without the kernel,
int4 uses torch's packed kernel and bf16 copy above (:class:`Int4Linear`) and the LM head int8.

fp32 stays the exact reference (plain ``F.linear``); the quantized modes are approximations whose
accuracy the benchmark reports (max |Δ logit| and greedy agreement against fp32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from promptc.core.engine_errors import DtypeUnsupported
from promptc.engine import kernels

# rows up to which the packed int kernel beats the bf16 copy (measured crossovers, see the module doc)
PACKED_MAX_ROWS = {"int8": 1, "int4": 4}
INT4_GROUP = 32  # the GGUF Q4_1 block size: quantizing its dequantized weights recovers its own grid


def onednn_bf16_available(device: torch.device) -> bool:
    """Whether oneDNN's prepacked bf16 matmul can run here (a CPU build with mkldnn and bf16 support)."""
    return (device.type == "cpu" and torch.backends.mkldnn.is_available()
            and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()))


class BF16Matmul:
    """``y = x @ w.T (+ b)`` for a bf16 weight: oneDNN-prepacked on CPUs that have it, else ``F.linear``."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None):
        self.b = b
        self.onednn = onednn_bf16_available(w.device)
        self.w = torch.ops.mkldnn._reorder_linear_weight(w.contiguous()) if self.onednn else w

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, "none", [], "")
        return F.linear(x, self.w, self.b)


class DenseLinear:
    """``y = x @ w.T (+ b)`` with a dense weight (fp32 / bf16 / fp16); bf16 goes through :class:`BF16Matmul`."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None):
        self.out_features = w.shape[0]
        self._nbytes = w.numel() * w.element_size()
        self.w, self.b = w, b
        self.bf16 = BF16Matmul(w, b) if w.dtype == torch.bfloat16 else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.bf16(x) if self.bf16 is not None else F.linear(x, self.w, self.b)

    def nbytes(self) -> int:
        return self._nbytes


class _Quantized:
    """Shared dispatch: the packed kernel for up to ``max_rows`` rows, the bf16 copy above."""

    max_rows = 1
    _dense: BF16Matmul

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.max_rows:
            return self._dense(x)
        y = self._packed(x)
        return y if self.b is None else y + self.b


class Int8Linear(_Quantized):
    """Per-output-channel symmetric int8 weights; bf16 activations."""

    max_rows = PACKED_MAX_ROWS["int8"]

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None):
        w = w.float()
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
        self.q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        self.scale = scale.to(torch.bfloat16)
        self.b = None if b is None else b.to(torch.bfloat16)
        self.out_features = w.shape[0]
        self._dense = BF16Matmul(self.dequantized(), self.b)

    def dequantized(self) -> torch.Tensor:
        return self.q.to(torch.bfloat16) * self.scale[:, None]

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x, self.q, self.scale)

    def nbytes(self) -> int:
        return self.q.numel() + self.scale.numel() * 2


class Int4Linear(_Quantized):
    """Groupwise (``INT4_GROUP`` inputs) asymmetric 4-bit weights; bf16 activations."""

    max_rows = PACKED_MAX_ROWS["int4"]

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None, group: int = INT4_GROUP):
        w = w.float()
        n, k = w.shape
        if k % group:
            raise ValueError(f"int4 needs in_features divisible by {group} (got {k})")
        g = w.reshape(n, k // group, group)
        lo, hi = g.amin(-1), g.amax(-1)
        scale = ((hi - lo) / 15.0).clamp(min=1e-12)
        q = torch.round((g - lo[..., None]) / scale[..., None]).clamp(0, 15).to(torch.int32).reshape(n, k)
        self.group = group
        self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.contiguous(), 2)
        # the kernel computes (q - 8) * scale + zero
        self.scales_zeros = torch.stack([scale, lo + 8 * scale], -1).transpose(0, 1).contiguous().to(torch.bfloat16)
        self.b = None if b is None else b.to(torch.bfloat16)
        self.out_features = n
        # for many rows: the kernel's own grid, (q - 8) * scale + zero with its bf16 scale and zero,
        # each weight then rounded to bf16
        sz = self.scales_zeros.float()  # (k / group, n, 2)
        deq = (q.reshape(n, k // group, group).float() - 8) * sz[..., 0].T[..., None] + sz[..., 1].T[..., None]
        self._dense = BF16Matmul(deq.reshape(n, k).to(torch.bfloat16), self.b)

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group, self.scales_zeros)

    def nbytes(self) -> int:
        return self.packed.numel() + self.scales_zeros.numel() * 2


def block_quantize(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``w`` (N, K) → (q, d, m) in 32-value blocks, GGUF's own grids: ``w ≈ d*q + m`` per block.

    bits=4 is Q4_1 (q in 0..15, d = (max-min)/15, m = min); bits=8 is Q8_0 (q in -127..127,
    d = amax/127, m = 0). d and m are rounded to fp16 first (GGUF stores them so), then q is taken
    against the rounded grid: a GGUF's dequantized Q4_1/Q8_0 weights give back their own q, d and m.
    Returns q (N, nb, 32) int16, d and m (N, nb) fp16."""
    n, k = w.shape
    if k % kernels.BLOCK:
        raise DtypeUnsupported("--dtype", f"int4 needs every linear layer's in_features divisible by {kernels.BLOCK}"
                               f" (this model has one with {k})", "use --dtype bfloat16 or float32 for this model")
    w = w.float()
    nb = k // kernels.BLOCK
    g = w.reshape(n, nb, kernels.BLOCK)
    if bits == 4:
        lo, hi = g.amin(-1), g.amax(-1)
        d = ((hi - lo) / 15.0).half()
        m = lo.half()
        df = d.float()
        q = torch.where(df[..., None] > 0, torch.round((g - m.float()[..., None]) / df.clamp(min=1e-30)[..., None]),
                        torch.zeros_like(g)).clamp(0, 15)
    else:
        d = (g.abs().amax(-1) / 127.0).half()
        df = d.float()
        q = torch.where(df[..., None] > 0, torch.round(g / df.clamp(min=1e-30)[..., None]),
                        torch.zeros_like(g)).clamp(-127, 127)
        m = torch.zeros_like(d)
    return q.to(torch.int16), d.contiguous(), m.contiguous()


def block_pack(q: torch.Tensor, d: torch.Tensor, m: torch.Tensor, bits: int):
    """(q, d, m) from :func:`block_quantize` → the kernel's tiled layout (``blockq.cpp``'s header):
    16 output features per tile (padded with zero weights), 8 groups of 4 inputs per block, 4-bit
    groups 2j/2j+1 in the low/high nibbles of one 64-byte vector. 8-bit weights are stored as q+128
    with the offset m = -128 d."""
    n, nb, _ = q.shape
    T = kernels.TILE
    pad = (-n) % T
    if bits == 8:
        q, m = q + 128, (-128 * d.float()).half()
    if pad:
        q = torch.cat([q, q.new_full((pad, nb, kernels.BLOCK), 128 if bits == 8 else 0)])
        d = torch.cat([d, d.new_zeros(pad, nb)])
        m = torch.cat([m, m.new_zeros(pad, nb)])
    tiles = (n + pad) // T
    g = q.to(torch.uint8).reshape(tiles, T, nb, 8, 4).permute(0, 2, 3, 1, 4)  # (tiles, nb, group, lane, 4)
    if bits == 4:
        g = g.reshape(tiles, nb, 4, 2, T, 4)
        w = g[:, :, :, 0] | (g[:, :, :, 1] << 4)
    else:
        w = g
    tile = lambda t: t.reshape(tiles, T, nb).permute(0, 2, 1).reshape(tiles, nb * T).contiguous()  # noqa: E731
    return w.reshape(tiles, -1).contiguous(), tile(d), tile(m)


def block_dequantize(q: torch.Tensor, d: torch.Tensor, m: torch.Tensor, k: int) -> torch.Tensor:
    """The fp32 weights (N, k) the blocks stand for (exact: fp16 scale × small integer + fp16 offset)."""
    w = q.float() * d.float()[..., None] + m.float()[..., None]
    return w.reshape(q.shape[0], -1)[:, :k]


class BlockQLinear:
    """``y = x @ w.T (+ b)`` through the compiled block kernel (:mod:`promptc.engine.kernels`):
    4-bit (Q4_1) or 8-bit (Q8_0) weights in 32-value blocks, activations quantized per block to int8.

    Every call uses the kernel, whatever its rows: it reads each weight block once for all rows,
    and at 64 and 256 rows it was as fast as the bf16 copy torch's int4 path keeps (docs/benchmarks.md
    "Issue 28, session 4"), so no copy is kept. A row's result does not depend on the other rows of
    the call (each row is quantized and accumulated on its own, tiles split over threads, never the
    inputs), so a batched step or a prefill chunk computes each row exactly as a solo call does."""

    def __init__(self, kernel, w: torch.Tensor, b: torch.Tensor | None, bits: int):
        self.kernel, self.bits = kernel, bits
        n, k = w.shape
        q, d, m = block_quantize(w, bits)
        self.in_features, self.out_features = k, n
        self.w, self.d, self.m = block_pack(q, d, m, bits)
        self.b = None if b is None else b.float()

    def __call__(self, x: torch.Tensor, norm: torch.Tensor | None = None, eps: float = 0.0, swiglu: bool = False,
                 add_to: torch.Tensor | None = None) -> torch.Tensor:
        """``x @ w.T (+ b)``; with ``norm`` (an fp32 RMSNorm weight), ``rms_norm(x, norm, eps) @ w.T (+ b)``,
        the norm fused into the kernel's input quantization (one call instead of seven torch ops); with
        ``swiglu``, ``x`` holds ``[gate | up]`` and the input is ``silu(gate) * up`` (fused the same way);
        with ``add_to``, the result is added into that tensor in place and returned (a fused residual)."""
        fuse = add_to is not None and self.b is None and add_to.is_contiguous() and add_to.dtype == x.dtype
        y = self.kernel.blockq_linear(x, self.w, self.d, self.m, self.bits, self.out_features, norm, eps, swiglu,
                                      add_to if fuse else None)
        if self.b is not None:
            y.add_(self.b)  # in place: y keeps x's dtype
        return y if fuse or add_to is None else add_to.add_(y)

    def nbytes(self) -> int:
        return self.w.numel() + self.d.numel() * 2 + self.m.numel() * 2


def int4_kernel() -> str:
    """The kernel int4 weights run on here: ``blockq-<isa>`` (compiled) or ``torch-int4pack``."""
    return kernels.describe()


def make_linear(mode: str, w: torch.Tensor, b: torch.Tensor | None, dtype: torch.dtype, device: torch.device):
    """A linear layer for ``mode`` (``float32``/``bfloat16``/``float16``/``int8``/``int4``), or ``q8_0``: the
    int4 mode's 8-bit LM head (GGUF Q8_0 blocks through the compiled kernel; per-channel int8 without it)."""
    if mode == "int8":
        return Int8Linear(w.to(device), b)
    if mode in ("int4", "q8_0"):
        if device.type != "cpu":
            raise DtypeUnsupported("--dtype", "int4 weights use a CPU kernel and cannot run on "
                                   f"{device.type}", "use int8 or bfloat16 on a GPU, or run int4 on the CPU")
        kernel = kernels.load()
        if kernel is not None:
            return BlockQLinear(kernel, w, b, 4 if mode == "int4" else 8)
        if w.shape[1] % INT4_GROUP:
            block_quantize(w[:1], 4)  # raises the coded error
        return Int4Linear(w, b) if mode == "int4" else Int8Linear(w, b)
    return DenseLinear(w.to(device=device, dtype=dtype), None if b is None else b.to(device=device, dtype=dtype))
