"""None for a required tensor is an error that names the argument (issue 18); before, every op
answered "Not yet supported ScalarType 46, please file an issue"."""

from __future__ import annotations

import pytest
import torch

from vllm_ops._ops import ops


def _gptq(a=True, g_idx=True):
    return ops.gptq_gemm(torch.ones(1, 64, dtype=torch.float16) if a else None, torch.zeros(8, 32, dtype=torch.int32),
                         torch.zeros(1, 4, dtype=torch.int32), torch.ones(1, 32, dtype=torch.float16),
                         torch.empty(0, dtype=torch.int32) if g_idx else None, True, False, 4)


CASES = {
    "silu_and_mul result": (lambda: ops.silu_and_mul(None, torch.empty(2, 8)), "silu_and_mul: result"),
    "silu_and_mul input": (lambda: ops.silu_and_mul(torch.empty(2, 4), None), "silu_and_mul: input"),
    "static_scaled_int8_quant scale": (lambda: ops.static_scaled_int8_quant(
        torch.empty(2, 4, dtype=torch.int8), torch.ones(2, 4), None, None), "static_scaled_int8_quant: scale"),
    "dynamic_scaled_fp8_quant scale": (lambda: ops.dynamic_scaled_fp8_quant(
        torch.empty(2, 4, dtype=torch.float8_e4m3fn), torch.ones(2, 4), None), "dynamic_scaled_fp8_quant: scale"),
    "gptq_gemm a": (lambda: _gptq(a=False), "gptq_gemm: a"),
    "gptq_gemm b_g_idx": (lambda: _gptq(g_idx=False), "gptq_gemm: b_g_idx"),
    "gptq_shuffle q_perm": (lambda: ops.gptq_shuffle(torch.zeros(8, 32, dtype=torch.int32), None, 4),
                            "gptq_shuffle: q_perm"),
    # W is ggml_dequantize's only tensor: a None W dispatches on no device (before: the
    # dispatcher's "There were no tensor arguments to this function").
    "ggml_dequantize W": (lambda: ops.ggml_dequantize(None, 8, 1, 32, None), "ggml_dequantize: W"),
    "ggml_mul_mat_a8 X": (lambda: ops.ggml_mul_mat_a8(torch.zeros(32, 34, dtype=torch.uint8), None, 8, 32),
                          "ggml_mul_mat_a8: X"),
}


@pytest.mark.parametrize("case", CASES)
def test_none_for_a_required_tensor_names_the_argument(case):
    call, prefix = CASES[case]
    with pytest.raises(RuntimeError, match=rf"{prefix} must be a tensor.*, got None"):
        call()
