"""Launches of the fused GGUF kernel for Nsight Compute (K = N = 4096, ggml_mul_mat_a8, fp16 X):

  ncu --kernel-name regex:fused_mma --launch-skip 2 --launch-count 1 --section SpeedOfLight \
      --section Occupancy --section WarpStateStats python3 scripts/gguf_ncu_probe.py [type] [tokens ...]
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gguf import random_blocks, type_id  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
name = sys.argv[1] if len(sys.argv) > 1 else "Q4_K"
K = N = 4096
w = torch.from_numpy(random_blocks(name, N, K)).cuda()
for tokens in [int(t) for t in sys.argv[2:]] or [4, 64]:
    x = torch.randn(tokens, K, dtype=torch.float16, device="cuda")
    for _ in range(3):
        ops.ggml_mul_mat_a8(w, x, type_id(name), N)
torch.cuda.synchronize()
