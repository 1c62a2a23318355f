"""GPTQ wrappers: int32-packed 2/3/4/8-bit weights multiplied by fp16 or bf16 activations.

Checkpoint format (as vLLM reads it): qweight int32 [K * bit / 32, N] packed along K, qzeros
int32 [groups, N * bit / 32] packed along N, scales [groups, N] in the activations' dtype, g_idx
int32 [K] for act-order or an empty tensor. Weight = scale * (q - zero), zero = stored + 1 (v1)
or stored (v2, `use_v2_format`).

Two ways to call gptq_gemm, as in vLLM:
- `use_exllama=False`: the checkpoint as stored, with its g_idx (or an empty one).
- `use_exllama=True`: after `gptq_shuffle(qweight, q_perm, bit)`, with `b_g_idx = q_perm`
  (`torch.argsort(g_idx).int()` for act-order, else empty). This is the fast path.
"""

from __future__ import annotations

import torch

from ._ops import ops


def gptq_gemm(a: torch.Tensor, b_q_weight: torch.Tensor, b_gptq_qzeros: torch.Tensor, b_gptq_scales: torch.Tensor,
              b_g_idx: torch.Tensor, use_exllama: bool, use_v2_format: bool, bit: int) -> torch.Tensor:
    """a [M, K] @ dequant(W) [K, N] -> [M, N] in a's dtype."""
    return ops.gptq_gemm(a, b_q_weight, b_gptq_qzeros, b_gptq_scales, b_g_idx, use_exllama, use_v2_format, bit)


def gptq_shuffle(q_weight: torch.Tensor, q_perm: torch.Tensor, bit: int) -> None:
    """Prepare q_weight in place for use_exllama=True: its rows reordered by q_perm (empty: none)."""
    ops.gptq_shuffle(q_weight, q_perm, bit)
