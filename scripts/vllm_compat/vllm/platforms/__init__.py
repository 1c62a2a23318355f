"""`vllm.platforms.current_platform` for the compat run.

The tests target CUDA, so the platform presents itself as CUDA (ROCm under a HIP torch on
--device cuda) on both devices. With --device cpu the tensors the tests put on "cuda" live on
the CPU (the pytest plugin maps them) and the device capability is VLLM_COMPAT_CAPABILITY
(default 9.0, an H100/H200), so capability-gated tests run and say what our CPU build does
with them. The fp8 flavour is the one vllm_ops picks for the device.
"""

from __future__ import annotations

import enum
import os
from typing import NamedTuple

import torch

from vllm._compat import Placeholder, compat_device, module_getattr
from vllm_ops.quantization import default_fp8_dtype


class DeviceCapability(NamedTuple):
    major: int
    minor: int

    def as_version_str(self) -> str:
        return f"{self.major}.{self.minor}"

    def to_int(self) -> int:
        return self.major * 10 + self.minor


class PlatformEnum(enum.Enum):
    CUDA = enum.auto()
    ROCM = enum.auto()
    CPU = enum.auto()


def _capability_from_env() -> DeviceCapability:
    text = os.environ.get("VLLM_COMPAT_CAPABILITY", "9.0")
    try:
        major, minor = (int(part) for part in text.split("."))
    except ValueError:
        raise ValueError(f"VLLM_COMPAT_CAPABILITY must look like 9.0, got {text!r}") from None
    return DeviceCapability(major, minor)


class CompatPlatform:
    """The subset of vLLM's Platform interface that kernel tests consult."""

    device_type = "cuda"
    device_name = "cuda"
    dispatch_key = "CUDA"

    def __init__(self, device: str):
        self.compat_device = device
        self._hip = device == "cuda" and bool(torch.version.hip)
        self._enum = PlatformEnum.ROCM if self._hip else PlatformEnum.CUDA

    def is_cuda(self) -> bool:
        return self._enum == PlatformEnum.CUDA

    def is_rocm(self) -> bool:
        return self._enum == PlatformEnum.ROCM

    def is_cuda_alike(self) -> bool:
        return True

    def is_cpu(self) -> bool:
        return False

    def is_xpu(self) -> bool:
        return False

    def is_tpu(self) -> bool:
        return False

    def is_out_of_tree(self) -> bool:
        return False

    def get_device_capability(self, device_id: int = 0) -> DeviceCapability:
        if self.compat_device == "cuda":
            return DeviceCapability(*torch.cuda.get_device_capability(device_id))
        return _capability_from_env()

    def has_device_capability(self, capability, device_id: int = 0) -> bool:
        current = self.get_device_capability(device_id)
        if isinstance(capability, tuple):
            return tuple(current) >= tuple(capability)
        return current.to_int() >= capability

    def is_device_capability(self, capability, device_id: int = 0) -> bool:
        current = self.get_device_capability(device_id)
        if isinstance(capability, tuple):
            return tuple(current) == tuple(capability)
        return current.to_int() == capability

    def get_device_name(self, device_id: int = 0) -> str:
        if self.compat_device == "cuda":
            return torch.cuda.get_device_name(device_id)
        return f"cpu (standing in for a compute capability {self.get_device_capability().as_version_str()} GPU)"

    def fp8_dtype(self) -> torch.dtype:
        return default_fp8_dtype(torch.device(self.compat_device))

    def is_fp8_fnuz(self) -> bool:
        return self.fp8_dtype() == torch.float8_e4m3fnuz

    def manual_seed_all(self, seed: int) -> None:
        if self.compat_device == "cuda":
            torch.cuda.manual_seed_all(seed)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return Placeholder(f"vllm.platforms.current_platform.{name}")


current_platform = CompatPlatform(compat_device())

__getattr__ = module_getattr(__name__)
