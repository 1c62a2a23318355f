"""AWQ wrappers (CUDA only): 4-bit weights in AutoAWQ's GEMM layout times fp16 or bf16 activations.

Format (as vLLM reads it): qweight int32 [K, N / 8] packed along N, qzeros int32 [K / G, N / 8]
packed the same way, scales [K / G, N] in the activations' dtype. Inside each int32, nibble i
holds column [0, 2, 4, 6, 1, 3, 5, 7][i] of its eight; weight = (q - zero) * scale.
vLLM's own kernels take fp16 only; these take bf16 as well.
"""

from __future__ import annotations

import torch

from ._ops import ops


def awq_dequantize(qweight: torch.Tensor, scales: torch.Tensor, qzeros: torch.Tensor, split_k_iters: int = 0,
                   thx: int = 0, thy: int = 0) -> torch.Tensor:
    """The weights [K, N] in the scales' dtype. split_k_iters, thx and thy are vLLM's launch
    parameters (>= 0); the result does not depend on them."""
    return ops.awq_dequantize(qweight, scales, qzeros, split_k_iters, thx, thy)


def awq_gemm(in_feats: torch.Tensor, qweight: torch.Tensor, scales: torch.Tensor, qzeros: torch.Tensor,
             split_k_iters: int = 8) -> torch.Tensor:
    """in_feats [M, K] @ dequant(W) [K, N] -> [M, N] in in_feats' dtype."""
    return ops.awq_gemm(in_feats, qweight, scales, qzeros, split_k_iters)
