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

fp32 stays the exact reference (plain ``F.linear``); the quantized modes are approximations whose
accuracy the benchmark reports (max |Δ logit| and greedy agreement against fp32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from promptc.core.engine_errors import DtypeUnsupported

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


def make_linear(mode: str, w: torch.Tensor, b: torch.Tensor | None, dtype: torch.dtype, device: torch.device):
    """A linear layer for ``mode`` (``float32``/``bfloat16``/``float16``/``int8``/``int4``)."""
    if mode == "int8":
        return Int8Linear(w.to(device), b)
    if mode == "int4":
        if device.type != "cpu":
            raise DtypeUnsupported("--dtype", "int4 weights use torch's CPU kernel and cannot run on "
                                   f"{device.type}", "use int8 or bfloat16 on a GPU, or run int4 on the CPU")
        return Int4Linear(w, b)
    return DenseLinear(w.to(device=device, dtype=dtype), None if b is None else b.to(device=device, dtype=dtype))
