"""vllm.utils: only the submodules the kernel tests import are real (see torch_utils, math_utils, deep_gemm)."""

from vllm._compat import module_getattr

__getattr__ = module_getattr(__name__)
