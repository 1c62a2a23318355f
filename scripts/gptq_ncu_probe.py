"""Launches of the fused GPTQ kernel for Nsight Compute (8192 x 8192, group 128, prepared path):

  ncu --kernel-name regex:fused_mma --launch-skip 2 --launch-count 1 --section SpeedOfLight \
      --section Occupancy --section WarpStateStats python3 scripts/gptq_ncu_probe.py [bits] [m ...]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gptq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
bits = int(sys.argv[1]) if len(sys.argv) > 1 else 4
rows = [int(m) for m in sys.argv[2:]] or [1, 16, 64]
K = N = 8192
ck = Checkpoint(K, 1024, bits, 128, False, False)  # 1024 columns quantized, tiled to N
q, z, s = (t.cuda().repeat(1, N // 1024).contiguous() for t in (ck.qweight, ck.qzeros, ck.scales))
none = torch.empty(0, dtype=torch.int32, device="cuda")
for m in rows:
    a = torch.randn(m, K, dtype=torch.float16, device="cuda")
    for _ in range(3):
        ops.gptq_gemm(a, q, z, s, none, True, False, bits)
torch.cuda.synchronize()
