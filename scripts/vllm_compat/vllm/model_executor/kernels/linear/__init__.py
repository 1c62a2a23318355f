from vllm._compat import module_getattr

__getattr__ = module_getattr(__name__)
