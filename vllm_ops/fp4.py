"""NVFP4 quantization (CUDA only, every arch in the wheel; vLLM's kernel runs on Blackwell only).

Each block of 16 consecutive elements of a row gets one e4m3 scale; its values become e2m1 codes,
two per byte (element 2j in the low nibble of byte j). The definition, with the global scale g:
vllm_ops/reference/nvfp4.py.
"""

from __future__ import annotations

import torch

from ._ops import ops


def _round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


def scale_buffer(m: int, n_out: int, swizzled: bool) -> tuple[tuple[int, int], torch.dtype]:
    """Shape and dtype of the scale tensor vLLM allocates: int32 words of four e4m3 bytes over
    the padded 128 x 4 grid when swizzled, bytes [m, n_out / 16] when linear."""
    if swizzled:
        return (_round_up(m, 128), _round_up(n_out // 16, 4) // 4), torch.int32
    return (m, n_out // 16), torch.uint8


def scaled_fp4_quant(input: torch.Tensor, input_scale: torch.Tensor, is_sf_swizzled_layout: bool = True,
                     padded_n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """input [..., n] fp16/bf16 (n a multiple of 16), input_scale fp32 holding g ->
    (codes uint8 [m, n_out / 2], scales float8_e4m3fn), m the product of the leading dims and
    n_out = padded_n or n (padding columns get zero codes and scales). Scales are [m, n_out / 16]
    linear, or [round_up(m, 128), round_up(n_out / 16, 4)] in the 128 x 4 tiled layout, zero
    where padded, as vLLM's scaled_fp4_quant returns them."""
    fn = "scaled_fp4_quant"
    if not isinstance(input, torch.Tensor) or input.dim() < 1:
        raise ValueError(f"{fn}: input must be a tensor of at least 1 dimension, got {input!r:.80}")
    n = input.shape[-1]
    n_out = n if padded_n is None else padded_n
    if n_out < n or n_out % 16:
        raise ValueError(f"{fn}: padded_n must be >= n = {n} and a multiple of 16, got {padded_n}")
    x = input.reshape(-1, n)
    m = x.shape[0]
    output = torch.empty((m, n_out // 2), dtype=torch.uint8, device=input.device)
    shape, dtype = scale_buffer(m, n_out, is_sf_swizzled_layout)
    scale = torch.empty(shape, dtype=dtype, device=input.device)
    ops.scaled_fp4_quant.out(x, input_scale, is_sf_swizzled_layout, output=output, output_scale=scale)
    return output, scale.view(torch.float8_e4m3fn)
