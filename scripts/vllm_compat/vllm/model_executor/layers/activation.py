"""The activation layers vLLM's activation test uses: forward_cuda runs vllm_ops' kernel,
forward_native is the pure-torch definition the test checks it against.

SwigluStepAndMul's fused kernel is a Triton kernel in vLLM, not part of vllm-ops:
swiglustep_and_mul_triton raises NotProvidedError.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import vllm_ops
from vllm._compat import NotProvidedError, module_getattr
from vllm.model_executor.custom_op import CustomOp


def _halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    d = x.shape[-1] // 2
    return x[..., :d], x[..., d:]


def swiglustep_and_mul_triton(output: torch.Tensor, input: torch.Tensor, limit: float = 7.0) -> None:
    raise NotProvidedError("vllm.model_executor.layers.activation.swiglustep_and_mul_triton",
                           "a Triton kernel of vLLM's, no vllm-ops op")


@CustomOp.register("fatrelu_and_mul")
class FatreluAndMul(CustomOp):
    """threshold(x[..., :d]) * x[..., d:]: the gate is zeroed unless it exceeds threshold."""

    def __init__(self, threshold: float = 0.0):
        super().__init__()
        self.threshold = threshold

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = _halves(x)
        return F.threshold(gate, self.threshold, 0.0) * up

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.fatrelu_and_mul(x, self.threshold)


@CustomOp.register("silu_and_mul")
class SiluAndMul(CustomOp):
    """silu(x[..., :d]) * x[..., d:]."""

    def __init__(self, *, compile_native: bool = True):
        super().__init__(compile_native=compile_native)

    @staticmethod
    def forward_native(x: torch.Tensor) -> torch.Tensor:
        gate, up = _halves(x)
        return F.silu(gate) * up

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.silu_and_mul(x)


@CustomOp.register("silu_and_mul_with_clamp")
class SiluAndMulWithClamp(CustomOp):
    """silu(min(gate, limit)) * clamp(up, -limit, limit)."""

    def __init__(self, swiglu_limit: float, *, compile_native: bool = True):
        super().__init__(compile_native=compile_native)
        self.swiglu_limit = float(swiglu_limit)

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = _halves(x)
        limit = self.swiglu_limit
        return F.silu(gate.clamp(max=limit)) * up.clamp(min=-limit, max=limit)

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.silu_and_mul_with_clamp(x, self.swiglu_limit)


@CustomOp.register("mul_and_silu")
class MulAndSilu(CustomOp):
    """x[..., :d] * silu(x[..., d:])."""

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        first, second = _halves(x)
        return first * F.silu(second)

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.mul_and_silu(x)


@CustomOp.register("gelu_and_mul")
class GeluAndMul(CustomOp):
    """gelu(x[..., :d]) * x[..., d:], exact (erf) or tanh-approximated."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"Unknown approximate mode: {approximate}")
        self.approximate = approximate

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = _halves(x)
        return F.gelu(gate, approximate=self.approximate) * up

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        if self.approximate == "tanh":
            return vllm_ops.gelu_tanh_and_mul(x)
        return vllm_ops.gelu_and_mul(x)


@CustomOp.register("swigluoai_and_mul")
class SwigluOAIAndMul(CustomOp):
    """gpt-oss SwiGLU over interleaved (gate, up) pairs, both clamped by limit."""

    def __init__(self, alpha: float = 1.702, limit: float = 7.0):
        super().__init__()
        self.alpha = alpha
        self.limit = limit

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        gate = x[..., 0::2].clamp(max=self.limit)
        up = x[..., 1::2].clamp(min=-self.limit, max=self.limit)
        return (up + 1) * (gate * torch.sigmoid(self.alpha * gate))

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.swigluoai_and_mul(x, self.alpha, self.limit)


@CustomOp.register("swiglustep_and_mul")
class SwigluStepAndMul(CustomOp):
    """min(silu(gate), limit) * clamp(up, -limit, limit)."""

    def __init__(self, limit: float = 7.0):
        super().__init__()
        if limit is None:
            raise ValueError("SwigluStepAndMul requires limit to be set.")
        self.limit = limit

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = _halves(x)
        return F.silu(gate).clamp(max=self.limit) * up.clamp(min=-self.limit, max=self.limit)

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        gate, _ = _halves(x)
        out = torch.empty_like(gate, memory_format=torch.contiguous_format)
        swiglustep_and_mul_triton(out, x, self.limit)
        return out


@CustomOp.register("gelu_new")
class NewGELU(CustomOp):
    """GPT-2's tanh GELU: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
        return 0.5 * x * (1.0 + torch.tanh(inner))

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.gelu_new(x)


@CustomOp.register("gelu_fast")
class FastGELU(CustomOp):
    """0.5 x (1 + tanh(0.7978845608 x (1 + 0.044715 x^2)))."""

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.gelu_fast(x)


@CustomOp.register("quick_gelu")
class QuickGELU(CustomOp):
    """x sigmoid(1.702 x)."""

    def forward_native(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)

    def forward_cuda(self, x: torch.Tensor) -> torch.Tensor:
        return vllm_ops.gelu_quick(x)


__getattr__ = module_getattr(__name__)
