"""A meta tensor among real ones is an error on every op family, never a silent no-op (issue 18):
the Meta dispatch key wins such a call, so it reaches the fake, which checks that all tensor
arguments share one device before anything else. A call on meta tensors only still traces."""

from __future__ import annotations

import pytest
import torch

from vllm_ops._ops import ops

META = torch.device("meta")


def _gptq_args(device_of_a):
    k, n = 64, 32
    a = torch.empty(2, k, dtype=torch.float16, device=device_of_a)
    return (a, torch.zeros(k * 4 // 32, n, dtype=torch.int32), torch.zeros(1, n * 4 // 32, dtype=torch.int32),
            torch.ones(1, n, dtype=torch.float16), torch.empty(0, dtype=torch.int32), True, False, 4)


CASES = {
    "activation": (lambda d: ops.silu_and_mul(torch.empty(2, 4), torch.empty(2, 8, device=d)), "input"),
    "int8": (lambda d: ops.static_scaled_int8_quant(torch.empty(2, 4, dtype=torch.int8), torch.ones(2, 4),
                                                    torch.ones(1, device=d), None), "scale"),
    "fp8": (lambda d: ops.static_scaled_fp8_quant(torch.empty(2, 4, dtype=torch.float8_e4m3fn), torch.ones(2, 4),
                                                  torch.ones(1, device=d), None), "scale"),
    "fp8 dynamic": (lambda d: ops.dynamic_scaled_fp8_quant(torch.empty(2, 4, dtype=torch.float8_e4m3fn),
                                                           torch.ones(2, 4, device=d), torch.empty(1)), "input"),
    "gptq": (lambda d: ops.gptq_gemm(*_gptq_args(d)), "b_q_weight"),
    "gguf": (lambda d: ops.ggml_mul_mat_a8(torch.zeros(32, 34, dtype=torch.uint8),
                                           torch.empty(2, 32, device=d), 8, 32), "X"),
}


@pytest.mark.parametrize("family", CASES)
def test_a_meta_tensor_among_cpu_tensors_is_an_error(family):
    call, name = CASES[family]
    with pytest.raises(RuntimeError, match=rf"{name} must be on the device of .*got (meta|cpu)"):
        call(META)


def test_meta_only_calls_still_trace():
    out = torch.empty(2, 4, device=META)
    ops.silu_and_mul(out, torch.empty(2, 8, device=META))
    assert ops.gptq_gemm(*[t.to(META) if isinstance(t, torch.Tensor) else t for t in _gptq_args(META)]).shape == (2, 32)
