"""Weight-only quantized linear layers for CPU decode (torch's packed int8/int4 kernels).

Decode is memory-bandwidth bound: every generated token reads every weight once. fp32 SmolLM2-135M
reads ~540 MB per token; int8 weights read a quarter of that, int4 an eighth. The kernels are the
ones gpt-fast uses, shipped in torch: ``aten._weight_int8pack_mm`` (per-output-channel symmetric
int8) and ``aten._weight_int4pack_mm_for_cpu`` (groupwise asymmetric 4-bit). Both run fast only with
bf16 activations (measured on torch 2.13 CPU: fp32 activations take a ~5-20x slower path), so the
quantized modes compute in bf16 and keep norms in fp32.

The packed kernels only win for a few rows: above :data:`PACKED_MAX_ROWS` rows (prefill) a layer
dequantizes its weight to bf16 for that call and uses a dense matmul (measured at 256 rows: int8
packed 3.6 ms, dequantize + bf16 matmul 1.5 ms for a 1536x576 weight).

fp32 stays the exact reference; these modes are approximations whose accuracy the benchmark reports
(max |Δ logit| and greedy agreement against fp32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from promptc.core.engine_errors import DtypeUnsupported

PACKED_MAX_ROWS = 16
INT4_GROUP = 32  # the GGUF Q4_1 block size: quantizing its dequantized weights recovers its own grid


class DenseLinear:
    """``y = x @ w.T (+ b)`` with a dense weight (fp32 / bf16 / fp16)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None):
        self.w, self.b = w, b
        self.out_features = w.shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.w, self.b)

    def nbytes(self) -> int:
        return self.w.numel() * self.w.element_size()


class Int8Linear:
    """Per-output-channel symmetric int8 weights; bf16 activations."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor | None = None):
        w = w.float()
        scale = (w.abs().amax(dim=1) / 127.0).clamp(min=1e-12)
        self.q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
        self.scale = scale.to(torch.bfloat16)
        self.b = None if b is None else b.to(torch.bfloat16)
        self.out_features = w.shape[0]

    def dequantized(self) -> torch.Tensor:
        return self.q.to(torch.bfloat16) * self.scale[:, None]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > PACKED_MAX_ROWS:
            return F.linear(x, self.dequantized(), self.b)
        y = torch.ops.aten._weight_int8pack_mm(x, self.q, self.scale)
        return y if self.b is None else y + self.b

    def nbytes(self) -> int:
        return self.q.numel() + self.scale.numel() * 2


class Int4Linear:
    """Groupwise (``INT4_GROUP`` inputs) asymmetric 4-bit weights; bf16 activations."""

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
        self._q, self._scale, self._lo = q.to(torch.uint8), scale.to(torch.bfloat16), lo.to(torch.bfloat16)
        self.b = None if b is None else b.to(torch.bfloat16)
        self.out_features = n

    def dequantized(self) -> torch.Tensor:
        n, k = self._q.shape
        q = self._q.reshape(n, k // self.group, self.group).to(torch.bfloat16)
        return (q * self._scale[..., None] + self._lo[..., None]).reshape(n, k)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > PACKED_MAX_ROWS:
            return F.linear(x, self.dequantized(), self.b)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, self.packed, self.group, self.scales_zeros)
        return y if self.b is None else y + self.b

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
