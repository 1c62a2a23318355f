"""A small pass over the CUDA-only kernels (AWQ, permute_cols, scaled_fp4_quant) for
compute-sanitizer: every dtype and path on shapes small enough to run under the tools."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_awq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
for dtype in (torch.float16, torch.bfloat16):
    ck = Checkpoint(256, 72, 64, dtype)
    args = ck.args("cuda")
    ops.awq_dequantize(*args, 0, 0, 0)
    for m in (1, 5, 40):  # few-row kernel (one and two passes, K split in two), dequantize + matmul
        ops.awq_gemm(torch.randn(m, 256, dtype=dtype, device="cuda"), *args, 8)
    ck = Checkpoint(1024, 264, 128, dtype)  # 33 packed columns: a partial block; K split four ways
    ops.awq_gemm(torch.randn(3, 1024, dtype=dtype, device="cuda"), *ck.args("cuda"), 8)
    ck = Checkpoint(1024, 512, 32, dtype)  # M = 1: the CUDA-core kernel; 12, 32: 2 and 4 n8 tiles on the
    for m in (1, 12, 32):  # tensor cores; K split
        ops.awq_gemm(torch.randn(m, 1024, dtype=dtype, device="cuda"), *ck.args("cuda"), 8)
    a = torch.randn(9, 64, dtype=dtype, device="cuda")
    perm = torch.randperm(64, device="cuda").int()
    ops.permute_cols(a, perm)
    ops.permute_cols(torch.randn(9 * 64 + 1, dtype=dtype, device="cuda")[1:].view(9, 64), perm)
    perm[0] = 64  # out of range: a zero column, no read past the row
    ops.permute_cols(a, perm)
    # The row-staged kernel (at least one row per SM), perm 16-byte aligned and not.
    many = torch.randn(140, 64, dtype=dtype, device="cuda")
    ops.permute_cols(many, perm)
    ops.permute_cols(many, torch.cat([perm[:1], perm])[1:])
    g = torch.tensor([3.0], device="cuda")
    # one block; padded rows and scale columns; a wide row; more items than one wave of threads
    for m, n in ((1, 16), (130, 48), (5, 4096), (1500, 2048)):
        x = torch.randn(m, n, dtype=dtype, device="cuda")
        for swizzled in (True, False):
            ops.scaled_fp4_quant(x, g, swizzled)
            vllm_ops.scaled_fp4_quant(x, g, swizzled, padded_n=n + 32)  # zero-padded output columns
torch.cuda.synchronize()
print("sanitize pass done")
