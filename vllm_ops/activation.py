"""Activation wrappers: allocate the output, call the op, return the output."""

from __future__ import annotations

import torch

from ._ops import ops


def _gated(op, x: torch.Tensor, out: torch.Tensor | None, *args) -> torch.Tensor:
    if out is None:
        out = torch.empty(x.shape[:-1] + (x.shape[-1] // 2,), dtype=x.dtype, device=x.device)
    op(out, x, *args)
    return out


def _unary(op, x: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    op(out, x)
    return out


def silu_and_mul(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """silu(x[..., :d]) * x[..., d:] with d = x.shape[-1] // 2."""
    return _gated(ops.silu_and_mul, x, out)


def mul_and_silu(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """x[..., :d] * silu(x[..., d:])."""
    return _gated(ops.mul_and_silu, x, out)


def silu_and_mul_with_clamp(x: torch.Tensor, limit: float, out: torch.Tensor | None = None) -> torch.Tensor:
    """silu(min(gate, limit)) * clamp(up, -limit, limit) over the halves of x."""
    return _gated(ops.silu_and_mul_with_clamp, x, out, limit)


def gelu_and_mul(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Exact (erf) GELU of the first half times the second half."""
    return _gated(ops.gelu_and_mul, x, out)


def gelu_tanh_and_mul(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """tanh-approximated GELU of the first half times the second half."""
    return _gated(ops.gelu_tanh_and_mul, x, out)


def fatrelu_and_mul(x: torch.Tensor, threshold: float = 0.0, out: torch.Tensor | None = None) -> torch.Tensor:
    """(gate if gate > threshold else 0) * up over the halves of x."""
    return _gated(ops.fatrelu_and_mul, x, out, threshold)


def swigluoai_and_mul(
    x: torch.Tensor, alpha: float = 1.702, limit: float = 7.0, out: torch.Tensor | None = None
) -> torch.Tensor:
    """gpt-oss SwiGLU over interleaved gate/up pairs: (up + 1) * gate * sigmoid(alpha * gate)."""
    return _gated(ops.swigluoai_and_mul, x, out, alpha, limit)


def gelu_new(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    return _unary(ops.gelu_new, x, out)


def gelu_fast(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    return _unary(ops.gelu_fast, x, out)


def gelu_quick(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """x * sigmoid(1.702 x)."""
    return _unary(ops.gelu_quick, x, out)
