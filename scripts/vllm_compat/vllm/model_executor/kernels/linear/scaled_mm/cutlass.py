"""The one piece of vLLM's CUTLASS linear kernel the scaled-mm test drives directly:
CutlassFP8ScaledMMLinearKernel.apply_scaled_mm on weights padded to 16 (K and N)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vllm import _custom_ops as ops
from vllm._compat import module_getattr


def _pad_dim_to(x: torch.Tensor, dim: int, multiple: int, value: float = 0.0) -> torch.Tensor:
    extra = -x.shape[dim] % multiple
    if not extra:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim) + [0, extra]  # F.pad lists the last dimension first
    return F.pad(x, pad, value=value)


class CutlassFP8ScaledMMLinearKernel:
    logical_output_size: int | None = None

    def apply_scaled_mm(self, *, A: torch.Tensor, B: torch.Tensor, out_dtype: torch.dtype, As: torch.Tensor,
                        Bs: torch.Tensor, bias: torch.Tensor | None, output_shape: list) -> torch.Tensor:
        """A [M, K] times the padded B [K', N'] (N' - N zero columns); the result keeps N columns."""
        n = self.logical_output_size
        if n is None:
            raise AssertionError("logical_output_size is not set")
        padded_k, padded_n = B.shape
        if padded_k > A.shape[1]:
            A = _pad_dim_to(A, 1, 16)
        if padded_n > n and bias is not None:
            bias = _pad_dim_to(bias, 0, 16)
        out = ops.cutlass_scaled_mm(A, B, scale_a=As, scale_b=Bs, out_dtype=out_dtype, bias=bias)
        if padded_n > n:
            out = out[..., :n].contiguous()
        return out.view(*output_shape[:-1], n)


__getattr__ = module_getattr(__name__)
