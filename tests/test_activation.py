"""Activation ops against the pure-torch reference, on CPU and (marked) on CUDA."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

import vllm_ops
from vllm_ops.reference import activation as ref

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# Two output ulps of each dtype, relative, plus an absolute floor for values near zero.
TOLERANCE = {
    torch.float32: dict(rtol=2e-5, atol=5e-6),
    torch.float16: dict(rtol=2e-3, atol=1e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1e-2),
}


@dataclass(frozen=True)
class OpCase:
    name: str
    gated: bool
    args: tuple = field(default=())  # scalar arguments after (out, input)

    @property
    def op(self):
        return getattr(getattr(torch.ops, vllm_ops.namespace), self.name)

    def reference(self, x):
        return getattr(ref, self.name)(x, *self.args)

    def wrapper(self, x):
        return getattr(vllm_ops, self.name)(x, *self.args)

    def out_shape(self, x):
        return x.shape[:-1] + (x.shape[-1] // 2,) if self.gated else x.shape


OPS = [
    OpCase("silu_and_mul", True),
    OpCase("mul_and_silu", True),
    OpCase("silu_and_mul_with_clamp", True, (3.5,)),
    OpCase("gelu_and_mul", True),
    OpCase("gelu_tanh_and_mul", True),
    OpCase("fatrelu_and_mul", True, (0.25,)),
    OpCase("swigluoai_and_mul", True, (1.702, 7.0)),
    OpCase("gelu_new", False),
    OpCase("gelu_fast", False),
    OpCase("gelu_quick", False),
]
OP_IDS = [c.name for c in OPS]

# (leading dims, output width d): one token; widths that defeat 16-byte vectors; widths that
# are not a multiple of the block; several leading dims; a large case.
SHAPES = [
    ((1,), 4096),
    ((1,), 1),
    ((5,), 7),
    ((5,), 12),
    ((3,), 13),
    ((7,), 1027),
    ((2, 3), 128),
    ((33,), 2056),
    ((300,), 5632),
]


def _input(case: OpCase, lead, d, dtype, device, scale=3.0):
    width = 2 * d if case.gated else d
    return (torch.randn(*lead, width, device=device, dtype=torch.float32) * scale).to(dtype)


def _check(case, x, dtype, **tolerance):
    out = torch.full(case.out_shape(x), float("nan"), dtype=dtype, device=x.device)
    case.op(out, x, *case.args)
    expected = case.reference(x.cpu()).to(x.device)
    torch.testing.assert_close(out, expected, **(tolerance or TOLERANCE[dtype]))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,d", SHAPES)
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_matches_reference_cpu(case, lead, d, dtype):
    _check(case, _input(case, lead, d, dtype, "cpu"), dtype)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_large_magnitudes_and_clamp_limits_cpu(case):
    # Values far past every clamp limit and into the saturated parts of each activation.
    # erf/tanh forms of GELU cancel catastrophically for x << 0 (1 + erf(x) in float), which
    # bounds their absolute error near 1e-7 times |up| ~ 30, hence the absolute floor.
    x = (torch.randn(64, 2 * 512 if case.gated else 512) * 30).to(torch.float32)
    _check(case, x, torch.float32, rtol=2e-5, atol=1e-4)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_wrapper_allocates_output(case):
    x = _input(case, (4,), 96, torch.bfloat16, "cpu")
    out = case.wrapper(x)
    assert out.shape == case.out_shape(x) and out.dtype == x.dtype
    torch.testing.assert_close(out, case.reference(x), **TOLERANCE[torch.bfloat16])


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_opcheck(case):
    x = _input(case, (3,), 24, torch.float16, "cpu")
    out = torch.empty(case.out_shape(x), dtype=x.dtype)
    torch.library.opcheck(case.op, (out, x, *case.args))


def test_torch_compile_fullgraph():
    compiled = torch.compile(vllm_ops.silu_and_mul, fullgraph=True)
    x = torch.randn(8, 64)
    torch.testing.assert_close(compiled(x), ref.silu_and_mul(x), **TOLERANCE[torch.float32])


# ---- bad inputs: RuntimeError naming the argument ----------------------------------------------

GATED = [c for c in OPS if c.gated]
UNARY = [c for c in OPS if not c.gated]
OUT_ARG = {"silu_and_mul": "result", "silu_and_mul_with_clamp": "result"}


def _out_name(case):
    return OUT_ARG.get(case.name, "out")


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_rejects_wrong_input_dtype(case):
    x = torch.ones(2, 8, dtype=torch.int32)
    out = torch.empty(case.out_shape(x), dtype=torch.int32)
    with pytest.raises(RuntimeError, match=rf"{case.name}: input must have dtype Float or Half or BFloat16, got Int"):
        case.op(out, x, *case.args)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_rejects_out_dtype_mismatch(case):
    x = torch.ones(2, 8, dtype=torch.float16)
    out = torch.empty(case.out_shape(x), dtype=torch.float32)
    with pytest.raises(RuntimeError, match=rf"{case.name}: {_out_name(case)} must have the dtype of input"):
        case.op(out, x, *case.args)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_rejects_out_shape_mismatch(case):
    x = torch.ones(2, 8)
    out = torch.empty(2, 3)
    with pytest.raises(RuntimeError, match=rf"{case.name}: {_out_name(case)} must have shape .* got \[2, 3\]"):
        case.op(out, x, *case.args)


@pytest.mark.parametrize("case", GATED, ids=[c.name for c in GATED])
def test_rejects_odd_last_dim(case):
    x = torch.ones(2, 7)
    out = torch.empty(2, 3)
    with pytest.raises(RuntimeError, match=rf"{case.name}: input.size\(-1\) must be even .*got 7"):
        case.op(out, x, *case.args)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_rejects_non_contiguous_input(case):
    x = torch.ones(8, 4).t()
    out = torch.empty(case.out_shape(x))
    with pytest.raises(RuntimeError, match=rf"{case.name}: input must be contiguous"):
        case.op(out, x, *case.args)


@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_rejects_non_contiguous_out(case):
    x = torch.ones(4, 8)
    out = torch.empty(tuple(reversed(case.out_shape(x)))).t()
    with pytest.raises(RuntimeError, match=rf"{case.name}: {_out_name(case)} must be contiguous"):
        case.op(out, x, *case.args)


# ---- CUDA ---------------------------------------------------------------------------------------

@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
# Large enough to take the 16-byte row kernel and the tiled kernel (evenly and unevenly split).
@pytest.mark.parametrize("lead,d", SHAPES + [((4096,), 14336), ((1,), 14336), ((2048,), 4104), ((1100,), 8200)])
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_matches_reference_cuda(case, lead, d, dtype):
    _check(case, _input(case, lead, d, dtype, "cuda"), dtype)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_cuda_matches_cpu_kernel(case, dtype):
    x = _input(case, (65,), 1032, dtype, "cuda", scale=8.0)
    gpu = case.wrapper(x)
    cpu = case.wrapper(x.cpu())
    torch.testing.assert_close(gpu.cpu(), cpu, **TOLERANCE[dtype])


@pytest.mark.cuda
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_cuda_misaligned_views_fall_back_to_scalar(case):
    # A view starting one element in breaks 16-byte alignment of an otherwise vectorizable row.
    width = 2 * 4096 if case.gated else 4096
    base = torch.randn(3 * width + 1, device="cuda").to(torch.bfloat16)
    x = base[1:].view(3, width)
    _check(case, x, torch.bfloat16)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_cuda_vector_and_scalar_paths_agree_bitwise(case, dtype):
    # Same GPU, same values: the vectorized path (fp16/bf16 storage arithmetic two elements at a
    # time for some ops) and the scalar fallback (misaligned view) must give the same bits, tails
    # and large magnitudes included.
    width = 2 * 2048 if case.gated else 2048
    values = torch.cat([torch.randn(64 * width, device="cuda") * 4, torch.linspace(-12, 12, 64 * width, device="cuda")])
    base = torch.empty(values.numel() + 1, device="cuda", dtype=dtype)
    base[1:] = values.to(dtype)
    misaligned = base[1:].view(-1, width)
    aligned = misaligned.clone()
    assert aligned.data_ptr() % 16 == 0 and misaligned.data_ptr() % 16 != 0
    torch.testing.assert_close(case.wrapper(aligned), case.wrapper(misaligned), rtol=0, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_cuda_opcheck(case):
    x = _input(case, (3,), 40, torch.bfloat16, "cuda")
    out = torch.empty(case.out_shape(x), dtype=x.dtype, device="cuda")
    torch.library.opcheck(case.op, (out, x, *case.args))


@pytest.mark.cuda
@pytest.mark.parametrize("case", OPS, ids=OP_IDS)
def test_cuda_rejects_out_on_other_device(case):
    x = torch.ones(2, 8, device="cuda")
    out = torch.empty(case.out_shape(x))
    expected = rf"{case.name}: {_out_name(case)} must be on the device of input \(cuda:0\), got cpu"
    with pytest.raises(RuntimeError, match=expected):
        case.op(out, x, *case.args)


@pytest.mark.cuda
def test_cuda_uses_current_stream():
    x = torch.randn(1024, 2 * 4096, device="cuda", dtype=torch.bfloat16)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        out = vllm_ops.silu_and_mul(x)
    stream.synchronize()
    torch.testing.assert_close(out, ref.silu_and_mul(x.cpu()).cuda(), **TOLERANCE[torch.bfloat16])


@pytest.mark.cuda
def test_cuda_torch_compile_fullgraph():
    compiled = torch.compile(vllm_ops.gelu_tanh_and_mul, fullgraph=True)
    x = torch.randn(8, 256, device="cuda", dtype=torch.float16)
    torch.testing.assert_close(compiled(x), ref.gelu_tanh_and_mul(x.cpu()).cuda(), **TOLERANCE[torch.float16])


@pytest.mark.cuda
@pytest.mark.parametrize(
    "name,offset", [("silu_and_mul", 0), ("gelu_quick", 1)], ids=["gated_vectorized", "unary_misaligned_scalar"]
)
def test_cuda_more_than_2_pow_31_elements(name, offset):
    # From 2^30 elements the kernels index in 64 bits; past 2^31 a 32-bit index would wrap. An
    # offset of one element breaks 16-byte alignment, so that case takes the scalar path.
    case = next(c for c in OPS if c.name == name)
    width = 8192 if case.gated else 4096
    rows = (1 << 31) // width + 3
    base = torch.empty(rows * width + offset, device="cuda", dtype=torch.bfloat16).normal_()
    x = base[offset:].view(rows, width)
    out = case.wrapper(x)
    for r in (0, (1 << 31) // width - 1, (1 << 31) // width, rows - 1):
        torch.testing.assert_close(out[r].cpu(), case.reference(x[r].cpu()), **TOLERANCE[torch.bfloat16])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
@pytest.mark.parametrize("name", ["silu_and_mul_with_clamp", "swigluoai_and_mul"])
def test_clamps_keep_nan_and_reject_a_nan_limit(name, device):
    # fminf(NaN, limit) is the limit: a NaN gate or up came out finite (and a NaN limit turned the
    # clamp off). Now NaN propagates, as the reference's clamp does, and a NaN limit is an error.
    nan = float("nan")
    x = torch.randn(3, 16, device=device)
    x[0, 0], x[1, 9], x[2, 3] = nan, nan, float("inf")
    out = torch.empty(3, 8, device=device)
    op = getattr(getattr(torch.ops, vllm_ops.namespace), name)
    limit_args = (7.0,) if name == "silu_and_mul_with_clamp" else (1.702, 7.0)
    op(out, x, *limit_args)
    want = getattr(ref, name)(x.cpu(), *limit_args)
    assert torch.equal(out.cpu().isnan(), want.isnan()) and out.isnan().sum() >= 2
    torch.testing.assert_close(out.cpu(), want, rtol=1e-5, atol=1e-6, equal_nan=True)
    nan_limit = (nan,) if name == "silu_and_mul_with_clamp" else (1.702, nan)
    with pytest.raises(RuntimeError, match=f"{name}: limit must be a number, got nan"):
        op(out, x, *nan_limit)
