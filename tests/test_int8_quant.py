"""INT8 W8A8 quantization (static and dynamic, with and without zero points) against the
pure-torch reference: exact, on CPU and (marked) on CUDA."""

from __future__ import annotations

import pytest
import torch
from quant_common import DEVICES, DTYPES, SHAPES, assert_same_bits, make_input

import vllm_ops
from vllm_ops._ops import ops
from vllm_ops.reference import quantization as ref


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,hidden", SHAPES)
@pytest.mark.parametrize("with_azp", [False, True], ids=["symmetric", "azp"])
def test_static_matches_reference(with_azp, lead, hidden, dtype, device):
    x = make_input(lead, hidden, dtype, device)
    scale = torch.tensor([0.0173], device=device)
    azp = torch.tensor([-7], dtype=torch.int32, device=device) if with_azp else None
    out = torch.empty(x.shape, dtype=torch.int8, device=device)
    ops.static_scaled_int8_quant(out, x, scale, azp)
    assert_same_bits(out, ref.static_scaled_int8_quant(x.cpu(), scale.cpu(), None if azp is None else azp.cpu()))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,hidden", SHAPES)
@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "azp"])
def test_dynamic_matches_reference(symmetric, lead, hidden, dtype, device):
    x = make_input(lead, hidden, dtype, device)
    q, scale, azp = vllm_ops.scaled_int8_quant(x, symmetric=symmetric)
    rq, rscale, razp = ref.dynamic_scaled_int8_quant(x.cpu(), symmetric)
    assert_same_bits(scale, rscale)
    if not symmetric:
        assert_same_bits(azp, razp)
    assert_same_bits(q, rq)


@pytest.mark.parametrize("device", DEVICES)
def test_saturation_rounding_and_nan(device):
    # Ties round to even, values past the range saturate, NaN gives 0 and does not reach absmax.
    x = torch.tensor([[0.5, 1.5, 2.5, -0.5, -2.5, 1e9, -1e9, float("nan"), 126.5, 3.0]], device=device)
    out = torch.empty(x.shape, dtype=torch.int8, device=device)
    ops.static_scaled_int8_quant(out, x, torch.tensor([1.0], device=device), None)
    assert out.cpu().tolist() == [[0, 2, 2, 0, -2, 127, -128, 0, 126, 3]]
    q, scale, _ = vllm_ops.scaled_int8_quant(x[:, [0, 7, 9]])
    assert scale.item() == pytest.approx(3.0 / 127) and q.cpu().tolist() == [[21, 0, 127]]


@pytest.mark.parametrize("device", DEVICES)
def test_static_azp_wraps_like_int32(device):
    # x / s saturates to INT32_MAX; adding a positive zero point wraps (as on the GPU), then clamps.
    x = torch.tensor([[1e30, -1e30, 3.0]], device=device)
    out = torch.empty(x.shape, dtype=torch.int8, device=device)
    ops.static_scaled_int8_quant(out, x, torch.tensor([1.0], device=device),
                                   torch.tensor([5], dtype=torch.int32, device=device))
    assert out.cpu().tolist() == ref.static_scaled_int8_quant(x.cpu(), torch.tensor([1.0]), torch.tensor([5])).tolist()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("with_azp", [False, True], ids=["symmetric", "azp"])
def test_opcheck(with_azp, device):
    x = make_input((4,), 40, torch.bfloat16, device)
    out = torch.empty(x.shape, dtype=torch.int8, device=device)
    azp = torch.tensor([3], dtype=torch.int32, device=device) if with_azp else None
    torch.library.opcheck(ops.static_scaled_int8_quant, (out, x, torch.tensor([0.02], device=device), azp))
    scale = torch.empty(4, 1, device=device)
    dyn_azp = torch.empty(4, 1, dtype=torch.int32, device=device) if with_azp else None
    torch.library.opcheck(ops.dynamic_scaled_int8_quant, (out, x, scale, dyn_azp))


def test_wrapper_static_returns_given_scale():
    x = make_input((3,), 16, torch.float16, "cpu")
    scale = torch.tensor([0.05])
    q, s, azp = vllm_ops.scaled_int8_quant(x, scale)
    assert s is scale and azp is None and q.dtype == torch.int8 and q.shape == x.shape


def test_torch_compile_fullgraph():
    compiled = torch.compile(lambda t: vllm_ops.scaled_int8_quant(t, symmetric=False), fullgraph=True)
    x = make_input((8,), 64, torch.float32, "cpu")
    q, s, azp = compiled(x)
    rq, rs, razp = ref.dynamic_scaled_int8_quant(x, False)
    assert_same_bits(q, rq)
    assert_same_bits(s, rs)


# ---- bad inputs: RuntimeError naming the argument ----------------------------------------------

def _static(out=None, x=None, scale=None, azp=None):
    x = torch.ones(4, 8) if x is None else x
    out = torch.empty(x.shape, dtype=torch.int8) if out is None else out
    scale = torch.tensor([0.1]) if scale is None else scale
    ops.static_scaled_int8_quant(out, x, scale, azp)


def _dynamic(out=None, x=None, scale=None, azp=None):
    x = torch.ones(4, 8) if x is None else x
    out = torch.empty(x.shape, dtype=torch.int8) if out is None else out
    scale = torch.empty(4, 1) if scale is None else scale
    ops.dynamic_scaled_int8_quant(out, x, scale, azp)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: _static(x=torch.ones(4, 8, dtype=torch.int32)), r"static_scaled_int8_quant: input must have dtype Float or Half or BFloat16, got Int"),
        (lambda: _static(out=torch.empty(4, 8)), r"static_scaled_int8_quant: result must have dtype Char, got Float"),
        (lambda: _static(out=torch.empty(4, 9, dtype=torch.int8)), r"static_scaled_int8_quant: result must have the shape of input \(\[4, 8\]\), got \[4, 9\]"),
        (lambda: _static(x=torch.ones(8, 4).t()), r"static_scaled_int8_quant: input must be contiguous"),
        (lambda: _static(scale=torch.tensor([0.1, 0.2])), r"static_scaled_int8_quant: scale must have 1 element .*got shape \[2\]"),
        (lambda: _static(scale=torch.tensor([0.1], dtype=torch.float16)), r"static_scaled_int8_quant: scale must have dtype Float, got Half"),
        (lambda: _static(azp=torch.tensor([1.0])), r"static_scaled_int8_quant: azp must have dtype Int, got Float"),
        (lambda: _static(azp=torch.tensor([1, 2], dtype=torch.int32)), r"static_scaled_int8_quant: azp must have 1 element"),
        (lambda: _dynamic(scale=torch.empty(3, 1)), r"dynamic_scaled_int8_quant: scale must have 4 elements \(one per row of input\), got shape \[3, 1\]"),
        (lambda: _dynamic(scale=torch.empty(4, 1, dtype=torch.float64)), r"dynamic_scaled_int8_quant: scale must have dtype Float, got Double"),
        (lambda: _dynamic(azp=torch.empty(4, 1)), r"dynamic_scaled_int8_quant: azp must have dtype Int, got Float"),
        (lambda: _dynamic(azp=torch.empty(2, dtype=torch.int32)), r"dynamic_scaled_int8_quant: azp must have 4 elements"),
        (lambda: _dynamic(x=torch.ones(8, 4).t(), out=torch.empty(4, 8, dtype=torch.int8)), r"dynamic_scaled_int8_quant: input must be contiguous"),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_wrapper_rejects_azp_for_symmetric():
    with pytest.raises(ValueError, match="azp must be given exactly when symmetric=False"):
        vllm_ops.scaled_int8_quant(torch.ones(2, 4), torch.tensor([0.1]), torch.tensor([1], dtype=torch.int32))


@pytest.mark.parametrize("call, error, message", [
    (lambda: vllm_ops.scaled_int8_quant(torch.tensor(1.0)), ValueError, "input must have at least one dimension"),
    (lambda: vllm_ops.scaled_int8_quant([[1.0, 2.0]]), TypeError, "input must be a torch.Tensor, got list"),
    (lambda: vllm_ops.scaled_int8_quant(torch.ones(2, 4), azp=torch.zeros(1, dtype=torch.int32), symmetric=False),
     ValueError, "azp is an input of the static path only"),
])
def test_wrapper_names_what_is_wrong(call, error, message):
    # Before: IndexError, AttributeError, and an azp silently ignored (issue 18).
    with pytest.raises(error, match=message):
        call()


def test_wrapper_takes_non_contiguous_input_on_both_paths():
    x = torch.randn(8, 6).t()  # [6, 8], not contiguous
    scale = torch.tensor([0.02])
    q_static, _, _ = vllm_ops.scaled_int8_quant(x, scale)
    assert_same_bits(q_static, ref.static_scaled_int8_quant(x.contiguous(), scale, None))
    q_dynamic, s_dynamic, _ = vllm_ops.scaled_int8_quant(x)
    rq, rs, _ = ref.dynamic_scaled_int8_quant(x.contiguous(), True)
    assert_same_bits(q_dynamic, rq)
    assert_same_bits(s_dynamic, rs)


@pytest.mark.cuda
def test_cuda_rejects_scale_on_other_device():
    x = torch.ones(2, 8, device="cuda")
    with pytest.raises(RuntimeError, match=r"static_scaled_int8_quant: scale must be on the device of input \(cuda:0\), got cpu"):
        _static(x=x, out=torch.empty(2, 8, dtype=torch.int8, device="cuda"), scale=torch.tensor([0.1]))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cuda_matches_cpu_kernel(dtype):
    x = make_input((65,), 1032, dtype, "cuda", seed=3)
    for symmetric in (True, False):
        gpu = vllm_ops.scaled_int8_quant(x, symmetric=symmetric)
        cpu = vllm_ops.scaled_int8_quant(x.cpu(), symmetric=symmetric)
        for g, c in zip(gpu, cpu, strict=False):
            if g is not None:
                assert_same_bits(g, c)


@pytest.mark.cuda
def test_cuda_more_than_2_pow_31_elements():
    # Row offsets past 2^31 elements: vLLM once overflowed an int32 index here.
    rows, hidden = (1 << 31) // 4096 + 3, 4096
    x = torch.empty(rows, hidden, dtype=torch.bfloat16, device="cuda").normal_()
    q, scale, azp = vllm_ops.scaled_int8_quant(x, symmetric=False)
    tail = x[-5:].cpu()
    rq, rscale, razp = ref.dynamic_scaled_int8_quant(tail, False)
    assert_same_bits(q[-5:], rq)
    assert_same_bits(scale[-5:], rscale)
    q, _, _ = vllm_ops.scaled_int8_quant(x, torch.tensor([0.02], device="cuda"))
    assert_same_bits(q[-5:], ref.static_scaled_int8_quant(tail, torch.tensor([0.02])))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "azp"])
def test_dynamic_int8_skips_non_finite_values(symmetric, device):
    # int8 has no NaN: a NaN gives 0; +-inf saturate with their sign, and the scale (and zero
    # point) come from the finite values (one inf used to make every other element 0).
    inf, nan = float("inf"), float("nan")
    x = torch.tensor([[1.0, -2.0, 4.0, -inf, inf, nan]], device=device)
    q, scale, azp = vllm_ops.scaled_int8_quant(x, symmetric=symmetric)
    rq, rscale, razp = ref.dynamic_scaled_int8_quant(x.cpu(), symmetric)
    assert_same_bits(q, rq)
    assert_same_bits(scale, rscale)
    assert scale.isfinite().all() and scale.item() > 0
    got = q.cpu().tolist()[0]
    assert got[3] == -128 and got[4] == 127 and (got[5] == 0 if symmetric else got[5] == razp.item())
    if not symmetric:
        assert_same_bits(azp, razp)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("value", [3.0, -0.75, 0.0], ids=["positive", "negative", "zero"])
def test_constant_row_with_zero_point_round_trips(value, device):
    # max == min: vLLM's scale is 0 and its zero point INT32_MIN, so (q - azp) * scale is 0, not
    # the row's value. Now azp 0, scale |c| / 127, q = +-127.
    x = torch.full((2, 8), value, device=device)
    q, scale, azp = vllm_ops.scaled_int8_quant(x, symmetric=False)
    rq, rscale, razp = ref.dynamic_scaled_int8_quant(x.cpu(), False)
    assert_same_bits(q, rq)
    assert_same_bits(scale, rscale)
    assert_same_bits(azp, razp)
    assert (azp == 0).all()
    back = (q.float() - azp.float()) * scale
    torch.testing.assert_close(back, x, rtol=1e-6, atol=0)
