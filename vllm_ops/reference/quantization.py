"""Pure-torch references for the W8A8 quantization ops, written from their definitions.

Every float32 operation of the definition is done in float64 and rounded once to float32; for
+, *, / of float32 values that gives the correctly rounded float32 result, so these references
are exact, independent of how torch implements float32 arithmetic (torch's CUDA division by a
scalar, for one, multiplies by a rounded reciprocal). Definitions (vLLM 0.22.0's, measured):

- int8, static:      q = round_half_even_sat8(x / s)
- int8, static+azp:  q = sat8(round_half_even_sat32(x * (1/s)) + azp)
- int8, dynamic:     s = absmax / 127 per row; q = round_half_even_sat8(x * (127/absmax)), 0 if absmax is 0
- int8, dynamic+azp: s = (max - min) / 255, azp = round(-128 - min / s) per row; q as static+azp
- fp8, static:       q = fp8(clamp(x * (1/s), -M, M)) with a per-tensor or per-group s
- fp8, dynamic:      s = absmax(tensor) / M, then as static
- fp8, per token:    s = max(min(absmax, ub) / M, 1 / (512 M)) per row; q = fp8(clamp(x / s, -M, M))

M is 448 for float8_e4m3fn and 224 for float8_e4m3fnuz. Non-finite inputs (where these are our
semantics, not vLLM's; quant_math.h says why):
- the reductions skip NaN and +-inf;
- fp8: a NaN input gives NaN, +-inf give +-M; a NaN made by the scaling alone (0 * (1 / 0))
  gives +M, as in vLLM;
- int8: a NaN input gives 0 (with a zero point: the zero point), +-inf saturate with their sign;
- a constant row c with a zero point takes azp 0 and scale |c| / 127 (q = +-127, which
  dequantizes to c; c = 0: scale 0, q 0); a row with no finite value: scale 0, azp 0.
"""

from __future__ import annotations

import torch

FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e4m3fnuz: 224.0}


def _f32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32)


def _div(a, b):
    return _f32(a.double() / b.double())


def _mul(a, b):
    return _f32(a.double() * b.double())


def _recip(s):
    return _div(torch.ones_like(s), s)


def _rows(x: torch.Tensor) -> torch.Tensor:
    return _f32(x.reshape(-1, x.shape[-1]))


def _round_sat(v: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
    """Round half to even and saturate; NaN gives 0."""
    v = torch.nan_to_num(v.double(), nan=0.0, posinf=float(hi), neginf=float(lo))
    return torch.round(v).clamp(lo, hi).to(torch.int64)


def _int8_azp(xr, inv_scale, azp):
    q32 = _round_sat(_mul(xr, inv_scale), -(2**31), 2**31 - 1)
    wrapped = (q32 + azp.to(torch.int64) + 2**31) % 2**32 - 2**31  # int32 addition wraps
    q = wrapped.clamp(-128, 127)
    return torch.where(torch.isinf(xr), torch.where(xr > 0, 127, -128), q).to(torch.int8)


def static_scaled_int8_quant(x, scale, azp=None):
    xr, s = _rows(x), _f32(scale.reshape(()))
    if azp is None:
        q = _round_sat(_div(xr, s), -128, 127).to(torch.int8)
    else:
        q = _int8_azp(xr, _recip(s), azp.reshape(()))
    return q.reshape(x.shape)


def _finite_only(op, xr, fill):
    return op(torch.where(torch.isfinite(xr), xr, torch.full_like(xr, fill)), dim=1, keepdim=True).values


def _absmax(xr):
    return _finite_only(torch.max, xr.abs(), 0.0).clamp_min(0.0)


def dynamic_scaled_int8_quant(x, symmetric=True):
    """Returns (q, scale [rows, 1], azp [rows, 1] or None)."""
    xr = _rows(x)
    if symmetric:
        amax = _absmax(xr)
        scale = _div(amax, torch.tensor(127.0))
        mult = torch.where(amax == 0, torch.zeros_like(amax), _div(torch.full_like(amax, 127.0), amax))
        q = _round_sat(_mul(xr, mult), -128, 127).to(torch.int8)
        return q.reshape(x.shape), scale, None
    # The reductions start from +-FLT_MAX, which a row with no finite value keeps.
    lo = _finite_only(torch.min, xr, float("inf")).clamp_max(torch.finfo(torch.float32).max)
    hi = _finite_only(torch.max, xr, float("-inf")).clamp_min(-torch.finfo(torch.float32).max)
    spread = hi > lo
    scale = _div(_f32(hi.double() - lo.double()), torch.tensor(255.0))
    azp_f = _f32(torch.full_like(lo, -128.0).double() - _div(lo, scale).double())
    azp = torch.where(spread, _round_sat(azp_f, -(2**31), 2**31 - 1), 0).to(torch.int32)
    constant = torch.where(hi == lo, _div(hi.abs(), torch.tensor(127.0)), torch.zeros_like(hi))
    scale = torch.where(spread, scale, constant)
    q = _int8_azp(xr, _recip(scale), azp)
    return q.reshape(x.shape), scale, azp


def _to_fp8(v: torch.Tensor, dtype, x: torch.Tensor | None = None) -> torch.Tensor:
    """The saturated conversion of v (NaN -> +M); where given, a NaN of the inputs x that v scales
    stays NaN."""
    m = FP8_MAX[dtype]
    v = torch.where(torch.isnan(v), torch.full_like(v, m), v).clamp(-m, m)
    return (v if x is None else torch.where(torch.isnan(x), x, v)).to(dtype)


def _expand_groups(scale, rows, cols, group_shape):
    """The per-element scale matrix for a per-tensor, 1-D (with group_shape) or 2-D scale."""
    s = _f32(scale)
    if s.numel() == 1:
        return s.reshape(1, 1).expand(rows, cols)
    if s.dim() == 1:
        gm = rows if group_shape[0] == -1 else group_shape[0]
        s = s.reshape(1, -1) if rows // gm == 1 else s.reshape(-1, 1)
    return s.repeat_interleave(rows // s.shape[0], 0).repeat_interleave(cols // s.shape[1], 1)


def static_scaled_fp8_quant(x, scale, group_shape=None, dtype=torch.float8_e4m3fn):
    xr = _rows(x)
    full = _expand_groups(scale, xr.shape[0], xr.shape[1], group_shape)
    return _to_fp8(_mul(xr, _recip(full)), dtype, xr).reshape(x.shape)


def dynamic_scaled_fp8_quant(x, dtype=torch.float8_e4m3fn):
    """Returns (q, scale [1])."""
    xr = _rows(x)
    amax = _absmax(xr).max() if xr.numel() else torch.tensor(0.0)
    scale = _div(amax, torch.tensor(FP8_MAX[dtype])).reshape(1)
    return static_scaled_fp8_quant(x, scale, dtype=dtype), scale


def dynamic_per_token_scaled_fp8_quant(x, scale_ub=None, dtype=torch.float8_e4m3fn):
    """Returns (q, scale [rows, 1])."""
    xr = _rows(x)
    m = FP8_MAX[dtype]
    amax = _absmax(xr)
    if scale_ub is not None:
        amax = torch.minimum(amax, _f32(scale_ub.reshape(())))
    min_scale = _div(torch.tensor(1.0), _f32(torch.tensor(m * 512.0)))
    scale = torch.maximum(_div(amax, torch.tensor(m)), min_scale)
    return _to_fp8(_div(xr, scale), dtype, xr).reshape(x.shape), scale
