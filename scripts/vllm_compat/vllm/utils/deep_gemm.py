"""DeepGEMM is not part of vllm-ops: its E8M0 scale mode is never in use."""

import torch

from vllm._compat import module_getattr


def is_deep_gemm_e8m0_used() -> bool:
    return False


def is_deep_gemm_supported() -> bool:
    return False


def _ceil_to_ue8m0(x: torch.Tensor) -> torch.Tensor:
    """Round |x| up to a power of two (the UE8M0 scale format)."""
    return torch.exp2(torch.ceil(torch.log2(x.abs())))


__getattr__ = module_getattr(__name__)
