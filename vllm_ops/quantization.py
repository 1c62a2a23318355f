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


FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e4m3fnuz)


def _check_input(fn: str, input) -> None:
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{fn}: input must be a torch.Tensor, got {type(input).__name__}")
    if input.dim() == 0:
        raise ValueError(f"{fn}: input must have at least one dimension (hidden), got a 0-dim tensor")


def scaled_int8_quant(
    input: torch.Tensor,
    scale: torch.Tensor | None = None,
    azp: torch.Tensor | None = None,
    symmetric: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Quantize to int8. With `scale` (and `azp` when asymmetric): static per-tensor. Without:
    dynamic per token, returning the scales (and zero points) as [tokens, 1] tensors.

    A non-contiguous input is copied to a contiguous one on both paths, as vLLM does.

    Returns (q, scale, azp or None)."""
    _check_input("scaled_int8_quant", input)
    if scale is None and azp is not None:
        raise ValueError("scaled_int8_quant: azp is an input of the static path only (give scale too); the dynamic "
                         "path computes the zero points itself when symmetric=False")
    input = input.contiguous()
    output = torch.empty(input.shape, dtype=torch.int8, device=input.device)
    if scale is not None:
        if symmetric != (azp is None):
            raise ValueError("scaled_int8_quant: azp must be given exactly when symmetric=False")
        ops.static_scaled_int8_quant(output, input, scale, azp)
        return output, scale, azp
    rows = input.numel() // input.shape[-1] if input.shape[-1] else 0
    scales = torch.empty((rows, 1), dtype=torch.float32, device=input.device)
    azps = None if symmetric else torch.empty((rows, 1), dtype=torch.int32, device=input.device)
    ops.dynamic_scaled_int8_quant(output, input, scales, azps)
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
      `scale_ub`: a NaN bound makes the scales NaN, a negative one acts as 0, the minimum scale).
    `num_token_padding` pads the output's rows: padding rows are zero, and their per-token
    scales (when dynamic per token) are 1.0, where vLLM leaves both uninitialised. `out_dtype`
    defaults to the platform's fp8 flavour (see default_fp8_dtype).

    Returns (q, scale)."""
    fn = "scaled_fp8_quant"
    _check_input(fn, input)
    if input.dim() != 2:
        raise ValueError(f"{fn}: input must be 2-D [tokens, hidden], got shape {tuple(input.shape)}")
    if out_dtype is not None and out_dtype not in FP8_DTYPES:
        raise ValueError(f"{fn}: out_dtype must be torch.float8_e4m3fn or torch.float8_e4m3fnuz, got {out_dtype}")
    if output is not None and out_dtype is not None and output.dtype != out_dtype:
        raise ValueError(f"{fn}: out_dtype ({out_dtype}) disagrees with output's dtype ({output.dtype}); give one")
    if num_token_padding is not None and (isinstance(num_token_padding, bool) or not isinstance(num_token_padding, int)
                                          or num_token_padding < 0):
        raise ValueError(f"{fn}: num_token_padding must be a non-negative int, got {num_token_padding!r}")
    if group_shape is not None:
        if scale is None:
            raise ValueError(f"{fn}: group_shape applies to a static scale; give scale too (dynamic quantization "
                             "is per tensor or, with use_per_token_if_dynamic, per token)")
        if (not isinstance(group_shape, tuple | list) or len(group_shape) != 2
                or not all(isinstance(g, int) and not isinstance(g, bool) for g in group_shape)):
            raise ValueError(f"{fn}: group_shape must be a pair of ints (rows, columns; -1 for the whole extent), "
                             f"got {group_shape!r}")
    if scale_ub is not None and (scale is not None or not use_per_token_if_dynamic):
        raise ValueError(f"{fn}: scale_ub caps dynamic per-token scales only "
                         "(scale=None, use_per_token_if_dynamic=True)")
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
        if rows > input.shape[0]:
            scale[input.shape[0]:] = 1.0  # padding rows: defined, and they dequantize to zero
    else:
        scale = torch.empty(1, dtype=torch.float32, device=input.device)
        ops.dynamic_scaled_fp8_quant(output, input, scale)
    # Only when padded, so an unpadded call stays one custom op under torch.compile (no generated
    # C++ for the padding, which needs the Python headers the images do not carry).
    if rows > input.shape[0]:
        output[input.shape[0]:].zero_()
    return output, scale
