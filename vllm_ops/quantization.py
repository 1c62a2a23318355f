"""W8A8 quantization wrappers: allocate the outputs and scales, call the op, return them.

They mirror vLLM's `scaled_int8_quant` and `scaled_fp8_quant` convenience functions.
"""

from __future__ import annotations

import torch

from ._ops import ops


def default_fp8_dtype(device: torch.device) -> torch.dtype:
    """float8_e4m3fnuz on AMD MI300-class GPUs (gfx94x), float8_e4m3fn everywhere else."""
    if device.type == "cuda" and torch.version.hip:
        if "gfx94" in torch.cuda.get_device_properties(device).gcnArchName:
            return torch.float8_e4m3fnuz
    return torch.float8_e4m3fn


def scaled_int8_quant(
    input: torch.Tensor,
    scale: torch.Tensor | None = None,
    azp: torch.Tensor | None = None,
    symmetric: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Quantize to int8. With `scale` (and `azp` when asymmetric): static per-tensor. Without:
    dynamic per token, returning the scales (and zero points) as [tokens, 1] tensors.

    Returns (q, scale, azp or None)."""
    output = torch.empty(input.shape, dtype=torch.int8, device=input.device)
    if scale is not None:
        if symmetric != (azp is None):
            raise ValueError("scaled_int8_quant: azp must be given exactly when symmetric=False")
        ops.static_scaled_int8_quant(output, input, scale, azp)
        return output, scale, azp
    rows = input.numel() // input.shape[-1] if input.shape[-1] else 0
    scales = torch.empty((rows, 1), dtype=torch.float32, device=input.device)
    azps = None if symmetric else torch.empty((rows, 1), dtype=torch.int32, device=input.device)
    ops.dynamic_scaled_int8_quant(output, input.contiguous(), scales, azps)
    return output, scales, azps


def scaled_fp8_quant(
    input: torch.Tensor,
    scale: torch.Tensor | None = None,
    num_token_padding: int | None = None,
    scale_ub: torch.Tensor | None = None,
    use_per_token_if_dynamic: bool = False,
    output: torch.Tensor | None = None,
    group_shape: tuple[int, int] | None = None,
    out_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a 2-D [tokens, hidden] tensor to fp8.

    - `scale` given: static; a one-element scale is per tensor, a 2-D one [M/gm, N/gn] is per
      group, a 1-D one needs `group_shape` ((-1, 1) per column, (1, -1) per token).
    - `scale` None: dynamic, per tensor, or per token with `use_per_token_if_dynamic` (capped by
      `scale_ub`).
    `num_token_padding` pads the output's rows (the padding is left unwritten). `out_dtype`
    defaults to the platform's fp8 flavour (see default_fp8_dtype).

    Returns (q, scale)."""
    if input.dim() != 2:
        raise ValueError(f"scaled_fp8_quant: input must be 2-D [tokens, hidden], got shape {tuple(input.shape)}")
    if out_dtype is None:
        out_dtype = output.dtype if output is not None else default_fp8_dtype(input.device)
    rows = input.shape[0] if not num_token_padding else max(num_token_padding, input.shape[0])
    if output is None:
        output = torch.empty((rows, input.shape[1]), dtype=out_dtype, device=input.device)
    elif num_token_padding:
        raise ValueError("scaled_fp8_quant: num_token_padding cannot be combined with output")
    if scale is not None:
        ops.static_scaled_fp8_quant(output, input, scale, list(group_shape) if group_shape else None)
    elif use_per_token_if_dynamic:
        scale = torch.empty((rows, 1), dtype=torch.float32, device=input.device)
        ops.dynamic_per_token_scaled_fp8_quant(output, input, scale, scale_ub)
    else:
        scale = torch.empty(1, dtype=torch.float32, device=input.device)
        ops.dynamic_scaled_fp8_quant(output, input, scale)
    return output, scale
