"""permute_cols (CUDA-only) against torch indexing, plus the fake and the CPU error that a CPU-only
machine can check."""

from __future__ import annotations

import pytest
import torch

from vllm_ops._ops import ops


def test_meta_shape_without_a_gpu():
    a = torch.empty(3, 40, dtype=torch.bfloat16, device="meta")
    out = ops.permute_cols(a, torch.empty(40, dtype=torch.int32, device="meta"))
    assert out.shape == (3, 40) and out.dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="perm must be 1-D of length K = 40"):
        ops.permute_cols(a, torch.empty(39, dtype=torch.int32, device="meta"))


def test_cpu_tensors_get_the_no_cpu_kernel_error():
    with pytest.raises(NotImplementedError, match="permute_cols.*CPU"):
        ops.permute_cols(torch.zeros(2, 8, dtype=torch.float16), torch.arange(8, dtype=torch.int32))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("m, k", [(1, 8), (5, 4096), (33, 1000), (0, 16), (7, 3)])
def test_matches_indexing(m, k, dtype):
    a = torch.randn(m, k, dtype=dtype, device="cuda")
    perm = torch.randperm(k, device="cuda").int()
    torch.testing.assert_close(ops.permute_cols(a, perm), a[:, perm.long()], rtol=0, atol=0)


# The row-staged kernel runs when there are at least as many rows as SMs (132 on the H200) and two
# rows fit in a block's shared memory (227 KB on the H200); (140, 120000) is 480 KB for two rows,
# so it takes the gathering kernel with as many rows.
@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("m, k", [(300, 4096), (257, 14336), (140, 120000)])
def test_many_rows_match_indexing(m, k, dtype):
    a = torch.randn(m, k, dtype=dtype, device="cuda")
    perm = torch.randperm(k, device="cuda").int()
    torch.testing.assert_close(ops.permute_cols(a, perm), a[:, perm.long()], rtol=0, atol=0)


@pytest.mark.cuda
def test_many_rows_repeated_and_out_of_range_entries():
    m, k = 200, 1024
    a = torch.randn(m, k, dtype=torch.bfloat16, device="cuda") + 5
    perm = torch.randint(0, k, (k,), device="cuda", dtype=torch.int32)
    bad = torch.tensor([0, 7, 500, k - 1], device="cuda")
    perm[bad] = torch.tensor([-1, k, -(2**31), 2**31 - 1], device="cuda", dtype=torch.int32)
    out = ops.permute_cols(a, perm)
    assert (out[:, bad] == 0).all()
    keep = torch.ones(k, dtype=torch.bool, device="cuda")
    keep[bad] = False
    torch.testing.assert_close(out[:, keep], a[:, perm.long()[keep]], rtol=0, atol=0)


@pytest.mark.cuda
def test_many_rows_perm_not_16_byte_aligned():
    # perm one int32 into its storage: read entry by entry instead of as 16-byte words.
    a = torch.randn(150, 4096, dtype=torch.float16, device="cuda")
    perm = torch.cat([torch.zeros(1, dtype=torch.int32), torch.randperm(4096).int()]).cuda()[1:]
    assert perm.data_ptr() % 16 != 0
    torch.testing.assert_close(ops.permute_cols(a, perm), a[:, perm.long()], rtol=0, atol=0)


@pytest.mark.cuda
def test_unaligned_start_and_repeated_indices():
    # A view starting one element in (no 16-byte vectors) and a perm that repeats columns.
    a = torch.randn(4 * 64 + 1, dtype=torch.float16, device="cuda")[1:].view(4, 64)
    perm = torch.randint(0, 64, (64,), device="cuda", dtype=torch.int32)
    torch.testing.assert_close(ops.permute_cols(a, perm), a[:, perm.long()], rtol=0, atol=0)


@pytest.mark.cuda
def test_out_of_range_entries_give_zero_columns():
    a = torch.randn(3, 16, dtype=torch.float16, device="cuda") + 5
    perm = torch.arange(16, device="cuda", dtype=torch.int32)
    perm[3], perm[10] = -1, 16
    out = ops.permute_cols(a, perm)
    assert (out[:, [3, 10]] == 0).all()
    keep = [i for i in range(16) if i not in (3, 10)]
    torch.testing.assert_close(out[:, keep], a[:, keep], rtol=0, atol=0)


@pytest.mark.cuda
def test_opcheck():
    a = torch.randn(6, 24, dtype=torch.float16, device="cuda")
    torch.library.opcheck(ops.permute_cols.default, (a, torch.randperm(24, device="cuda").int()))


@pytest.mark.cuda
@pytest.mark.parametrize("case", range(5))
def test_bad_input_is_a_clear_error(case):
    a = torch.randn(4, 16, dtype=torch.float16, device="cuda")
    perm = torch.arange(16, device="cuda", dtype=torch.int32)
    fn, message = [
        (lambda: ops.permute_cols(a.float(), perm), "A must have dtype Half or BFloat16"),
        (lambda: ops.permute_cols(a, perm.long()), "perm must have dtype Int"),
        (lambda: ops.permute_cols(a, perm[:8]), "perm must be 1-D of length K = 16"),
        (lambda: ops.permute_cols(a.t(), perm[:4]), "A must be contiguous"),
        (lambda: ops.permute_cols(a, perm.cpu()), "perm must be on the device of A"),
    ][case]
    with pytest.raises(RuntimeError, match=message):
        fn()
