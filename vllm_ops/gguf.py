"""GGUF wrappers: GGML-quantized weights (as uint8 bytes) dequantized or multiplied directly.

`type` is the GGML type id (`gguf.GGMLQuantizationType`). Every op checks its arguments in the
kernel and names what it expected; see the op docstrings below for shapes.
"""

from __future__ import annotations

import torch

from ._ops import ops


def ggml_dequantize(W: torch.Tensor, type: int, m: int, n: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """W: uint8 bytes of m rows of n elements of GGML type `type` -> [m, n] in dtype (default fp16)."""
    return ops.ggml_dequantize(W, type, m, n, dtype)


def ggml_mul_mat_vec_a8(W: torch.Tensor, X: torch.Tensor, type: int, row: int) -> torch.Tensor:
    """X [tokens, K] @ dequant(W [row, bytes]).T with X quantized to 8-bit blocks -> [tokens, row]."""
    return ops.ggml_mul_mat_vec_a8(W, X, type, row)


def ggml_mul_mat_a8(W: torch.Tensor, X: torch.Tensor, type: int, row: int) -> torch.Tensor:
    """As ggml_mul_mat_vec_a8, for any token count (many tokens: dequantize + dense GEMM)."""
    return ops.ggml_mul_mat_a8(W, X, type, row)


def ggml_moe_a8(X, W, sorted_token_ids, expert_ids, num_tokens_post_padded, type: int, row: int, top_k: int,
                tokens: int) -> torch.Tensor:
    """Per-expert X @ dequant(W[e]).T for vLLM's block-aligned routing -> [tokens * top_k, row]."""
    return ops.ggml_moe_a8(X, W, sorted_token_ids, expert_ids, num_tokens_post_padded, type, row, top_k, tokens)


def ggml_moe_a8_vec(X, W, topk_ids, top_k: int, type: int, row: int, tokens: int) -> torch.Tensor:
    """Row t * top_k + k of the result is X[t] @ dequant(W[topk_ids[t, k]]).T -> [tokens * top_k, row]."""
    return ops.ggml_moe_a8_vec(X, W, topk_ids, top_k, type, row, tokens)


def ggml_moe_get_block_size(type: int) -> int:
    """The block size ggml_moe_a8 expects sorted_token_ids to be aligned to."""
    return ops.ggml_moe_get_block_size(type)
