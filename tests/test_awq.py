"""AWQ (CUDA-only): awq_dequantize and awq_gemm against a pure-torch packer and dequantizer
written from the format's definition (vllm_ops/awq.py), plus what runs on a CPU-only machine:
the fakes, and the clear error a CPU tensor gets."""

from __future__ import annotations

import pytest
import torch

from vllm_ops._ops import ops

# AutoAWQ's packing order: nibble i of each int32 holds column COLUMN_OF_NIBBLE[i] of its eight.
COLUMN_OF_NIBBLE = [0, 2, 4, 6, 1, 3, 5, 7]
UNIT_ROUNDOFF = {torch.float16: 2.0**-11, torch.bfloat16: 2.0**-8}


def pack(values: torch.Tensor) -> torch.Tensor:
    """[rows, N] integers in 0..15 -> int32 [rows, N / 8], interleaved as AutoAWQ packs them."""
    rows, n = values.shape
    v = values.to(torch.int64).view(rows, n // 8, 8)
    word = torch.zeros(rows, n // 8, dtype=torch.int64)
    for nibble, column in enumerate(COLUMN_OF_NIBBLE):
        word |= v[:, :, column] << (4 * nibble)
    return torch.where(word >= 2**31, word - 2**32, word).to(torch.int32)


class Checkpoint:
    """Random 4-bit weights [K, N] with group size G, and their exact fp64 dequantization."""

    def __init__(self, k, n, group, dtype=torch.float16, seed=0):
        g = torch.Generator().manual_seed(seed)
        groups = k // group
        self.q = torch.randint(0, 16, (k, n), generator=g)
        self.zeros = torch.randint(0, 16, (groups, n), generator=g)
        self.scales = (torch.rand(groups, n, generator=g) * 0.02 + 0.001).to(dtype)
        self.qweight, self.qzeros = pack(self.q), pack(self.zeros)
        zero_rows = self.zeros.repeat_interleave(group, 0)
        scale_rows = self.scales.double().repeat_interleave(group, 0)
        self.exact = (self.q - zero_rows).double() * scale_rows  # exact: small integers times fp16/bf16
        self.dtype = dtype

    def args(self, device):
        return self.qweight.to(device), self.scales.to(device), self.qzeros.to(device)


def test_packer_places_columns_as_autoawq_does():
    # Column 1 of a word lands in nibble 4, column 2 in nibble 1 (the interleave).
    values = torch.zeros(1, 8, dtype=torch.int64)
    values[0, 1], values[0, 2] = 0xA, 0x3
    assert pack(values).item() == (0xA << 16) | (0x3 << 4)


def test_meta_shapes_without_a_gpu():
    ck = Checkpoint(128, 64, 32)
    qweight, scales, qzeros = ck.args("meta")
    assert ops.awq_dequantize(qweight, scales, qzeros, 0, 0, 0).shape == (128, 64)
    x = torch.empty(5, 128, dtype=torch.float16, device="meta")
    out = ops.awq_gemm(x, qweight, scales, qzeros, 8)
    assert out.shape == (5, 64) and out.dtype == torch.float16
    with pytest.raises(RuntimeError, match="_in_feats must be 2-D"):
        ops.awq_gemm(x[:, :64], qweight, scales, qzeros, 8)


def test_cpu_tensors_get_the_no_cpu_kernel_error():
    ck = Checkpoint(64, 64, 32)
    with pytest.raises(NotImplementedError, match="awq_dequantize.*CPU"):
        ops.awq_dequantize(*ck.args("cpu"), 0, 0, 0)


# --------------------------------------------------------------------------------------------
# CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("k, n, group", [(128, 64, 32), (256, 72, 64), (512, 128, 128), (384, 8, 384)])
def test_dequantize_is_exact(k, n, group, dtype):
    ck = Checkpoint(k, n, group, dtype, seed=k + n)
    w = ops.awq_dequantize(*ck.args("cuda"), 0, 0, 0)
    assert w.dtype == dtype and w.shape == (k, n)
    torch.testing.assert_close(w.cpu(), ck.exact.to(dtype), rtol=0, atol=0)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("m", [1, 7, 16, 300])
def test_gemm_matches_reference(m, dtype):
    k, n = 512, 192
    ck = Checkpoint(k, n, 128, dtype, seed=m)
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)).to(dtype)
    out = ops.awq_gemm(x.cuda(), *ck.args("cuda"), 8).cpu()
    assert out.dtype == dtype and out.shape == (m, n)
    assert within_gemm_bound(out, x, ck.exact)


def within_gemm_bound(out, x, exact):
    # Each weight is rounded once to dtype (relative error u), the GEMM accumulates K products in
    # fp32 (at most K * 2^-24 relative to sum |x| |w|), and the output is rounded once (u).
    u = UNIT_ROUNDOFF[out.dtype]
    ref = x.double() @ exact
    bound = (u + x.size(1) * 2.0**-24) * (x.double().abs() @ exact.abs()) + u * ref.abs()
    return bool(((out.double() - ref).abs() <= bound * 1.01 + 1e-6).all())


# awq_gemm's few-row kernels (K split across blocks where K allows). The tensor-core one takes
# 2 <= M <= 32 in one pass (1, 2 and 4 n8 tiles, partly filled) for N a multiple of 64 and a group
# a multiple of 16. The CUDA-core one takes M = 1, and M <= 8 (4 rows of X per pass) where the
# other does not apply: N = 1000 (125 packed columns, a partial block of 32) and group 8. Above
# that, dequantize + matmul.
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("k, n, group", [(4096, 1000, 32), (4096, 1000, 128), (4096, 1024, 128), (2048, 512, 32),
                                         (512, 64, 16), (512, 128, 8)])
@pytest.mark.parametrize("m", [1, 2, 5, 9, 17, 32])
def test_few_rows_match_reference(m, k, n, group, dtype):
    ck = Checkpoint(k, n, group, dtype, seed=m + k + group)
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)).to(dtype)
    out = ops.awq_gemm(x.cuda(), *ck.args("cuda"), 8).cpu()
    assert out.dtype == dtype and out.shape == (m, n)
    assert within_gemm_bound(out, x, ck.exact)


@pytest.mark.cuda
@pytest.mark.parametrize("case", ["group of 4", "X not 16-byte aligned"])
def test_few_rows_fallback_cases(case):
    # Where the few-row kernel does not apply, the dequantize + matmul path meets the same bound.
    ck = Checkpoint(512, 64, 4 if case == "group of 4" else 64, seed=5)
    storage = torch.randn(3 * 512 + 1, generator=torch.Generator().manual_seed(5)).half().cuda()
    x = storage[1:].view(3, 512) if case == "X not 16-byte aligned" else storage[:1536].view(3, 512)
    assert (x.data_ptr() % 16 != 0) == (case == "X not 16-byte aligned")
    out = ops.awq_gemm(x, *ck.args("cuda"), 8).cpu()
    assert within_gemm_bound(out, x.cpu(), ck.exact)


@pytest.mark.cuda
def test_bound_catches_a_wrong_nibble():
    ck = Checkpoint(512, 64, 128, seed=3)
    x = torch.randn(4, 512, generator=torch.Generator().manual_seed(3)).half()
    wrong = ck.qweight.clone()
    wrong[7, 2] ^= 8 << 4  # nibble 1 of word 2: the weight at row 7, column 16 + 2, off by 8 steps
    out = ops.awq_gemm(x.cuda(), wrong.cuda(), ck.scales.cuda(), ck.qzeros.cuda(), 8).cpu()
    assert not within_gemm_bound(out, x, ck.exact)


@pytest.mark.cuda
def test_launch_parameters_do_not_change_results():
    ck = Checkpoint(256, 64, 64)
    x = torch.randn(4, 256, dtype=torch.float16, device="cuda")
    args = ck.args("cuda")
    base = ops.awq_gemm(x, *args, 8)
    for split in (1, 2, 16):
        torch.testing.assert_close(ops.awq_gemm(x, *args, split), base, rtol=0, atol=0)
    torch.testing.assert_close(ops.awq_dequantize(*args, 8, 64, 4), ops.awq_dequantize(*args, 0, 0, 0), rtol=0, atol=0)


@pytest.mark.cuda
def test_opcheck():
    ck = Checkpoint(128, 64, 32)
    x = torch.randn(3, 128, dtype=torch.float16, device="cuda")
    torch.library.opcheck(ops.awq_dequantize.default, (*ck.args("cuda"), 0, 0, 0))
    torch.library.opcheck(ops.awq_gemm.default, (x, *ck.args("cuda"), 8))


def bad_inputs():
    ck = Checkpoint(128, 64, 32)
    qw, s, qz = ck.args("cuda")
    x = torch.randn(2, 128, dtype=torch.float16, device="cuda")
    return [
        (lambda: ops.awq_gemm(x, qw.float(), s, qz, 8), "_kernel must have dtype Int"),
        (lambda: ops.awq_gemm(x, qw, s.float(), qz, 8), "_scaling_factors must have dtype Half or BFloat16"),
        (lambda: ops.awq_gemm(x.bfloat16(), qw, s, qz, 8), "_in_feats must have the dtype of _scaling_factors"),
        (lambda: ops.awq_gemm(x[:, :64], qw, s, qz, 8), r"_in_feats must be 2-D \[M, K = 128\]"),
        (lambda: ops.awq_gemm(x, qw, s, qz[:, :4], 8), "_zeros must be"),
        (lambda: ops.awq_gemm(x, qw, s[:, :32], qz, 8), "_scaling_factors must be"),
        (lambda: ops.awq_gemm(x, qw[:90], s, qz, 8), "must be a multiple of the 4 groups"),
        (lambda: ops.awq_gemm(x, qw, s, qz, 0), "split_k_iters must be >= 1"),
        (lambda: ops.awq_dequantize(qw, s, qz, 0, -1, 0), "thx and thy must be >= 0"),
        (lambda: ops.awq_gemm(x, qw.t().contiguous().t(), s, qz, 8), "_kernel must be contiguous"),
        (lambda: ops.awq_gemm(x.cpu(), qw, s, qz, 8), "_in_feats must be on the device of _kernel"),
        (lambda: ops.awq_gemm(x, qw, s, qz.cpu(), 8), "_zeros must be on the device of _kernel"),
    ]


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(12))
def test_bad_input_is_a_clear_error(case):
    fn, message = bad_inputs()[case]
    with pytest.raises(RuntimeError, match=message):
        fn()
