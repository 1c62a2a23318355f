"""Quantization helpers the kernel tests use as references: fp8 range, group broadcasting and
a per-group scaled quantization written in plain torch."""

from __future__ import annotations

from typing import NamedTuple

import torch

from vllm._compat import module_getattr
from vllm.platforms import current_platform


def get_fp8_min_max() -> tuple[float, float]:
    """The range fp8 quantization clamps to: +-224 for fnuz (vLLM's choice on ROCm), else the dtype's."""
    if current_platform.is_fp8_fnuz():
        return -224.0, 224.0
    info = torch.finfo(current_platform.fp8_dtype())
    return info.min, info.max


class GroupShape(NamedTuple):
    """Rows and columns one scale covers; -1 means the whole extent."""

    row: int
    col: int

    def is_per_tensor(self) -> bool:
        return (self.row, self.col) == (-1, -1)

    def is_per_token(self) -> bool:
        return (self.row, self.col) == (1, -1)

    def is_per_channel(self) -> bool:
        return (self.row, self.col) == (-1, 1)

    def is_per_group(self) -> bool:
        return self.row == 1 and self.col >= 1


GroupShape.PER_TENSOR = GroupShape(-1, -1)
GroupShape.PER_TOKEN = GroupShape(1, -1)
GroupShape.PER_CHANNEL = GroupShape(-1, 1)


def _full_extent(x: torch.Tensor, group_shape) -> tuple[int, int]:
    rows, cols = group_shape
    return (x.shape[-2] if rows == -1 else rows, x.shape[-1] if cols == -1 else cols)


def group_broadcast(t: torch.Tensor, shape) -> torch.Tensor:
    """Stretch t to `shape`: a size-1 (or missing trailing) dimension broadcasts as usual, a
    dimension of size g that divides the target n repeats each entry n // g times in a row."""
    for dim, target in enumerate(shape):
        size = t.shape[dim] if dim < t.dim() else 1
        if size not in (1, target):
            if target % size:
                raise AssertionError(f"group_broadcast: {size} does not divide {target} (dim {dim})")
            t = t.repeat_interleave(target // size, dim=dim)
    return t


def scaled_quantize(
    x: torch.Tensor,
    group_shape,
    quant_dtype: torch.dtype,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize the 2-D x with one scale per group_shape block.

    Each block is multiplied by fp8_max / amax(block) (amax at least 1e-12), saturated to the
    dtype's range and cast. Returns (quantized x, the dequantization scales amax / fp8_max with
    shape [M / group rows, N / group cols])."""
    if x.dim() != 2:
        raise AssertionError("scaled_quantize: x must be 2-D")
    if not quant_dtype.is_floating_point:
        raise AssertionError("scaled_quantize: quant_dtype must be a floating-point (fp8) dtype")
    gm, gn = _full_extent(x, group_shape)
    m, n = x.shape
    if m % gm or n % gn:
        raise AssertionError(f"scaled_quantize: group shape {(gm, gn)} does not tile {(m, n)}")
    values = x if compute_dtype is None else x.to(compute_dtype)
    blocks = values.reshape(m // gm, gm, n // gn, gn)
    amax = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-12)
    quant_scale = get_fp8_min_max()[1] / amax
    info = torch.finfo(quant_dtype)
    quantized = (blocks * quant_scale[:, None, :, None]).clamp(min=info.min, max=info.max)
    return quantized.reshape(m, n).to(quant_dtype).contiguous(), quant_scale.float().reciprocal()


__getattr__ = module_getattr(__name__)
