"""Outputs that share memory with their inputs, or whose rows overlap, are errors on every op
that writes rows (issue 18). Before, an activation's out overlapping its input was silently
corrupted once several threads ran, and the fp8 ops took stride-0 and overlapping-row outputs."""

from __future__ import annotations

import pytest
import torch

from vllm_ops._ops import ops

FP8 = torch.float8_e4m3fn


def _aliased(base: torch.Tensor, dtype: torch.dtype, shape) -> torch.Tensor:
    """A contiguous tensor of `shape` and `dtype` over the first bytes of `base`."""
    return base.view(-1).view(dtype)[: torch.Size(shape).numel()].view(shape)


def _overlap_cases():
    x = torch.randn(4, 16)
    yield "silu_and_mul", lambda: ops.silu_and_mul(_aliased(x, torch.float32, (4, 8)), x), "result"
    x2 = torch.randn(4, 16)
    yield "gelu_fast", lambda: ops.gelu_fast(_aliased(x2, torch.float32, (4, 16)), x2), "out"
    x3 = torch.randn(2, 8)
    yield "static_scaled_int8_quant", lambda: ops.static_scaled_int8_quant(
        _aliased(x3, torch.int8, (2, 8)), x3, torch.tensor([0.1]), None), "result"
    x4 = torch.randn(2, 8)
    yield "static_scaled_fp8_quant", lambda: ops.static_scaled_fp8_quant(
        _aliased(x4, FP8, (2, 8)), x4, torch.tensor([0.1]), None), "result"
    x5 = torch.randn(2, 8)
    out5 = torch.empty(2, 8, dtype=FP8)
    yield "dynamic_scaled_fp8_quant scale in input", lambda: ops.dynamic_scaled_fp8_quant(
        out5, x5, _aliased(x5, torch.float32, (1,))), "scale"
    x6 = torch.randn(2, 8)
    out6 = torch.empty(2, 8, dtype=torch.int8)
    yield "dynamic_scaled_int8_quant scale in result", lambda: ops.dynamic_scaled_int8_quant(
        out6, x6, _aliased(out6, torch.float32, (2, 1)), None), "scale"


OVERLAP = {name: (call, arg) for name, call, arg in _overlap_cases()}


@pytest.mark.parametrize("case", OVERLAP)
def test_an_output_sharing_memory_with_an_input_is_an_error(case):
    call, arg = OVERLAP[case]
    with pytest.raises(RuntimeError, match=rf"{arg} must not share memory with (input|result)"):
        call()


@pytest.mark.parametrize("layout", ["stride 0 (expand)", "overlapping rows (as_strided)"])
@pytest.mark.parametrize("op", ["static", "dynamic", "per_token"])
def test_fp8_outputs_with_overlapping_rows_are_errors(layout, op):
    x = torch.randn(3, 4)
    if layout.startswith("stride 0"):
        out = torch.zeros(1, 4, dtype=FP8).expand(3, 4)
    else:
        out = torch.zeros(8, dtype=FP8).as_strided((3, 4), (2, 1))
    call = {
        "static": lambda: ops.static_scaled_fp8_quant(out, x, torch.tensor([0.1]), None),
        "dynamic": lambda: ops.dynamic_scaled_fp8_quant(out, x, torch.empty(1)),
        "per_token": lambda: ops.dynamic_per_token_scaled_fp8_quant(out, x, torch.empty(3, 1), None),
    }[op]
    with pytest.raises(RuntimeError, match=r"result must not have overlapping rows \(row stride at least 4\)"):
        call()


def test_row_strided_fp8_outputs_that_do_not_overlap_still_work():
    # vLLM takes these (a column slice of a wider buffer): they must keep working.
    x = torch.randn(3, 4)
    wide = torch.zeros(3, 8, dtype=FP8)
    ops.static_scaled_fp8_quant(wide[:, :4], x, torch.tensor([0.1]), None)
    assert wide[:, 4:].float().abs().sum() == 0 and wide[:, :4].float().abs().sum() > 0
