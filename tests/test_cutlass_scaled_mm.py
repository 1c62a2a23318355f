"""cutlass_scaled_mm and cutlass_scaled_mm_azp (CUDA, sm_90a builds) against an fp64 reference written
from the definition: out = (a_scales * a) @ (b_scales * b) + bias, with a - azp for the zero-point
variant. Plus the capability queries, the errors for what the kernels cannot take, and opcheck.

Tolerances. INT8: the int32 accumulator is exact; the epilogue converts it to fp32 (exact below
2^24, one rounding above) and applies two fp32 multiplies and a (fused) add, each rounding by at
most 2^-24 of the term it makes, so before the final rounding to fp16/bf16 the result is within
2^-21 of |a_scales * b_scales * acc| + |bias| (the terms, not their sum, which may cancel): the
bound is one output ulp of |ref| plus that. FP8: each product of two e4m3 values is exact in fp32, but Hopper's
fast fp8 accumulation keeps fewer mantissa bits than fp32 in the tensor core's running sum
(about 14, per NVIDIA's and DeepSeek's public descriptions), so the bound adds 2^-9 of the sum of
|a_k * b_k| (times the scales). Measured on the H200 (scripts/cutlass_fp8_error_probe.py): the
error beyond one fp16 ulp reaches 2^-13.3 of that sum at K = 128, 2^-11.4 at 4096 and 2^-10.7
over 4096 x 1024 outputs at K = 4096, so the bound has a 3x margin. A scale off by half, a
dropped bias or swapped columns miss it (the planted-error test)."""

from __future__ import annotations

import pytest
import torch

import vllm_ops
from vllm_ops._ops import ops

SM90A = any(arch.removesuffix("+PTX") == "9.0a" for arch in vllm_ops.build_info.get("gpu_archs", []))
needs_kernels = pytest.mark.skipif(not SM90A, reason="this build's arch list has no 9.0a, so no kernels: "
                                   "test_capability_queries_answer_for_this_build checks that")
FP8 = torch.float8_e4m3fn


def test_capability_queries_answer_for_this_build():
    # sm_90a code runs on capability 9.0 alone; block fp8 and fp4 GEMMs are not built.
    for capability in (75, 80, 89, 90, 100, 120):
        assert ops.cutlass_scaled_mm_supports_fp8(capability) is (SM90A and capability == 90)
        assert ops.cutlass_scaled_mm_supports_block_fp8(capability) is False
        assert ops.cutlass_scaled_mm_supports_fp4(capability) is False


def test_cpu_tensors_get_the_no_cpu_kernel_error():
    a = torch.zeros(2, 16, dtype=torch.int8)
    out = torch.empty(2, 16, dtype=torch.float16)
    one = torch.ones(1)
    with pytest.raises(NotImplementedError, match="cutlass_scaled_mm.*CPU"):
        ops.cutlass_scaled_mm(out, a, a.t(), one, one, None)
    with pytest.raises(NotImplementedError, match="cutlass_scaled_mm_azp.*CPU"):
        ops.cutlass_scaled_mm_azp(out, a, a.t(), one, one, torch.zeros(16, dtype=torch.int32), None, None)


def _operands(m, n, k, dtype, device="cuda", seed=0):
    g = torch.Generator(device="cpu").manual_seed(seed)
    if dtype == torch.int8:
        a = torch.randint(-128, 128, (m, k), generator=g, dtype=torch.int8)
        w = torch.randint(-128, 128, (n, k), generator=g, dtype=torch.int8)
    else:  # values across e4m3's range, no NaN
        a = (torch.randn(m, k, generator=g) * 4).clamp(-448, 448).to(FP8)
        w = (torch.randn(n, k, generator=g) * 4).clamp(-448, 448).to(FP8)
    return a.to(device), w.to(device).t()  # b column-major: w.t()


def _scales(count, per, g):
    return (torch.rand(count if per else 1, generator=g) * 0.02 + 0.001).cuda()


def _reference(a, b, a_scales, b_scales, bias, azp=None):
    a64 = a.double() if azp is None else a.double() - azp.double().view(-1, 1)
    acc = a64 @ b.double()
    ref = a_scales.double().view(-1, 1) * (b_scales.double().view(1, -1) * acc)
    if bias is not None:
        ref = ref + bias.double()
    scales = a_scales.double().view(-1, 1) * b_scales.double().view(1, -1)
    terms = (acc * scales).abs() + (bias.double().abs() if bias is not None else 0)
    spread = (a64.abs() @ b.double().abs()) * scales
    return ref, terms, spread


def _check(out, ref, terms, spread, fp8):
    ulp = torch.finfo(out.dtype).eps * ref.abs().clamp_min(torch.finfo(out.dtype).tiny)
    bound = ulp + terms * 2.0**-21 + (spread * 2.0**-9 if fp8 else 0)
    err = (out.double() - ref).abs()
    worst = (err / bound).max().item()
    assert worst <= 1.0, f"error {worst:.3g} times the bound"
    return worst


# Each tile shape: up to 16 tokens (swapped 64 x 16), up to 128 (swapped 64 x 64), then 64 x 128
# and (at 2048 x 2048: 256 tiles, more than the H200's 132 SMs) 128 x 128.
SHAPES = [(1, 16, 16), (1, 4096, 4096), (7, 48, 80), (16, 1024, 512), (33, 272, 1024), (128, 528, 2048),
          (130, 2048, 256), (300, 512, 14336), (2048, 2048, 128)]


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("dtype", [FP8, torch.int8], ids=["fp8", "int8"])
@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_matches_the_fp64_reference(m, n, k, dtype, out_dtype):
    a, b = _operands(m, n, k, dtype)
    g = torch.Generator().manual_seed(m * 7 + n)
    for per_token, per_channel, with_bias in [(False, False, False), (True, False, True), (False, True, False),
                                              (True, True, True)]:
        a_scales, b_scales = _scales(m, per_token, g), _scales(n, per_channel, g)
        bias = (torch.randn(n, generator=g) * 10).to(out_dtype).cuda() if with_bias else None
        out = vllm_ops.cutlass_scaled_mm(a, b, a_scales.view(-1, 1) if per_token else a_scales, b_scales, out_dtype,
                                         bias)
        assert out.shape == (m, n) and out.dtype == out_dtype
        _check(out, *_reference(a, b, a_scales, b_scales, bias), fp8=dtype == FP8)


@pytest.mark.cuda
@needs_kernels
def test_planted_errors_miss_the_bound():
    # The fp8 bound is the loose one: a wrong scale row, a dropped bias or a swapped column all miss it.
    a, b = _operands(64, 256, 4096, FP8)
    g = torch.Generator().manual_seed(1)
    a_scales, b_scales = _scales(64, True, g), _scales(256, True, g)
    bias = (torch.randn(256, generator=g) * 10).half().cuda()
    ref, terms, spread = _reference(a, b, a_scales, b_scales, bias)
    out = vllm_ops.cutlass_scaled_mm(a, b, a_scales, b_scales, torch.float16, bias)
    _check(out, ref, terms, spread, fp8=True)
    for planted in (out * torch.where(torch.arange(64, device="cuda") == 5, 1.5, 1.0).view(-1, 1).half(),
                    out - bias, out[:, torch.tensor([1, 0] + list(range(2, 256)), device="cuda")]):
        with pytest.raises(AssertionError, match="times the bound"):
            _check(planted, ref, terms, spread, fp8=True)


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("m, n, k", [(1, 16, 32), (45, 528, 768), (512, 4096, 4096)])
def test_azp_per_tensor_and_per_token_zero_points(m, n, k, out_dtype):
    a, b = _operands(m, n, k, torch.int8, seed=3)
    g = torch.Generator().manual_seed(2)
    colsum = b.int().sum(0, dtype=torch.int32)
    a_scales, b_scales = _scales(m, True, g), _scales(n, True, g)
    bias = (torch.randn(n, generator=g)).to(out_dtype).cuda()
    zero = torch.tensor([17], dtype=torch.int32, device="cuda")  # per-tensor: azp_adj = z * colsum
    out = vllm_ops.cutlass_scaled_mm_azp(a, b, a_scales, b_scales, out_dtype, (17 * colsum).int(), None, bias)
    _check(out, *_reference(a, b, a_scales, b_scales, bias, azp=zero.expand(m)), fp8=False)
    azp = torch.randint(-128, 128, (m,), generator=g, dtype=torch.int32).cuda()
    out = vllm_ops.cutlass_scaled_mm_azp(a, b, a_scales[:1], b_scales, out_dtype, colsum, azp, None)
    _check(out, *_reference(a, b, a_scales[:1], b_scales, None, azp=azp), fp8=False)


@pytest.mark.cuda
@needs_kernels
def test_strided_rows_and_untouched_padding():
    # a and out as column slices of wider rows (16-byte multiples), b a slice of a wider weight.
    a_wide, w_wide = _operands(37, 160, 320, torch.int8)
    a, b = a_wide[:, :256], w_wide[:256, :]  # b: [256, 160] with column stride 320
    out_wide = torch.full((37, 192), 7.0, dtype=torch.bfloat16, device="cuda")
    out = out_wide[:, :160]
    one = torch.ones(1, device="cuda")
    ops.cutlass_scaled_mm(out, a, b, one, one, None)
    _check(out, *_reference(a, b, one, one, None), fp8=False)
    assert (out_wide[:, 160:] == 7).all()


@pytest.mark.cuda
@needs_kernels
def test_empty_m_is_a_no_op():
    a, b = _operands(0, 32, 64, FP8)
    out = vllm_ops.cutlass_scaled_mm(a, b, torch.ones(1, device="cuda"), torch.ones(1, device="cuda"),
                                     torch.float16)
    assert out.shape == (0, 32)


@pytest.mark.cuda
@needs_kernels
def test_opcheck():
    # int8 operands: opcheck's schema test multiplies the inputs, which torch has no fp8 kernel for.
    a, b = _operands(24, 64, 128, torch.int8)
    sa, sb = torch.rand(24, 1, device="cuda"), torch.rand(64, device="cuda")
    out = torch.empty(24, 64, dtype=torch.bfloat16, device="cuda")
    bias = torch.randn(64, dtype=torch.bfloat16, device="cuda")
    torch.library.opcheck(ops.cutlass_scaled_mm.default, (out, a, b, sa, sb, bias))
    ai, bi = _operands(24, 64, 128, torch.int8)
    azp_adj = bi.int().sum(0, dtype=torch.int32)
    azp = torch.randint(-5, 5, (24,), dtype=torch.int32, device="cuda")
    torch.library.opcheck(ops.cutlass_scaled_mm_azp.default, (out, ai, bi, sa, sb, azp_adj, azp, bias))


@pytest.mark.cuda
@needs_kernels
@pytest.mark.parametrize("case", range(17))
def test_bad_input_is_a_clear_error(case):
    a, b = _operands(8, 64, 128, FP8)
    ai, bi = _operands(8, 64, 128, torch.int8)
    out = torch.empty(8, 64, dtype=torch.float16, device="cuda")
    one, sa, sb = torch.ones(1, device="cuda"), torch.ones(8, device="cuda"), torch.ones(64, device="cuda")
    adj = torch.zeros(64, dtype=torch.int32, device="cuda")
    mm, azp_mm = ops.cutlass_scaled_mm, ops.cutlass_scaled_mm_azp
    fn, message = [
        (lambda: mm(out, a, b.contiguous(), one, one, None), "b must be column-major"),
        (lambda: mm(out, a, b[:64], one, one, None), r"b must be 2-D \[K, N\] with K = a.size\(1\) = 128"),
        (lambda: mm(out, a, bi, one, one, None), "b must have the dtype of a"),
        (lambda: mm(out.float(), a, b, one, one, None), "out must have dtype Half or BFloat16"),
        (lambda: mm(out[:, :32], a, b, one, one, None), r"out must be \[M, N\] = \[8, 64\]"),
        (lambda: mm(out, a.half(), b, one, one, None), "a must have dtype"),
        (lambda: mm(out, a, b, torch.ones(3, device="cuda"), one, None), "a_scales must hold 1 .* or M"),
        (lambda: mm(out, a, b, one, torch.ones(63, device="cuda"), None), "b_scales must hold 1 .* or N"),
        (lambda: mm(out, a, b, sa.half(), one, None), "a_scales must have dtype Float"),
        (lambda: mm(out, a, b, sa.cpu(), sb, None), "a_scales must be on the device of out"),
        (lambda: mm(out, a, b, one, one, torch.zeros(64, dtype=torch.bfloat16, device="cuda")),
         "bias must have the dtype of out"),
        (lambda: mm(out, a, b, one, one, torch.zeros(32, dtype=torch.float16, device="cuda")), "bias must hold N"),
        (lambda: mm(out[:, :48], a[:, :120], b[:120, :48], one, one, None), "K = 120 must be a positive multiple"),
        (lambda: mm(torch.empty(8, 40, dtype=torch.float16, device="cuda"), a, _operands(8, 40, 128, FP8)[1], one,
                    one, None), "N = 40 must be a multiple of 16"),
        (lambda: azp_mm(out, a, b, one, one, adj, None, None), "a must have dtype Char"),
        (lambda: azp_mm(out, ai, bi, one, one, adj.float(), None, None), "azp_adj must have dtype Int"),
        (lambda: azp_mm(out, ai, bi, one, one, adj, adj[:7], None), "azp must hold M"),
    ][case]
    with pytest.raises(RuntimeError, match=message):
        fn()
