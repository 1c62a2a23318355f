"""permute_cols (CUDA only): A[:, perm] for a row-major fp16 or bf16 A, as vLLM's act-order paths use it."""

from __future__ import annotations

import torch

from ._ops import ops


def permute_cols(A: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """out[:, j] = A[:, perm[j]]; perm int32 [K]. An entry outside [0, K) gives a zero column (the
    kernel cannot raise, and a host check would cost a device round trip per call)."""
    return ops.permute_cols(A, perm)
