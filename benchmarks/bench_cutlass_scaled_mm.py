"""Side-by-side cutlass_scaled_mm benchmark on one GPU, in one process:

  ours         vllm_ops' cutlass_scaled_mm (CUTLASS 3.x, sm_90a)
  vllm         vLLM 0.22.0's cutlass_scaled_mm (torch.ops._C, from its _C_stable_libtorch.abi3.so)
  _scaled_mm   torch._scaled_mm (cuBLASLt), FP8 only: it has no INT8 form

Per-token a scales x per-channel b scales, bf16 out, no bias (the issue's anchor), FP8 e4m3 and
INT8, at the issue's (M, N, K); cutlass_scaled_mm_azp (per-token zero points) against vLLM's at a
few of them. Operands rotate over enough copies to exceed 3x the L2. Reports time, TFLOP/s,
ratios to each baseline and to the faster one, and the max relative difference from vLLM's
output. Prints a table, writes <out>/bench_cutlass_scaled_mm.json and .png.

  python benchmarks/bench_cutlass_scaled_mm.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
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
SHAPES = [(1, 4096, 4096), (16, 4096, 4096), (256, 4096, 4096), (4096, 4096, 4096), (8192, 8192, 8192),
          (16, 14336, 4096), (4096, 4096, 14336)]
AZP_SHAPES = [(1, 4096, 4096), (256, 4096, 4096), (4096, 4096, 4096)]
# Dense tensor-core peaks of the H200 SXM (NVIDIA's datasheet), for the fraction-of-peak column.
PEAK_TFLOPS = {"fp8": 1979.0, "int8": 1979.0}


def operand_sets(m, n, k, dtype, azp=False):
    def make():
        if dtype == torch.int8:
            a = torch.randint(-128, 128, (m, k), device="cuda", dtype=torch.int8)
            w = torch.randint(-128, 128, (n, k), device="cuda", dtype=torch.int8)
        else:
            a = torch.randn(m, k, device="cuda").to(dtype)
            w = torch.randn(n, k, device="cuda").to(dtype)
        sa = torch.rand(m, 1, device="cuda") * 0.01
        sb = torch.rand(1, n, device="cuda") * 0.01
        out = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
        extra = ()
        if azp:
            extra = (w.int().sum(1, dtype=torch.int32), torch.randint(-8, 8, (m,), device="cuda", dtype=torch.int32))
        return (out, a, w.t(), sa, sb, *extra)

    return common.rotating_sets(make, m * k + n * k + m * n * 2)


def bench_gemm(vllm, name, dtype, shapes):
    rows = []
    for m, n, k in shapes:
        sets = operand_sets(m, n, k, dtype)
        row = {"part": "scaled_mm", "dtype": name, "m": m, "n": n, "k": k}
        mine = lambda out, a, b, sa, sb: ours.cutlass_scaled_mm(out, a, b, sa, sb, None)  # noqa: E731
        if vllm is not None:
            theirs = lambda out, a, b, sa, sb: vllm.cutlass_scaled_mm(out, a, b, sa, sb, None)  # noqa: E731
            row["ours_us"], row["vllm_us"] = common.time_pair_us(mine, theirs, sets)
            row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
            out, a, b, sa, sb = sets[0]
            mine(out, a, b, sa, sb)
            mine_out = out.float()
            theirs(out, a, b, sa, sb)
            row["max_rel_diff_vs_vllm"] = ((mine_out - out.float()).abs().max() / out.float().abs().max()).item()
        else:
            row["ours_us"] = common.time_us(mine, sets)
        if dtype != torch.int8:
            cublas = lambda out, a, b, sa, sb: torch._scaled_mm(a, b, sa, sb, out_dtype=torch.bfloat16)  # noqa: E731
            row["scaled_mm_us"] = common.time_us(cublas, sets)
            row["speedup_vs_scaled_mm"] = row["scaled_mm_us"] / row["ours_us"]
        best = min(row.get("vllm_us", float("inf")), row.get("scaled_mm_us", float("inf")))
        if best != float("inf"):
            row["speedup_vs_best"] = best / row["ours_us"]
        row["tflops"] = 2 * m * n * k / row["ours_us"] / 1e6
        row["of_peak"] = row["tflops"] / PEAK_TFLOPS[name]
        # Memory-bound few-token cases: the bytes that must move, against a copy of them.
        row["ours_of_copy"] = common.copy_baseline_us(m * k + n * k + m * n * 2) / row["ours_us"]
        rows.append(row)
        print(row)
    return rows


def bench_azp(vllm, shapes):
    rows = []
    for m, n, k in shapes:
        sets = operand_sets(m, n, k, torch.int8, azp=True)
        row = {"part": "scaled_mm_azp", "dtype": "int8", "m": m, "n": n, "k": k}
        mine = lambda out, a, b, sa, sb, adj, azp: ours.cutlass_scaled_mm_azp(out, a, b, sa, sb, adj, azp, None)  # noqa: E731
        if vllm is not None:
            theirs = lambda out, a, b, sa, sb, adj, azp: vllm.cutlass_scaled_mm_azp(out, a, b, sa, sb, adj, azp, None)  # noqa: E731
            row["ours_us"], row["vllm_us"] = common.time_pair_us(mine, theirs, sets)
            row["speedup_vs_vllm"] = row["speedup_vs_best"] = row["vllm_us"] / row["ours_us"]
        else:
            row["ours_us"] = common.time_us(mine, sets)
        row["tflops"] = 2 * m * n * k / row["ours_us"] / 1e6
        row["of_peak"] = row["tflops"] / PEAK_TFLOPS["int8"]
        row["ours_of_copy"] = common.copy_baseline_us(m * k + n * k + m * n * 2) / row["ours_us"]
        rows.append(row)
        print(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--parts", default="fp8,int8,azp")
    args = parser.parse_args()
    vllm = common.load_vllm(args.vllm_lib)
    rows = []
    if "fp8" in args.parts:
        rows += bench_gemm(vllm, "fp8", torch.float8_e4m3fn, SHAPES)
    if "int8" in args.parts:
        rows += bench_gemm(vllm, "int8", torch.int8, SHAPES)
    if "azp" in args.parts:
        rows += bench_azp(vllm, AZP_SHAPES)
    summary = {}
    for part, dtype in (("scaled_mm", "fp8"), ("scaled_mm", "int8"), ("scaled_mm_azp", "int8")):
        picked = [r for r in rows if r["part"] == part and r["dtype"] == dtype]
        if picked and "speedup_vs_vllm" in picked[0]:
            summary[f"{part}_{dtype}"] = {
                "geomean_vs_vllm": common.geomean([r["speedup_vs_vllm"] for r in picked]),
                "min_vs_best": min(r["speedup_vs_best"] for r in picked),
                "cases_below_0.95_of_best": sum(r["speedup_vs_best"] < 0.95 for r in picked)}
    columns = [("part", "part", ""), ("dtype", "dtype", ""), ("m", "M", ""), ("n", "N", ""), ("k", "K", ""),
               ("ours_us", "ours us", ".2f"), ("vllm_us", "vllm us", ".2f"), ("scaled_mm_us", "_scaled_mm us", ".2f"),
               ("speedup_vs_vllm", "vs vllm", ".3f"), ("speedup_vs_scaled_mm", "vs _scaled_mm", ".3f"),
               ("speedup_vs_best", "vs best", ".3f"), ("tflops", "TFLOP/s", ".0f"), ("of_peak", "of peak", ".2f"),
               ("ours_of_copy", "of copy", ".2f"), ("max_rel_diff_vs_vllm", "max rel diff", ".1e")]
    common.report(args.out, "bench_cutlass_scaled_mm", rows, columns, summary,
                  lambda r: f"{r['part']} {r['dtype']} {r['m']}x{r['n']}x{r['k']}")


if __name__ == "__main__":
    main()
