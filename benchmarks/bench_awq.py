"""Side-by-side AWQ and permute_cols benchmark on one GPU, in one process:

  ours     vllm_ops' awq_gemm / awq_dequantize / permute_cols
  vllm     vLLM 0.22.0's kernels (torch.ops._C.*, from its _C_stable_libtorch.abi3.so)
  matmul   fp16 torch.matmul on the dequantized weight (awq_gemm only)
  copy     a device copy moving the same bytes (awq_dequantize, permute_cols)

Weights and inputs rotate over enough copies to exceed 3x the L2. Prints a table, writes
<out>/bench_awq.json and <out>/bench_awq.png.

  python benchmarks/bench_awq.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import common  # noqa: E402
from test_awq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ours = getattr(torch.ops, vllm_ops.namespace)


def checkpoint_sets(k, n, group, extra_bytes=0):
    ck = Checkpoint(k, n, group)
    base = ck.args("cuda")
    weight_bytes = sum(t.numel() * t.element_size() for t in base)
    return common.rotating_sets(lambda: tuple(t.clone() for t in base), weight_bytes + extra_bytes), weight_bytes


def bench_gemm(vllm, tokens_list, shapes, group=128, split_k=8):
    rows = []
    for k, n in shapes:
        sets, weight_bytes = checkpoint_sets(k, n, group)
        w_fp16 = [ours.awq_dequantize(*s, 0, 0, 0) for s in sets[:1]]
        for m in tokens_list:
            x = torch.randn(m, k, device="cuda", dtype=torch.float16)
            args = [(x, *s) for s in sets]
            row = {"part": "awq_gemm", "m": m, "k": k, "n": n}
            mine = lambda x, q, s, z: ours.awq_gemm(x, q, s, z, split_k)  # noqa: E731
            if vllm is not None:
                theirs = lambda x, q, s, z: vllm.awq_gemm(x, q, s, z, split_k)  # noqa: E731
                row["ours_us"], row["vllm_us"] = common.time_pair_us(mine, theirs, args)
                row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
            else:
                row["ours_us"] = common.time_us(mine, args)
            dense = common.rotating_sets(w_fp16[0].clone, k * n * 2)
            row["matmul_fp16_us"] = common.time_us(torch.matmul, [(x, w) for w in dense])
            row["speedup_vs_matmul"] = row["matmul_fp16_us"] / row["ours_us"]
            row["ours_of_copy"] = common.copy_baseline_us(weight_bytes) / row["ours_us"]
            rows.append(row)
            print(row)
    return rows


def bench_dequant(vllm, shapes, group=128):
    rows = []
    for k, n in shapes:
        sets, weight_bytes = checkpoint_sets(k, n, group, extra_bytes=k * n * 2)
        moved = weight_bytes + k * n * 2
        row = {"part": "awq_dequantize", "k": k, "n": n}
        mine = lambda q, s, z: ours.awq_dequantize(q, s, z, 0, 0, 0)  # noqa: E731
        if vllm is not None:
            theirs = lambda q, s, z: vllm.awq_dequantize(q, s, z, 0, 0, 0)  # noqa: E731
            row["ours_us"], row["vllm_us"] = common.time_pair_us(mine, theirs, sets)
            row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
        else:
            row["ours_us"] = common.time_us(mine, sets)
        row["ours_of_copy"] = common.copy_baseline_us(moved) / row["ours_us"]
        rows.append(row)
        print(row)
    return rows


def bench_permute(vllm, shapes):
    rows = []
    for m, k in shapes:
        perm = torch.randperm(k, device="cuda").int()
        sets = [(a, perm) for a in common.rotating_sets(
            lambda m=m, k=k: torch.randn(m, k, device="cuda", dtype=torch.float16), 2 * m * k * 2)]
        row = {"part": "permute_cols", "m": m, "k": k}
        if vllm is not None:
            row["ours_us"], row["vllm_us"] = common.time_pair_us(ours.permute_cols, vllm.permute_cols, sets)
            row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
        else:
            row["ours_us"] = common.time_us(ours.permute_cols, sets)
        row["ours_of_copy"] = common.copy_baseline_us(2 * m * k * 2) / row["ours_us"]
        rows.append(row)
        print(row)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--parts", default="gemm,dequant,permute")
    parser.add_argument("--gemm-tokens", default="1,16,64,512", help="M of the awq_gemm part")
    args = parser.parse_args()
    vllm = common.load_vllm(args.vllm_lib)
    shapes = [(4096, 4096), (4096, 14336)]
    rows = []
    if "gemm" in args.parts:
        rows += bench_gemm(vllm, [int(m) for m in args.gemm_tokens.split(",")], shapes)
    if "dequant" in args.parts:
        rows += bench_dequant(vllm, shapes)
    if "permute" in args.parts:
        rows += bench_permute(vllm, [(16, 4096), (4096, 4096), (8192, 14336)])
    summary = {}
    for part in ("awq_gemm", "awq_dequantize", "permute_cols"):
        picked = [r for r in rows if r["part"] == part]
        if picked:
            summary[part] = {"geomean_vs_vllm": common.geomean([r.get("speedup_vs_vllm", 0) for r in picked]),
                             "cases_below_1": sum(r.get("speedup_vs_vllm", 1) < 1 for r in picked),
                             "of_copy": [round(r["ours_of_copy"], 3) for r in picked]}
    columns = [("part", "part", ""), ("m", "M", ""), ("k", "K", ""), ("n", "N", ""), ("ours_us", "ours us", ".2f"),
               ("vllm_us", "vllm us", ".2f"), ("speedup_vs_vllm", "vs vllm", ".2f"),
               ("matmul_fp16_us", "matmul us", ".2f"), ("speedup_vs_matmul", "vs matmul", ".2f"),
               ("ours_of_copy", "of copy", ".2f")]
    common.report(args.out, "bench_awq", rows, columns, summary,
                  lambda r: f"{r['part']} {r.get('m', '')}x{r.get('k', '')}x{r.get('n', '')}")


if __name__ == "__main__":
    main()
