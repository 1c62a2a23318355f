"""Pure-torch activation references.

Math runs in float64 on the inputs' values and is rounded to the output dtype at the points
where the op's definition rounds: gated ops round the activation before the product, and
gelu_new/gelu_fast do some of their steps in the storage dtype.
"""

from __future__ import annotations

import math

import torch


def _silu(x):
    return x * torch.sigmoid(x)


def _gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _gelu_quick(x):
    return x * torch.sigmoid(1.702 * x)


def _halves(x):
    d = x.shape[-1] // 2
    return x[..., :d].double(), x[..., d:].double()


def _act_then_mul(act, x, act_on_first=True):
    first, second = _halves(x)
    if act_on_first:
        return (act(first).to(x.dtype).double() * second).to(x.dtype)
    return (first * act(second).to(x.dtype).double()).to(x.dtype)


def silu_and_mul(x):
    return _act_then_mul(_silu, x)


def mul_and_silu(x):
    return _act_then_mul(_silu, x, act_on_first=False)


def gelu_and_mul(x):
    return _act_then_mul(_gelu_erf, x)


def gelu_tanh_and_mul(x):
    return _act_then_mul(_gelu_tanh, x)


def fatrelu_and_mul(x, threshold=0.0):
    return _act_then_mul(lambda g: torch.where(g > threshold, g, torch.zeros_like(g)), x)


def silu_and_mul_with_clamp(x, limit):
    gate, up = _halves(x)
    act = _silu(gate.clamp(max=limit)).to(x.dtype).double()
    return (act * up.clamp(-limit, limit)).to(x.dtype)


def swigluoai_and_mul(x, alpha=1.702, limit=7.0):
    gate = x[..., 0::2].double().clamp(max=limit)
    up = x[..., 1::2].double().clamp(-limit, limit)
    return ((up + 1.0) * gate * torch.sigmoid(alpha * gate)).to(x.dtype)


def _in(dtype):
    """One arithmetic step in the storage dtype: exact math, then rounding to `dtype`."""
    return lambda v: v.to(dtype).double()


def gelu_new(x):
    # tanh-GELU whose cube, polynomial and final product are storage-dtype arithmetic.
    r, v = _in(x.dtype), x.double()
    cube = r(r(v * v) * v)
    poly = r(v + r(0.044715 * cube))
    t = r(torch.tanh(r(0.79788456 * poly)))
    return (r(0.5 * v) * r(1.0 + t)).to(x.dtype)


def gelu_fast(x):
    # The same with the polynomial factored: 0.79788456 x * (1 + 0.044715 x * x).
    r, v = _in(x.dtype), x.double()
    poly = r(1.0 + r(r(0.044715 * v) * v))
    t = r(torch.tanh(r(r(v * 0.79788456) * poly)))
    return (r(0.5 * v) * r(1.0 + t)).to(x.dtype)


def gelu_quick(x):
    return _gelu_quick(x.double()).to(x.dtype)
