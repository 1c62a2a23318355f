"""FP8 W8A8 quantization (static per tensor and per group, dynamic per tensor and per token)
against the pure-torch reference: exact, for both fp8 flavours, on CPU and (marked) on CUDA."""

from __future__ import annotations

import pytest
import torch
from quant_common import DEVICES, DTYPES, SHAPES, assert_same_bits, make_input

import vllm_ops
from vllm_ops._ops import ops
from vllm_ops.reference import quantization as ref

FP8_DTYPES = [torch.float8_e4m3fn, torch.float8_e4m3fnuz]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fp8", FP8_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,hidden", SHAPES)
def test_static_per_tensor_matches_reference(lead, hidden, dtype, fp8, device):
    x = make_input(lead, hidden, dtype, device)
    scale = torch.tensor([0.0173], device=device)
    out = torch.empty(x.shape, dtype=fp8, device=device)
    ops.static_scaled_fp8_quant(out, x, scale, None)
    assert_same_bits(out, ref.static_scaled_fp8_quant(x.cpu(), scale.cpu(), dtype=fp8))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fp8", FP8_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,hidden", SHAPES)
def test_dynamic_per_tensor_matches_reference(lead, hidden, dtype, fp8, device):
    x = make_input(lead, hidden, dtype, device)
    scale = torch.full((1,), 1e9, device=device)  # the op overwrites it, whatever it held
    out = torch.empty(x.shape, dtype=fp8, device=device)
    ops.dynamic_scaled_fp8_quant(out, x, scale)
    rq, rscale = ref.dynamic_scaled_fp8_quant(x.cpu(), fp8)
    assert_same_bits(scale, rscale)
    assert_same_bits(out, rq)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fp8", FP8_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,hidden", SHAPES)
@pytest.mark.parametrize("with_ub", [False, True], ids=["no_ub", "scale_ub"])
def test_per_token_matches_reference(with_ub, lead, hidden, dtype, fp8, device):
    x = make_input(lead, hidden, dtype, device)
    ub = torch.tensor([2.5], device=device) if with_ub else None
    rows = x.numel() // hidden
    scale = torch.empty(rows, 1, device=device)
    out = torch.empty(x.shape, dtype=fp8, device=device)
    ops.dynamic_per_token_scaled_fp8_quant(out, x, scale, ub)
    rq, rscale = ref.dynamic_per_token_scaled_fp8_quant(x.cpu(), None if ub is None else ub.cpu(), fp8)
    assert_same_bits(scale, rscale)
    assert_same_bits(out, rq)


@pytest.mark.parametrize("device", DEVICES)
def test_dynamic_per_tensor_takes_a_longer_scale_buffer(device):
    """issue 18: vLLM's own tests pass a [tokens, 1] buffer to dynamic_scaled_fp8_quant and read
    element 0; the rest of the buffer is left as it was."""
    x = make_input((7,), 64, torch.float16, device)
    scale = torch.full((7, 1), -5.0, device=device)
    out = torch.empty(7, 64, dtype=torch.float8_e4m3fn, device=device)
    ops.dynamic_scaled_fp8_quant(out, x, scale)
    rq, rscale = ref.dynamic_scaled_fp8_quant(x.cpu())
    assert_same_bits(scale[:1, 0], rscale)
    assert (scale[1:] == -5.0).all()
    assert_same_bits(out, rq)


@pytest.mark.parametrize("bound", [float("nan"), -1.0, 0.0, float("inf")], ids=["nan", "negative", "zero", "inf"])
def test_per_token_scale_ub_edge_values_take_effect(bound):
    """issue 18: a NaN bound was dropped by fminf (the cap silently off); now its scales are NaN,
    as the reference's torch.minimum gives. A negative bound acts as 0 (the minimum scale)."""
    x = make_input((4,), 64, torch.float32, "cpu")
    scale, out = torch.empty(4, 1), torch.empty(4, 64, dtype=torch.float8_e4m3fn)
    ops.dynamic_per_token_scaled_fp8_quant(out, x, scale, torch.tensor([bound]))
    rq, rscale = ref.dynamic_per_token_scaled_fp8_quant(x, torch.tensor([bound]), torch.float8_e4m3fn)
    assert_same_bits(scale, rscale)
    assert_same_bits(out, rq)
    if bound != bound:
        assert scale.isnan().all()
    elif bound <= 0:
        assert (scale == 1.0 / (448.0 * 512.0)).all()


# (rows, cols, scale shape, group_shape): DeepSeek (1, 128) groups, 128x128-style blocks, per
# column and per token as 1-D scales, 2-D scales with and without an explicit group_shape, groups
# narrower than and as wide as one vector.
GROUPS = [
    (64, 1024, (64, 8), (1, 128)),
    (64, 1024, (4, 8), None),
    (64, 1024, (4, 16), (16, 64)),
    (64, 1024, (1024,), (-1, 1)),
    (64, 1024, (64,), (1, -1)),
    (64, 1024, (64, 1), None),
    (64, 1024, (1, 1024), None),
    (16, 256, (4, 64), (4, 4)),  # groups narrower than a 16-byte fp16/bf16 vector
    (8, 256, (8, 32), (1, 8)),
    (6, 20, (3, 5), (2, 4)),
    (5, 7, (1,), (-1, -1)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rows,cols,scale_shape,group_shape", GROUPS)
def test_static_groups_match_reference(rows, cols, scale_shape, group_shape, dtype, device):
    x = make_input((rows,), cols, dtype, device)
    g = torch.Generator().manual_seed(1)
    scale = (torch.rand(scale_shape, generator=g) * 0.05 + 0.001).to(device)
    q, s = vllm_ops.scaled_fp8_quant(x, scale, group_shape=group_shape, out_dtype=torch.float8_e4m3fn)
    assert s is scale
    assert_same_bits(q, ref.static_scaled_fp8_quant(x.cpu(), scale.cpu(), group_shape))


@pytest.mark.parametrize("device", DEVICES)
def test_transposed_2d_scale(device):
    x = make_input((64,), 256, torch.bfloat16, device)
    scale = (torch.rand(2, 64) * 0.05 + 0.001).to(device).t()  # [64, 2], column-major
    q, _ = vllm_ops.scaled_fp8_quant(x, scale, out_dtype=torch.float8_e4m3fn)
    assert_same_bits(q, ref.static_scaled_fp8_quant(x.cpu(), scale.cpu().contiguous()))


@pytest.mark.parametrize("device", DEVICES)
def test_strided_rows_and_padded_output(device):
    # A column slice as input and an output with extra (padding) rows, which stay untouched.
    base = make_input((16,), 384, torch.float16, device)
    x = base[:, 64:320]
    out = torch.full((24, 256), 1.0, device=device).to(torch.float8_e4m3fn)
    scale = torch.empty(24, 1, device=device)
    ops.dynamic_per_token_scaled_fp8_quant(out, x, scale, None)
    rq, rscale = ref.dynamic_per_token_scaled_fp8_quant(x.cpu().contiguous())
    assert_same_bits(out[:16], rq)
    assert_same_bits(scale[:16], rscale)
    assert (out[16:].float() == 1.0).all()
    q, _ = vllm_ops.scaled_fp8_quant(x, num_token_padding=32)
    assert q.shape == (32, 256)
    assert_same_bits(q[:16], ref.dynamic_scaled_fp8_quant(x.cpu().contiguous())[0])


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_nan_and_zero_input(device):
    # Values past the range clamp to +-448 (224 for fnuz), infinities too, keeping their sign; a
    # NaN input stays NaN (vLLM: +max); an all-zero tensor gets scale 0, and 0 * (1/0) is a NaN
    # the scaling made, so +max (vLLM's behaviour; it dequantizes to 0).
    inf = float("inf")
    x = torch.tensor([[1e6, -1e6, float("nan"), 0.0, 1.0, inf, -inf]], device=device)
    for fp8, m in ((torch.float8_e4m3fn, 448.0), (torch.float8_e4m3fnuz, 224.0)):
        q, _ = vllm_ops.scaled_fp8_quant(x, torch.tensor([1.0], device=device), out_dtype=fp8)
        values = q.float().cpu()
        assert values[0, 2].isnan() and values[0, [0, 1, 3, 4, 5, 6]].tolist() == [m, -m, 0.0, 1.0, m, -m]
        assert_same_bits(q, ref.static_scaled_fp8_quant(x.cpu(), torch.tensor([1.0]), dtype=fp8))
    q, scale = vllm_ops.scaled_fp8_quant(torch.zeros(2, 16, device=device))
    assert scale.item() == 0.0 and (q.float() == 448.0).all()
    q, scale = vllm_ops.scaled_fp8_quant(torch.zeros(2, 16, device=device), use_per_token_if_dynamic=True)
    assert (scale == 1.0 / (448 * 512)).all() and (q.float() == 0.0).all()


# opcheck's test_schema compares tensors with arithmetic that torch does not implement for fp8,
# so it runs only the other checks on these ops; test_writes_only_declared_outputs covers what
# test_schema would (the Tensor! arguments are written, nothing else is).
FP8_OPCHECK_UTILS = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    x = make_input((4,), 64, torch.bfloat16, device)
    out = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=device)
    for op, args in [
        (ops.static_scaled_fp8_quant, (out, x, torch.tensor([0.02], device=device), None)),
        (ops.static_scaled_fp8_quant, (out, x, torch.rand(4, 2, device=device) + 0.01, [1, 32])),
        (ops.dynamic_scaled_fp8_quant, (out, x, torch.empty(1, device=device))),
        (ops.dynamic_per_token_scaled_fp8_quant,
         (out, x, torch.empty(4, 1, device=device), torch.tensor([1.0], device=device))),
    ]:
        torch.library.opcheck(op, args, test_utils=FP8_OPCHECK_UTILS)


@pytest.mark.parametrize("device", DEVICES)
def test_writes_only_declared_outputs(device):
    x = make_input((4,), 64, torch.bfloat16, device)
    x_before = x.clone()
    ub = torch.tensor([1.0], device=device)
    out = torch.zeros(x.shape, device=device).to(torch.float8_e4m3fn)
    scale = torch.zeros(4, 1, device=device)
    ops.dynamic_per_token_scaled_fp8_quant(out, x, scale, ub)
    assert torch.equal(x, x_before) and ub.item() == 1.0
    assert (out.float() != 0).any() and (scale != 0).all()
    static_scale = torch.tensor([0.02], device=device)
    ops.static_scaled_fp8_quant(out, x, static_scale, None)
    assert torch.equal(x, x_before) and static_scale.item() == pytest.approx(0.02)


def test_torch_compile_fullgraph():
    compiled = torch.compile(lambda t: vllm_ops.scaled_fp8_quant(t, use_per_token_if_dynamic=True), fullgraph=True)
    x = make_input((8,), 64, torch.float32, "cpu")
    q, s = compiled(x)
    rq, rs = ref.dynamic_per_token_scaled_fp8_quant(x)
    assert_same_bits(q, rq)
    assert_same_bits(s, rs)


# ---- bad inputs: RuntimeError naming the argument ----------------------------------------------

def _static(out=None, x=None, scale=None, group_shape=None):
    x = torch.ones(4, 8) if x is None else x
    out = torch.empty(x.shape, dtype=torch.float8_e4m3fn) if out is None else out
    scale = torch.tensor([0.1]) if scale is None else scale
    ops.static_scaled_fp8_quant(out, x, scale, group_shape)


def _per_token(out=None, x=None, scale=None, ub=None):
    x = torch.ones(4, 8) if x is None else x
    out = torch.empty(x.shape, dtype=torch.float8_e4m3fn) if out is None else out
    scale = torch.empty(4, 1) if scale is None else scale
    ops.dynamic_per_token_scaled_fp8_quant(out, x, scale, ub)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: _static(x=torch.ones(4, 8, dtype=torch.float64)), r"static_scaled_fp8_quant: input must have dtype Float or Half or BFloat16, got Double"),
        (lambda: _static(out=torch.empty(4, 8, dtype=torch.int8)), r"static_scaled_fp8_quant: result must have dtype Float8_e4m3fn or Float8_e4m3fnuz, got Char"),
        (lambda: _static(out=torch.empty(4, 9, dtype=torch.float8_e4m3fn)), r"static_scaled_fp8_quant: result must have input's last dimension \(8\) and at least input's 4 rows, got shape \[4, 9\]"),
        (lambda: _static(out=torch.empty(3, 8, dtype=torch.float8_e4m3fn)), r"static_scaled_fp8_quant: result must have .* at least input's 4 rows, got shape \[3, 8\]"),
        (lambda: _static(x=torch.ones(8, 4).t()), r"static_scaled_fp8_quant: input must be contiguous in its last dimension, got stride 4"),
        (lambda: _static(scale=torch.tensor([0.1], dtype=torch.bfloat16)), r"static_scaled_fp8_quant: scale must have dtype Float, got BFloat16"),
        (lambda: _static(scale=torch.ones(8)), r"static_scaled_fp8_quant: a 1-D scale needs group_shape"),
        (lambda: _static(scale=torch.ones(3), group_shape=[1, -1]), r"static_scaled_fp8_quant: scale must have 4 elements for group_shape \[1, 8\]"),
        (lambda: _static(scale=torch.ones(2, 2), group_shape=[3, 4]), r"static_scaled_fp8_quant: group_shape \[3, 4\] must divide the input's \[4, 8\] rows and columns"),
        (lambda: _static(scale=torch.ones(3, 2)), r"static_scaled_fp8_quant: scale of shape \[3, 2\] must divide the input's \[4, 8\] rows and columns"),
        (lambda: _static(scale=torch.ones(2, 2), group_shape=[1, 4]), r"static_scaled_fp8_quant: group_shape \[1, 4\] must match the groups of scale of shape \[2, 2\]"),
        (lambda: _static(scale=torch.ones(2, 2), group_shape=[1, 2, 3]), r"static_scaled_fp8_quant: group_shape must have 2 entries"),
        (lambda: _static(scale=torch.ones(2, 2, 2)), r"static_scaled_fp8_quant: scale must be 0-D, 1-D or 2-D, got shape \[2, 2, 2\]"),
        (lambda: ops.dynamic_scaled_fp8_quant(torch.empty(4, 8, dtype=torch.float8_e4m3fn), torch.ones(4, 8), torch.empty(0)), r"dynamic_scaled_fp8_quant: scale must have at least 1 element \(the per-tensor scale is written to element 0\), got shape \[0\]"),
        (lambda: _per_token(scale=torch.empty(3)), r"dynamic_per_token_scaled_fp8_quant: scale must have at least one element per row of input \(4\), got shape \[3\]"),
        (lambda: _per_token(scale=torch.empty(4, 2)[:, 0]), r"dynamic_per_token_scaled_fp8_quant: scale must be contiguous"),
        (lambda: _per_token(ub=torch.tensor([1.0, 2.0])), r"dynamic_per_token_scaled_fp8_quant: scale_ub must have 1 element"),
        (lambda: _per_token(ub=torch.tensor([1], dtype=torch.int32)), r"dynamic_per_token_scaled_fp8_quant: scale_ub must have dtype Float, got Int"),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_wrapper_rejects_non_2d_input():
    with pytest.raises(ValueError, match=r"input must be 2-D"):
        vllm_ops.scaled_fp8_quant(torch.ones(2, 3, 4))


@pytest.mark.cuda
def test_cuda_rejects_out_on_other_device():
    x = torch.ones(2, 8, device="cuda")
    with pytest.raises(RuntimeError, match=r"dynamic_scaled_fp8_quant: result must be on the device of input \(cuda:0\), got cpu"):
        ops.dynamic_scaled_fp8_quant(torch.empty(2, 8, dtype=torch.float8_e4m3fn), x, torch.empty(1, device="cuda"))


@pytest.mark.cuda
@pytest.mark.parametrize("fp8", FP8_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cuda_matches_cpu_kernel(dtype, fp8):
    # The CUDA e4m3fn path converts with the hardware instruction, the CPU with torch's
    # header-only conversion: they must agree on every value, saturated ones included.
    x = make_input((65,), 1032, dtype, "cuda", seed=3) * 40
    for kwargs in ({}, {"use_per_token_if_dynamic": True}, {"scale": torch.tensor([0.003], device="cuda")}):
        gpu = vllm_ops.scaled_fp8_quant(x, out_dtype=fp8, **kwargs)
        cpu_kwargs = {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        cpu = vllm_ops.scaled_fp8_quant(x.cpu(), out_dtype=fp8, **cpu_kwargs)
        for g, c in zip(gpu, cpu, strict=False):
            assert_same_bits(g, c)


@pytest.mark.cuda
def test_cuda_uses_current_stream():
    x = make_input((1024,), 4096, torch.bfloat16, "cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        q, scale = vllm_ops.scaled_fp8_quant(x, use_per_token_if_dynamic=True)
    stream.synchronize()
    rq, rscale = ref.dynamic_per_token_scaled_fp8_quant(x.cpu())
    assert_same_bits(q, rq)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_cuda_dynamic_per_tensor_replayed_in_a_cuda_graph(dtype):
    # The scale needs every block's maximum before any value is written. Captured once, replayed
    # on new data whose largest magnitude sits at the start, the end and inside of the tensor.
    x = torch.zeros(2048, 4096, dtype=dtype, device="cuda")
    scale = torch.empty(1, device="cuda")
    out = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device="cuda")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        ops.dynamic_scaled_fp8_quant(out, x, scale)  # outside the capture: lazy initialisation
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        ops.dynamic_scaled_fp8_quant(out, x, scale)
    for seed, peak in ((1, 0), (2, x.numel() - 1), (3, x.numel() // 3 + 5)):
        x.copy_(make_input((2048,), 4096, dtype, "cuda", seed=seed))
        x.view(-1)[peak] = -1000.0
        graph.replay()
        rq, rscale = ref.dynamic_scaled_fp8_quant(x.cpu(), torch.float8_e4m3fn)
        assert_same_bits(scale, rscale)
        assert_same_bits(out, rq)


@pytest.mark.cuda
def test_cuda_more_than_2_pow_31_elements():
    rows, hidden = (1 << 31) // 4096 + 3, 4096
    x = torch.empty(rows, hidden, dtype=torch.bfloat16, device="cuda").normal_()
    tail = x[-5:].cpu()
    q, scale = vllm_ops.scaled_fp8_quant(x, use_per_token_if_dynamic=True)
    rq, rscale = ref.dynamic_per_token_scaled_fp8_quant(tail)
    assert_same_bits(q[-5:], rq)
    assert_same_bits(scale[-5:], rscale)
    del q
    q, scale = vllm_ops.scaled_fp8_quant(x)
    assert scale.item() == ref.dynamic_scaled_fp8_quant(x.float().abs().amax().reshape(1, 1).cpu())[1].item()
    assert_same_bits(q[-5:], ref.static_scaled_fp8_quant(tail, scale.cpu()))


X = torch.ones(4, 16)
SCALE = torch.tensor([0.5])


@pytest.mark.parametrize("call, error, message", [
    (lambda: vllm_ops.scaled_fp8_quant(torch.tensor(1.0)), ValueError, "at least one dimension"),
    (lambda: vllm_ops.scaled_fp8_quant([[1.0]]), TypeError, "input must be a torch.Tensor, got list"),
    (lambda: vllm_ops.scaled_fp8_quant(X, SCALE, group_shape=5), ValueError, "group_shape must be a pair of ints"),
    (lambda: vllm_ops.scaled_fp8_quant(X, group_shape=(1, -1)), ValueError, "group_shape applies to a static scale"),
    (lambda: vllm_ops.scaled_fp8_quant(X, out_dtype=torch.int8), ValueError,
     r"out_dtype must be torch.float8_e4m3fn or torch.float8_e4m3fnuz, got torch.int8"),
    (lambda: vllm_ops.scaled_fp8_quant(X, output=torch.empty(4, 16, dtype=torch.float8_e4m3fn),
                                       out_dtype=torch.float8_e4m3fnuz), ValueError, "disagrees with output's dtype"),
    (lambda: vllm_ops.scaled_fp8_quant(X, scale_ub=torch.tensor([1.0])), ValueError, "scale_ub caps dynamic per-token"),
    (lambda: vllm_ops.scaled_fp8_quant(X, SCALE, scale_ub=torch.tensor([1.0]), use_per_token_if_dynamic=True),
     ValueError, "scale_ub caps dynamic per-token"),
    (lambda: vllm_ops.scaled_fp8_quant(X, num_token_padding=-2), ValueError, "num_token_padding must be a non-negative"),
])
def test_wrapper_arguments_take_effect_or_are_errors(call, error, message):
    # Before: IndexError, AttributeError, TypeError from list(5), an error about `result`, and
    # arguments accepted and ignored (issue 18).
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("per_token", [False, True])
def test_padded_rows_are_defined(monkeypatch, per_token):
    # vLLM leaves the padding uninitialised; here the rows are zero and the per-token scales 1.
    # Allocations are poisoned (filled with 3.0) so that leftover memory cannot pass for zeros.
    real_empty = torch.empty
    monkeypatch.setattr(torch, "empty", lambda *args, **kwargs: real_empty(*args, **kwargs).fill_(3.0))
    x = torch.randn(4, 16) * 100
    q, s = vllm_ops.scaled_fp8_quant(x, num_token_padding=6, use_per_token_if_dynamic=per_token,
                                     out_dtype=torch.float8_e4m3fn)
    assert q.shape == (6, 16) and torch.equal(q[4:].float(), torch.zeros(2, 16))
    if per_token:
        assert s.shape == (6, 1) and torch.equal(s[4:], torch.ones(2, 1))


@pytest.mark.parametrize("group_shape, message", [
    ([-5, 0, 9], r"group_shape must have 2 entries \(rows, cols\), got 3"),
    ([0, 1], r"group_shape entries must be positive or -1 \(whole extent\), got \[0, 1\]"),
    ([-2, 1], r"group_shape entries must be positive or -1"),
])
def test_group_shape_is_checked_with_a_per_tensor_scale(group_shape, message):
    # A one-element scale used to let any group_shape pass unread (issue 18).
    with pytest.raises(RuntimeError, match=message):
        ops.static_scaled_fp8_quant(torch.empty(2, 8, dtype=torch.float8_e4m3fn), torch.ones(2, 8), torch.ones(1),
                                    group_shape)


def test_empty_input_with_a_whole_extent_group_is_accepted():
    out = torch.empty(0, 8, dtype=torch.float8_e4m3fn)
    ops.static_scaled_fp8_quant(out, torch.empty(0, 8), torch.ones(8), [-1, 1])  # used to be rejected
    assert out.shape == (0, 8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("per_token", [False, True], ids=["per_tensor", "per_token"])
def test_dynamic_scales_skip_non_finite_values(per_token, device):
    # One inf among finite values used to make the scale inf and every other element NaN, then
    # +448 (a -inf became +448 too). The scale now comes from the finite values; +-inf saturate
    # with their sign and NaN stays NaN.
    inf, nan = float("inf"), float("nan")
    x = torch.tensor([[1.0, -2.0, 4.0, -inf, inf, nan], [0.5, -0.25, 3.0, 2.0, -1.0, 0.0]], device=device)
    q, scale = vllm_ops.scaled_fp8_quant(x, use_per_token_if_dynamic=per_token)
    want_q, want_scale = (ref.dynamic_per_token_scaled_fp8_quant(x.cpu()) if per_token
                          else ref.dynamic_scaled_fp8_quant(x.cpu()))
    assert_same_bits(scale, want_scale)
    assert_same_bits(q, want_q)
    assert scale.isfinite().all() and scale.flatten()[0].item() == pytest.approx(4.0 / 448)
    values = q.float().cpu()
    assert values[0, 3].item() == -448.0 and values[0, 4].item() == 448.0 and values[0, 5].isnan()
    assert values[0, 2].item() == 448.0 and values[1, 2].item() > 0  # finite values keep their scale
