"""Pure-torch reference for scaled_fp4_quant (NVFP4), written from its definition.

Per block of 16 consecutive elements of a row, with the global scale g:
    sf8  = e4m3(clamp(g * (amax * fp32(1/6)), 448))        (NaN -> 448, round to nearest even)
    inv  = 0 if sf8 == 0 else 1 / (float(sf8) * (1 / g))
    code = e2m1(x * inv)  on {0, .5, 1, 1.5, 2, 3, 4, 6}, ties to the even code, saturating at 6,
                          the sign kept (a negative value rounding to 0 gives 0x8), NaN -> +6
Each fp32 operation is done in float64 and rounded once (exact, see quantization.py). Element 2j
is the low nibble of byte j. Scales are e4m3 bytes, [m, n/16] linear, or padded to
[round_up(m, 128), round_up(n/16, 4)] with zeros and laid out in 128 x 4 tiles when swizzled.
"""

from __future__ import annotations

import torch

from .quantization import _div, _f32, _mul, _recip, _to_fp8

BLOCK = 16
# Grid midpoints of e2m1's magnitudes; a tie goes up when the upper neighbour's code is even.
_MIDPOINTS = ((0.25, False), (0.75, True), (1.25, False), (1.75, True), (2.5, False), (3.5, True), (5.0, False))


def _round_up(v: int, m: int) -> int:
    return (v + m - 1) // m * m


def e2m1_codes(v: torch.Tensor) -> torch.Tensor:
    a = v.abs()
    magnitude = torch.zeros_like(v, dtype=torch.int64)
    for point, tie_up in _MIDPOINTS:
        magnitude += (a >= point) if tie_up else (a > point)
    codes = magnitude | (torch.signbit(v).to(torch.int64) << 3)
    return torch.where(torch.isnan(v), torch.full_like(codes, 0x7), codes)


def swizzle_scales(linear: torch.Tensor) -> torch.Tensor:
    """[m, c] scale bytes -> the 128 x 4 tiled layout, padded with zeros, as [rows_p, cols_p]."""
    m, c = linear.shape
    rows, cols = _round_up(m, 128), _round_up(c, 4)
    padded = torch.zeros(rows, cols, dtype=linear.dtype)
    padded[:m, :c] = linear
    tiles = padded.reshape(rows // 128, 4, 32, cols // 4, 4).permute(0, 3, 2, 1, 4)
    return tiles.reshape(rows, cols)


def scaled_fp4_quant(x: torch.Tensor, global_scale: torch.Tensor, swizzled: bool, n_out: int | None = None):
    """x [m, n] fp16/bf16 -> (codes uint8 [m, n_out / 2], scale bytes uint8 as described above).
    n_out >= n pads each row with zero codes and zero scales (vLLM's padded output)."""
    m, n = x.shape
    n_out = n if n_out is None else n_out
    g = _f32(global_scale.reshape(-1)[0])
    blocks = _f32(x).reshape(m, n // BLOCK, BLOCK)
    amax = torch.where(torch.isnan(blocks), torch.zeros_like(blocks), blocks.abs()).amax(-1, keepdim=True)
    sf8 = _to_fp8(_mul(g, _mul(amax, _div(torch.tensor(1.0), torch.tensor(6.0)))), torch.float8_e4m3fn)
    bits = sf8.view(torch.uint8)
    inv = torch.where(bits == 0, torch.zeros_like(amax), _recip(_mul(_f32(sf8), _recip(g))))
    codes = e2m1_codes(_mul(blocks, inv)).reshape(m, n)
    packed = torch.zeros(m, n_out // 2, dtype=torch.uint8)
    packed[:, : n // 2] = (codes[:, 0::2] | (codes[:, 1::2] << 4)).to(torch.uint8)
    scales = torch.zeros(m, n_out // BLOCK, dtype=torch.uint8)
    scales[:, : n // BLOCK] = bits.reshape(m, n // BLOCK)
    return packed, swizzle_scales(scales) if swizzled else scales
