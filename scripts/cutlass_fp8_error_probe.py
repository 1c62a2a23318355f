"""How far cutlass_scaled_mm's FP8 results sit from the exact (fp64) product, in units of the sum
of |a_k * b_k| (times the scales): the measurement behind tests/test_cutlass_scaled_mm.py's FP8
bound (Hopper's fast fp8 accumulation keeps fewer bits than fp32). Prints the worst ratio per K."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_cutlass_scaled_mm import FP8, _operands, _reference  # noqa: E402

import vllm_ops  # noqa: E402

for m, n, k in ((64, 1024, 128), (64, 1024, 1024), (256, 1024, 4096), (64, 512, 14336), (4096, 1024, 4096)):
    worst_spread = worst_rel = 0.0
    for seed in range(3):
        a, b = _operands(m, n, k, FP8, seed=seed)
        one = torch.ones(1, device="cuda")
        ref, terms, spread = _reference(a, b, one, one, None)
        out = vllm_ops.cutlass_scaled_mm(a, b, one, one, torch.float16).double()
        # the part beyond fp16 rounding
        err = ((out - ref).abs() - torch.finfo(torch.float16).eps * ref.abs()).clamp_min(0)
        worst_spread = max(worst_spread, (err / spread).max().item())
        worst_rel = max(worst_rel, ((out - ref).abs() / ref.abs().clamp_min(1e-30)).median().item())
    print(f"M={m} N={n} K={k}: worst (err - 1 fp16 ulp) / sum|ab| = {worst_spread:.3g} "
          f"(2^{torch.tensor(worst_spread).log2().item():.1f}), median rel err {worst_rel:.3g}")
