"""A stand-in `vllm` package for running vLLM 0.22.0's kernel tests against vllm-ops.

It is written for scripts/vllm-compat.sh and is no part of vLLM: the modules here carry the
names vLLM's tests import, implemented on top of `vllm_ops` (custom ops, activation layers,
quantization helpers, a platform object) or, for names those tests only import, placeholders
that raise NotProvidedError when used (see vllm/_compat.py).

Importing it loads vllm_ops and points torch.ops._C at vllm_ops' namespace, because the tests
call `torch.ops._C.<op>` directly.
"""

import vllm_ops
from vllm._compat import alias_c_namespace, install_placeholder_modules, module_getattr

__version__ = "0.22.0"  # the vLLM release whose tests this adapter serves

install_placeholder_modules()
alias_c_namespace(vllm_ops.namespace)

__getattr__ = module_getattr(__name__)
