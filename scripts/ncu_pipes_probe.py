"""Kernels for an Nsight Compute pass over issue, pipe and stall metrics (scripts/ncu_pipes.sh):
one call of the GGUF mat-vec at one token per type given (K = 4096, N = 14336), then one GPTQ
4-bit call at 8192 x 8192 and M = 1 (prepared path, group 128)."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gguf import random_blocks, type_id  # noqa: E402
from test_gptq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
K, N = 4096, 14336
x = torch.randn(1, K, dtype=torch.float16, device="cuda")
for name in sys.argv[1:] or ["Q4_0"]:
    w = torch.from_numpy(random_blocks(name, N, K)).cuda()
    ops.ggml_mul_mat_vec_a8(w, x, type_id(name), N)
ck = Checkpoint(8192, 1024, 4, 128, False, False)
q, z, s = (t.cuda().repeat(1, 8).contiguous() for t in (ck.qweight, ck.qzeros, ck.scales))
a = torch.randn(1, 8192, dtype=torch.float16, device="cuda")
ops.gptq_gemm(a, q, z, s, torch.empty(0, dtype=torch.int32, device="cuda"), True, False, 4)
torch.cuda.synchronize()
