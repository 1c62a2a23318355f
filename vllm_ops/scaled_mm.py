"""cutlass_scaled_mm(_azp) (CUDA, sm_90a builds): W8A8 GEMMs with the scales fused in the
epilogue, as vLLM's `_custom_ops.cutlass_scaled_mm(_azp)` call them: allocate the output, call the op."""

from __future__ import annotations

import torch

from ._ops import ops


def cutlass_scaled_mm(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor,
                      out_dtype: torch.dtype, bias: torch.Tensor | None = None) -> torch.Tensor:
    """(scale_a * a) @ (scale_b * b) + bias in out_dtype (fp16 or bf16). a: fp8 e4m3 or int8
    [M, K] row-major; b: [K, N] column-major (w.t() of a row-major [N, K] w); scale_a fp32 with 1
    or M values, scale_b with 1 or N; bias [N] in out_dtype. K and N multiples of 16."""
    out = torch.empty((a.shape[0], b.shape[1]), dtype=out_dtype, device=a.device)
    ops.cutlass_scaled_mm(out, a, b, scale_a, scale_b, bias)
    return out


def cutlass_scaled_mm_azp(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor,
                          out_dtype: torch.dtype, azp_adj: torch.Tensor, azp: torch.Tensor | None = None,
                          bias: torch.Tensor | None = None) -> torch.Tensor:
    """cutlass_scaled_mm for int8 a with zero points: (scale_a * (a - azp)) @ (scale_b * b) + bias.
    Per-tensor zero point z: azp None and azp_adj = z * b.sum(0) (int32 [N]). Per-token zero
    points: azp int32 [M] and azp_adj = b.sum(0)."""
    out = torch.empty((a.shape[0], b.shape[1]), dtype=out_dtype, device=a.device)
    ops.cutlass_scaled_mm_azp(out, a, b, scale_a, scale_b, azp_adj, azp, bias)
    return out
