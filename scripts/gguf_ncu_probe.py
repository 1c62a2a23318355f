"""Launches of the fused GGUF kernel for Nsight Compute (K = N = 4096, fp16 X):

  ncu --kernel-name regex:fused_mma --launch-skip 2 --launch-count 1 --section SpeedOfLight \
      --section Occupancy --section WarpStateStats python3 scripts/gguf_ncu_probe.py [type] [tokens ...]

Token counts run through ggml_mul_mat_a8; a count written `moe:N` runs N tokens through
ggml_moe_a8 over one expert (top-1), which takes the fused kernel at every count, also where
ggml_mul_mat_a8 takes dequantize + GEMM. It prints each count's time per call and that of fp16
torch.matmul on the dequantized weight (both L2-resident: for comparing kernels, not a benchmark);
PROBE_REPS=0 launches each once (under ncu).
"""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_gguf import random_blocks, type_id  # noqa: E402

import vllm_ops  # noqa: E402

ops = getattr(torch.ops, vllm_ops.namespace)
name = sys.argv[1] if len(sys.argv) > 1 else "Q4_K"
K = N = 4096
BLOCK = ops.ggml_moe_get_block_size(type_id(name))
w = torch.from_numpy(random_blocks(name, N, K)).cuda()


def launcher(spec):
    moe = spec.startswith("moe:")
    tokens = int(spec.removeprefix("moe:"))
    x = torch.randn(tokens, K, dtype=torch.float16, device="cuda")
    if not moe:
        return lambda: ops.ggml_mul_mat_a8(w, x, type_id(name), N)
    padded = (tokens + BLOCK - 1) // BLOCK * BLOCK
    sorted_ids = torch.full((padded,), tokens, dtype=torch.int32, device="cuda")
    sorted_ids[:tokens] = torch.arange(tokens, dtype=torch.int32, device="cuda")
    experts = torch.zeros(padded // BLOCK, dtype=torch.int32, device="cuda")
    post = torch.tensor([padded], dtype=torch.int32, device="cuda")
    w3 = w.view(1, N, -1)
    return lambda: ops.ggml_moe_a8(x, w3, sorted_ids, experts, post, type_id(name), N, 1, tokens)


REPS = int(os.environ.get("PROBE_REPS", "20"))
w_half = ops.ggml_dequantize(w, type_id(name), N, K, torch.float16)


def time_us(run):
    for _ in range(3 if REPS else 1):
        run()
    if not REPS:
        return float("nan")
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(REPS):
        run()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / REPS * 1e3


for spec in sys.argv[2:] or ["4", "64"]:
    ours = time_us(launcher(spec))
    x = torch.randn(int(spec.removeprefix("moe:")), K, dtype=torch.float16, device="cuda")
    dense = time_us(lambda x=x: torch.matmul(x, w_half.t()))
    print(f"{name} {spec}: {ours:.1f} us, fp16 matmul {dense:.1f} us (L2-resident weights)")
