"""CustomOp: an nn.Module whose forward picks the platform's implementation.

On the compat platform (CUDA-like) that is forward_cuda, which the activation layers implement
with vllm_ops; forward_native stays the pure-torch reference the tests compare against.
"""

from __future__ import annotations

import torch.nn as nn

from vllm._compat import module_getattr
from vllm.platforms import current_platform

op_registry: dict[str, type[CustomOp]] = {}


class CustomOp(nn.Module):
    name: str = ""

    def __init__(self, *, enforce_enable: bool = False, compile_native: bool = True):
        super().__init__()
        self.compile_native = compile_native
        self._forward_method = self.dispatch_forward()

    def forward(self, *args, **kwargs):
        return self._forward_method(*args, **kwargs)

    def dispatch_forward(self):
        if current_platform.is_rocm():
            return self.forward_hip
        if current_platform.is_cuda_alike():
            return self.forward_cuda
        return self.forward_native

    def forward_native(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward_native")

    def forward_cuda(self, *args, **kwargs):
        return self.forward_native(*args, **kwargs)

    def forward_hip(self, *args, **kwargs):
        return self.forward_cuda(*args, **kwargs)

    @classmethod
    def register(cls, name: str):
        def decorator(op_cls: type[CustomOp]) -> type[CustomOp]:
            if name in op_registry:
                raise ValueError(f"duplicate CustomOp name {name!r}")
            op_cls.name = name
            op_registry[name] = op_cls
            return op_cls

        return decorator


__getattr__ = module_getattr(__name__)
