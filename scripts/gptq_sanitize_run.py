"""A small pass over every GPTQ kernel for compute-sanitizer (FAMILY=gptq scripts/gpu_family_evidence.sh): each
bit width through gptq_shuffle, the fused kernels at 1 to 4 m16 tiles and the generic kernel,
both paths and dtypes, two group lengths, and the dequantize-and-GEMM path, on shapes small enough for the tools."""

import itertools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gptq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
# Groups of 64 and 128 rows: at 4 bits, groups shorter than a ring stage and whole stages.
for bits, group in itertools.product((2, 3, 4, 8), (64, 128)):
    for dtype in (torch.float16, torch.bfloat16):
        ck = Checkpoint(256, 96, bits, group, True, bits == 8, dtype)
        q, z, s, g = ck.args("cuda")
        shuffled, perm = ck.shuffled("cuda")
        for m in (1, 5, 17, 40, 64, 100):
            a = torch.randn(m, 256, dtype=dtype, device="cuda")
            ops.gptq_gemm(a, q, z, s, g, False, ck.v2, bits)
            ops.gptq_gemm(a, shuffled, z, s, perm, True, ck.v2, bits)
            ops.gptq_gemm(a, q, z, s, torch.empty(0, dtype=torch.int32, device="cuda"), True, ck.v2, bits)
torch.cuda.synchronize()
print("sanitize pass done")
