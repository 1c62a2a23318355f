"""scaled_fp4_quant (NVFP4) throughput on one GPU, in one process:

  ours     vllm_ops' scaled_fp4_quant, swizzled and linear scale layouts, fp16 and bf16 input
  vllm     vLLM 0.22.0's kernel (torch.ops._C.scaled_fp4_quant), where the GPU has one: it is
           built for Blackwell only, so on Hopper the run records its error instead of a time
  copy     a device copy moving the same bytes (input read + codes and scales written)

Inputs rotate over enough copies to exceed 3x the L2. Prints a table, writes
<out>/bench_fp4.json and <out>/bench_fp4.png.

  python benchmarks/bench_fp4.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import vllm_ops  # noqa: E402

ours = getattr(torch.ops, vllm_ops.namespace)
SHAPES = [(16, 4096), (4096, 4096), (8192, 8192), (16384, 14336)]


def scale_bytes(m: int, n: int, swizzled: bool) -> int:
    cols = n // 16
    return ((m + 127) // 128 * 128) * ((cols + 3) // 4 * 4) if swizzled else m * cols


def vllm_error(vllm) -> str | None:
    """Why vLLM's kernel cannot run here (None when it can)."""
    if vllm is None:
        return "no vLLM library given"
    try:
        x = torch.zeros(128, 64, dtype=torch.float16, device="cuda")
        vllm.scaled_fp4_quant(x, torch.ones(1, device="cuda"), True)
        torch.cuda.synchronize()
        return None
    except RuntimeError as e:
        return str(e).splitlines()[0][:160]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    args = parser.parse_args()
    vllm = common.load_vllm(args.vllm_lib)
    why_not_vllm = vllm_error(vllm)
    print(f"vLLM's scaled_fp4_quant: {why_not_vllm or 'runs here'}")
    rows = []
    for dtype in (torch.float16, torch.bfloat16):
        for m, n in SHAPES:
            moved_in = m * n * 2
            sets = common.rotating_sets(
                lambda m=m, n=n, dtype=dtype: torch.randn(m, n, device="cuda", dtype=dtype), moved_in)
            g = torch.tensor([448.0 * 6.0 / 4.0], device="cuda")
            for swizzled in (True, False):
                moved = moved_in + m * n // 2 + scale_bytes(m, n, swizzled)
                row = {"dtype": str(dtype).removeprefix("torch."), "m": m, "n": n,
                       "layout": "swizzled" if swizzled else "linear"}
                mine = lambda x, s=swizzled, g=g: ours.scaled_fp4_quant(x, g, s)  # noqa: E731
                arg_sets = [(x,) for x in sets]
                if why_not_vllm is None:
                    theirs = lambda x, s=swizzled, g=g: vllm.scaled_fp4_quant(x, g, s)  # noqa: E731
                    row["ours_us"], row["vllm_us"] = common.time_pair_us(mine, theirs, arg_sets)
                    row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
                else:
                    row["ours_us"] = common.time_us(mine, arg_sets)
                row["ours_of_copy"] = common.copy_baseline_us(moved) / row["ours_us"]
                rows.append(row)
                print(row)
    big = [r for r in rows if r["m"] * r["n"] >= 4096 * 4096]
    summary = {"vllm": why_not_vllm or "ran",
               "of_copy_min_at_4096x4096_or_more": min(r["ours_of_copy"] for r in big),
               "of_copy_geomean_at_4096x4096_or_more": common.geomean([r["ours_of_copy"] for r in big])}
    if why_not_vllm is None:
        summary["geomean_vs_vllm"] = common.geomean([r["speedup_vs_vllm"] for r in rows])
    columns = [("dtype", "dtype", ""), ("m", "M", ""), ("n", "N", ""), ("layout", "scales", ""),
               ("ours_us", "ours us", ".2f"), ("vllm_us", "vllm us", ".2f"), ("speedup_vs_vllm", "vs vllm", ".2f"),
               ("ours_of_copy", "of copy", ".2f")]
    common.report(args.out, "bench_fp4", rows, columns, summary,
                  lambda r: f"{r['dtype']} {r['m']}x{r['n']} {r['layout']}")


if __name__ == "__main__":
    main()
