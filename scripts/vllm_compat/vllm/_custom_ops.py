"""vLLM's `vllm._custom_ops` functions, with vLLM 0.22.0's Python signatures, on vllm-ops.

Where vllm_ops has a wrapper the function goes through it (so the run also exercises our
wrappers' argument checks); otherwise it allocates the output as vLLM does and calls the op in
our namespace. An op our library does not register raises NotProvidedError naming it.
"""

from __future__ import annotations

import torch

import vllm_ops
from vllm._compat import NotProvidedError, module_getattr
from vllm.platforms import current_platform
from vllm_ops._ops import ops as _ops


def _op(name: str):
    """Our library's op `name`, or NotProvidedError when this build does not register it."""
    try:
        return getattr(_ops, name)
    except AttributeError:
        raise NotProvidedError(f"torch.ops._C.{name}", f"vllm-ops does not register {name}") from None


# --- activations ---------------------------------------------------------------------------


def silu_and_mul(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.silu_and_mul(x, out)


def mul_and_silu(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.mul_and_silu(x, out)


def gelu_and_mul(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.gelu_and_mul(x, out)


def gelu_tanh_and_mul(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.gelu_tanh_and_mul(x, out)


def fatrelu_and_mul(out: torch.Tensor, x: torch.Tensor, threshold: float = 0.0) -> None:
    vllm_ops.fatrelu_and_mul(x, threshold, out)


def gelu_fast(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.gelu_fast(x, out)


def gelu_new(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.gelu_new(x, out)


def gelu_quick(out: torch.Tensor, x: torch.Tensor) -> None:
    vllm_ops.gelu_quick(x, out)


# --- W8A8 quantization ---------------------------------------------------------------------


def scaled_fp8_quant(
    input: torch.Tensor,
    scale: torch.Tensor | None = None,
    num_token_padding: int | None = None,
    scale_ub: torch.Tensor | None = None,
    use_per_token_if_dynamic: bool = False,
    output: torch.Tensor | None = None,
    group_shape: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    # vLLM always quantizes to the platform's fp8 flavour (and asserts a given output has it).
    out_dtype = current_platform.fp8_dtype() if output is None else None
    if output is not None and output.dtype != current_platform.fp8_dtype():
        raise AssertionError(f"output must be {current_platform.fp8_dtype()}, got {output.dtype}")
    return vllm_ops.scaled_fp8_quant(input, scale, num_token_padding, scale_ub, use_per_token_if_dynamic, output,
                                     group_shape, out_dtype)


def scaled_int8_quant(
    input: torch.Tensor,
    scale: torch.Tensor | None = None,
    azp: torch.Tensor | None = None,
    symmetric: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    return vllm_ops.scaled_int8_quant(input, scale, azp, symmetric)


# --- CUTLASS scaled matmul -----------------------------------------------------------------


def cutlass_scaled_mm_supports_fp8(cuda_device_capability: int) -> bool:
    return _op("cutlass_scaled_mm_supports_fp8")(cuda_device_capability)


def cutlass_scaled_mm_supports_block_fp8(cuda_device_capability: int) -> bool:
    return _op("cutlass_scaled_mm_supports_block_fp8")(cuda_device_capability)


def cutlass_scaled_mm_supports_fp4(cuda_device_capability: int) -> bool:
    return _op("cutlass_scaled_mm_supports_fp4")(cuda_device_capability)


def _check_mm_out(b: torch.Tensor, out_dtype: torch.dtype, bias: torch.Tensor | None) -> None:
    if out_dtype not in (torch.bfloat16, torch.float16):
        raise AssertionError(f"out_dtype must be bfloat16 or float16, got {out_dtype}")
    if bias is not None and (bias.numel() != b.shape[1] or bias.dtype != out_dtype):
        raise AssertionError("bias must have b.shape[1] elements of out_dtype")


def cutlass_scaled_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    scale_a: torch.Tensor,
    scale_b: torch.Tensor,
    out_dtype: torch.dtype,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """(scale_a * a) @ (scale_b * b) -> out_dtype, a [..., K], b [K, N] column-major."""
    _check_mm_out(b, out_dtype, bias)
    if b.shape[0] % 16 or b.shape[1] % 16:
        # vLLM hands these shapes to its Triton kernel, which is not part of vllm-ops.
        raise NotProvidedError("triton_scaled_mm", "vLLM's fallback for a b whose K or N is not a multiple of 16")
    rows = a.reshape(-1, a.shape[-1])
    out = torch.empty((rows.shape[0], b.shape[1]), dtype=out_dtype, device=a.device)
    _op("cutlass_scaled_mm")(out, rows, b, scale_a, scale_b, bias)
    return out.view(*a.shape[:-1], b.shape[1])


def cutlass_scaled_mm_azp(
    a: torch.Tensor,
    b: torch.Tensor,
    scale_a: torch.Tensor,
    scale_b: torch.Tensor,
    out_dtype: torch.dtype,
    azp_adj: torch.Tensor,
    azp: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """As cutlass_scaled_mm with an asymmetric a: azp_adj per channel, azp per token (or None)."""
    if b.shape[0] % 16 or b.shape[1] % 16:
        raise AssertionError("cutlass_scaled_mm_azp: b's K and N must be multiples of 16")
    _check_mm_out(b, out_dtype, bias)
    rows = a.reshape(-1, a.shape[-1])
    if azp is not None and azp.numel() != rows.shape[0]:
        raise AssertionError("cutlass_scaled_mm_azp: azp needs one entry per token")
    out = torch.empty((rows.shape[0], b.shape[1]), dtype=out_dtype, device=a.device)
    _op("cutlass_scaled_mm_azp")(out, rows, b, scale_a, scale_b, azp_adj, azp, bias)
    return out.view(*a.shape[:-1], b.shape[1])


def cutlass_group_gemm_supported(cuda_device_capability: int) -> bool:
    # As vLLM answers on a build without the op: not supported.
    if not 90 <= cuda_device_capability < 110 or not hasattr(_ops, "cutlass_group_gemm_supported"):
        return False
    return _ops.cutlass_group_gemm_supported(cuda_device_capability)


def cutlass_moe_mm(out_tensors, a_tensors, b_tensors, a_scales, b_scales, expert_offsets, problem_sizes, a_strides,
                   b_strides, c_strides, per_act_token: bool, per_out_ch: bool):
    return _op("cutlass_moe_mm")(out_tensors, a_tensors, b_tensors, a_scales, b_scales, expert_offsets,
                                 problem_sizes, a_strides, b_strides, c_strides, per_act_token, per_out_ch)


# --- GPTQ, AWQ, GGUF, permute_cols -----------------------------------------------------------


def gptq_gemm(a, b_q_weight, b_gptq_qzeros, b_gptq_scales, b_g_idx, use_exllama: bool, use_v2_format: bool,
              bit: int) -> torch.Tensor:
    return vllm_ops.gptq_gemm(a, b_q_weight, b_gptq_qzeros, b_gptq_scales, b_g_idx, use_exllama, use_v2_format, bit)


def gptq_shuffle(q_weight: torch.Tensor, q_perm: torch.Tensor, bit: int) -> None:
    vllm_ops.gptq_shuffle(q_weight, q_perm, bit)


def awq_dequantize(qweight, scales, zeros, split_k_iters: int, thx: int, thy: int) -> torch.Tensor:
    return vllm_ops.awq_dequantize(qweight, scales, zeros, split_k_iters, thx, thy)


def awq_gemm(input, qweight, scales, qzeros, split_k_iters: int) -> torch.Tensor:
    return vllm_ops.awq_gemm(input, qweight, scales, qzeros, split_k_iters)


def ggml_dequantize(W, quant_type: int, m: int, n: int, dtype: torch.dtype | None) -> torch.Tensor:
    return vllm_ops.ggml_dequantize(W, quant_type, m, n, dtype)


def ggml_mul_mat_vec_a8(W, X, quant_type: int, row: int) -> torch.Tensor:
    return vllm_ops.ggml_mul_mat_vec_a8(W, X, quant_type, row)


def ggml_mul_mat_a8(W, X, quant_type: int, row: int) -> torch.Tensor:
    return vllm_ops.ggml_mul_mat_a8(W, X, quant_type, row)


def ggml_moe_a8(X, W, sorted_token_ids, expert_ids, num_tokens_post_padded, quant_type: int, row: int, top_k: int,
                tokens: int) -> torch.Tensor:
    return vllm_ops.ggml_moe_a8(X, W, sorted_token_ids, expert_ids, num_tokens_post_padded, quant_type, row, top_k,
                                tokens)


def ggml_moe_a8_vec(X, W, topk_ids, top_k: int, quant_type: int, row: int, tokens: int) -> torch.Tensor:
    return vllm_ops.ggml_moe_a8_vec(X, W, topk_ids, top_k, quant_type, row, tokens)


def ggml_moe_get_block_size(quant_type: int) -> int:
    return vllm_ops.ggml_moe_get_block_size(quant_type)


def permute_cols(a: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    return vllm_ops.permute_cols(a, perm)


__getattr__ = module_getattr(__name__)
