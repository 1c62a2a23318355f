"""set_random_seed, as the tests call it (Python, NumPy and torch generators)."""

from __future__ import annotations

import random

import torch

from vllm._compat import module_getattr


def set_random_seed(seed: int | None) -> None:
    if seed is None:
        return
    random.seed(seed)
    try:
        import numpy
    except ImportError:
        pass
    else:
        numpy.random.seed(seed)
    torch.manual_seed(seed)
    from vllm.platforms import current_platform

    current_platform.manual_seed_all(seed)


__getattr__ = module_getattr(__name__)
