"""Side-by-side GGUF benchmark on one GPU, in one process:

  ours        vllm_ops' kernels (torch.ops.<ns>.ggml_*)
  vllm        vLLM 0.22.0's ggml kernels (torch.ops._C.ggml_*, from its _C_stable_libtorch.abi3.so),
              for the types each of its ops handles (its ggml_dequantize crashes the process on
              F16, BF16 and MXFP4, so those have no vLLM number)
  copy        a device copy: bytes moved / time, the bandwidth ceiling
  matmul      fp16 torch.matmul on the dequantized weight (mat-mat only)

Weights rotate over enough copies to exceed 3x the L2 cache, so no contender reads them from L2
across calls. Prints tables, writes <out>/bench_gguf.json and <out>/bench_gguf.png.

  python benchmarks/bench_gguf.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
  python benchmarks/bench_gguf.py --parts dequant,mmvq --types Q4_0,Q4_K   # a subset
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import common  # noqa: E402
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType  # noqa: E402
from test_gguf import align_block_size, random_blocks  # noqa: E402

import vllm_ops  # noqa: E402

ours = getattr(torch.ops, vllm_ops.namespace)

QUANT_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ1_S", "IQ1_M",
               "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_NL", "IQ4_XS", "MXFP4"]
FLOAT_TYPES = ["F32", "F16", "BF16"]
# What each vLLM 0.22.0 op handles (its Python layer's type lists; other ids crash or return
# uninitialised memory there).
VLLM_DEQUANT = set(QUANT_TYPES) - {"MXFP4"}
VLLM_MMVQ = set(QUANT_TYPES) - {"MXFP4"}
VLLM_MMQ = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}
MMVQ_SHAPES = [(4096, 4096), (4096, 14336), (14336, 4096), (8192, 8192)]  # (K, N)


def tid(name):
    return int(GGMLQuantizationType[name])


def weight_bytes(name, n, k):
    elems, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType[name]]
    return n * k // elems * nbytes


def make_weight(name, n, k, experts=1):
    """Valid random blocks (64 distinct rows, tiled) as one [experts?, n, bytes] GPU tensor."""
    pattern = torch.from_numpy(random_blocks(name, 64, k, seed=1, max_abs=50)).cuda()
    w = pattern.repeat((n * experts + 63) // 64, 1)[: n * experts].contiguous()
    return w.view(experts, n, -1) if experts > 1 else w


def rotating(name, n, k, extra_bytes=0, experts=1):
    base = make_weight(name, n, k, experts)
    return common.rotating_sets(lambda: base.clone(), weight_bytes(name, n, k) * experts + extra_bytes)


_COPY_US: dict[int, float] = {}


def copy_of(moved: int, us: float) -> float:
    """Fraction of copy bandwidth: a device copy moving the same bytes (read + write), over us."""
    if moved not in _COPY_US:
        _COPY_US[moved] = common.copy_baseline_us(moved)
    return _COPY_US[moved] / us


def copy_bandwidth():
    moved = 2 << 30
    return moved / common.copy_baseline_us(moved) / 1e3  # GB/s


def bench_dequant(vllm, types):
    rows = []
    m = n = 4096
    for name in types:
        sets = [(w,) for w in rotating(name, m, n, extra_bytes=m * n * 2)]
        fn = lambda w, name=name: ours.ggml_dequantize(w, tid(name), m, n, torch.float16)  # noqa: E731
        moved = weight_bytes(name, m, n) + m * n * 2
        row = {"part": "dequant", "type": name, "m": m, "n": n}
        if vllm is not None and name in VLLM_DEQUANT:
            vfn = lambda w, name=name: vllm.ggml_dequantize(w, tid(name), m, n, torch.float16)  # noqa: E731
            row["ours_us"], row["vllm_us"] = common.time_pair_us(fn, vfn, sets)
            row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
        else:
            row["ours_us"] = common.time_us(fn, sets)
        row["ours_gbs_out"] = m * n * 2 / row["ours_us"] / 1e3
        row["ours_of_copy"] = copy_of(moved, row["ours_us"])
        rows.append(row)
        print_row(row)
    return rows


def bench_mmvq(vllm, types, tokens_list=(1, 4, 8), shapes=MMVQ_SHAPES):
    rows = []
    for k, n in shapes:
        for name in types:
            sets_w = rotating(name, n, k)
            for tokens in tokens_list:
                x = torch.randn(tokens, k, device="cuda", dtype=torch.float16)
                sets = [(w, x) for w in sets_w]
                fn = lambda w, x, name=name, n=n: ours.ggml_mul_mat_vec_a8(w, x, tid(name), n)  # noqa: E731
                row = {"part": "mmvq", "type": name, "tokens": tokens, "k": k, "n": n}
                if vllm is not None and name in VLLM_MMVQ:
                    vfn = lambda w, x, name=name, n=n: vllm.ggml_mul_mat_vec_a8(w, x, tid(name), n)  # noqa: E731
                    row["ours_us"], row["vllm_us"] = common.time_pair_us(fn, vfn, sets)
                    row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
                else:
                    row["ours_us"] = common.time_us(fn, sets)
                row["weight_mb"] = weight_bytes(name, n, k) / 1e6
                row["ours_of_copy"] = copy_of(weight_bytes(name, n, k), row["ours_us"])
                rows.append(row)
                print_row(row)
    return rows


def fused_runner(name, n, tokens):
    """Our fused kernel at any token count: ggml_moe_a8 over one expert with every token routed
    to it (the sorted blocks are then the dense token groups)."""
    block = ours.ggml_moe_get_block_size(tid(name))
    s, e, p = (v.cuda() for v in align_block_size(torch.zeros(tokens, 1, dtype=torch.int32), block, 1))
    return lambda w, x: ours.ggml_moe_a8(x, w.unsqueeze(0), s, e, p, tid(name), n, 1, tokens)


def bench_mmq(vllm, types, tokens_list=(16, 64, 512, 4096), k=4096, n=4096):
    rows = []
    for name in types:
        sets_w = rotating(name, n, k)
        dense = ours.ggml_dequantize(sets_w[0], tid(name), n, k, torch.float16)
        for tokens in tokens_list:
            x = torch.randn(tokens, k, device="cuda", dtype=torch.float16)
            sets = [(w, x) for w in sets_w]
            fn = lambda w, x, name=name: ours.ggml_mul_mat_a8(w, x, tid(name), n)  # noqa: E731
            row = {"part": "mmq", "type": name, "tokens": tokens, "k": k, "n": n}
            if vllm is not None and name in VLLM_MMQ:
                vfn = lambda w, x, name=name: vllm.ggml_mul_mat_a8(w, x, tid(name), n)  # noqa: E731
                row["ours_us"], row["vllm_us"] = common.time_pair_us(fn, vfn, sets)
                row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
            else:
                row["ours_us"] = common.time_us(fn, sets)
            # the other paths at this token count (for the crossovers): the integer-dot kernel, and
            # dequantize + fp16 matmul; and fp16 matmul on the dequantized weight alone
            row["dot_path_us"] = common.time_us(
                lambda w, x, name=name: ours.ggml_mul_mat_vec_a8(w, x, tid(name), n), sets)
            row["fused_us"] = common.time_us(fused_runner(name, n, tokens), sets)
            row["dequant_gemm_us"] = common.time_us(
                lambda w, x, name=name: torch.matmul(x, ours.ggml_dequantize(w, tid(name), n, k, x.dtype).t()), sets)
            dense_sets = [(dense.clone(), x) for _ in range(len(sets_w))]
            row["matmul_fp16_us"] = common.time_us(lambda w, x: torch.matmul(x, w.t()), dense_sets)
            row["ours_over_matmul"] = row["ours_us"] / row["matmul_fp16_us"]
            row["ours_of_copy"] = copy_of(weight_bytes(name, n, k), row["ours_us"])
            rows.append(row)
            print_row(row)
    return rows


def moe_runner(lib, op, topk, top_k, name, n, tokens, experts):
    """A call of one library's MoE op with its own routing (each library's block size)."""
    if op == "ggml_moe_a8_vec":
        t = topk.cuda()
        return lambda w, x: lib.ggml_moe_a8_vec(x, w, t, top_k, tid(name), n, tokens)
    block = lib.ggml_moe_get_block_size(tid(name))
    s, e, p = (v.cuda() for v in align_block_size(topk, block, experts))
    return lambda w, x: lib.ggml_moe_a8(x, w, s, e, p, tid(name), n, top_k, tokens)


def bench_moe(vllm, types, tokens_list=(1, 16, 512), experts=8, top_k=2, k=4096, n=14336):
    rows = []
    for name in types:
        sets_w = rotating(name, n, k, experts=experts)
        for tokens in tokens_list:
            x = torch.randn(tokens, k, device="cuda", dtype=torch.float16)
            topk = torch.stack([torch.randperm(experts)[:top_k] for _ in range(tokens)]).to(torch.int32)
            for op in ("ggml_moe_a8_vec", "ggml_moe_a8"):
                row = {"part": "moe", "op": op, "type": name, "tokens": tokens, "k": k, "n": n}

                sets = [(w, x) for w in sets_w]
                if vllm is not None and name in (VLLM_MMQ if op == "ggml_moe_a8" else VLLM_MMVQ):
                    row["ours_us"], row["vllm_us"] = common.time_pair_us(
                        moe_runner(ours, op, topk, top_k, name, n, tokens, experts),
                        moe_runner(vllm, op, topk, top_k, name, n, tokens, experts), sets)
                    row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
                else:
                    row["ours_us"] = common.time_us(moe_runner(ours, op, topk, top_k, name, n, tokens, experts), sets)
                used = min(experts, tokens * top_k)
                row["ours_of_copy"] = copy_of(used * weight_bytes(name, n, k), row["ours_us"])
                rows.append(row)
                print_row(row)
    return rows


def agreement(vllm, types):
    """Max relative error of each library's mat-vec against a float64 reference, and between them."""
    rows = []
    k, n, tokens = 4096, 512, 4
    for name in types:
        w = make_weight(name, n, k)
        wd = ours.ggml_dequantize(w, tid(name), n, k, torch.float32).double()
        x = torch.randn(tokens, k, device="cuda", dtype=torch.float16) / 64  # |outputs| well inside fp16
        ref = x.double() @ wd.T
        scale = ref.abs().max().item()
        row = {"part": "agreement", "type": name}
        mine = ours.ggml_mul_mat_vec_a8(w, x, tid(name), n).double()
        row["ours_max_rel_err"] = (mine - ref).abs().max().item() / scale
        if vllm is not None and name in VLLM_MMVQ:
            v = vllm.ggml_mul_mat_vec_a8(w, x, tid(name), n).double()
            row["vllm_max_rel_err"] = (v - ref).abs().max().item() / scale
        if vllm is not None and name in VLLM_DEQUANT:
            vd = vllm.ggml_dequantize(w, tid(name), n, k, torch.float16).double()
            ours_half = ours.ggml_dequantize(w, tid(name), n, k, torch.float16).double()
            row["dequant_fp16_elems_differing_from_vllm"] = int((vd != ours_half).sum().item())
            row["dequant_fp16_max_abs_diff_vs_vllm"] = (vd - ours_half).abs().max().item()
        rows.append(row)
        print_row(row)
    return rows


def print_row(row):
    print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--parts", default="agreement,dequant,mmvq,mmq,moe")
    parser.add_argument("--types", default=",".join(QUANT_TYPES))
    parser.add_argument("--moe-types", default="Q4_0,Q4_K,Q6_K,Q8_0")
    parser.add_argument("--mmvq-shapes", default="all", help="'all', or indices into MMVQ_SHAPES such as 0,1")
    parser.add_argument("--mmvq-tokens", default="1,4,8", help="token counts of the mat-vec part")
    parser.add_argument("--mmq-tokens", default="16,64,512,4096", help="token counts of the mat-mat part")
    parser.add_argument("--mmq-types", default=None, help="types of the mat-mat part (default: --types)")
    args = parser.parse_args()
    vllm = common.load_vllm(args.vllm_lib)
    types = args.types.split(",")
    parts = args.parts.split(",")
    copy_gbs = copy_bandwidth()
    print(f"copy bandwidth: {copy_gbs:.0f} GB/s (2 GiB moved)")
    rows = []
    if "agreement" in parts:
        rows += agreement(vllm, types)
    if "dequant" in parts:
        rows += bench_dequant(vllm, types + FLOAT_TYPES)
    if "mmvq" in parts:
        rows += bench_mmvq(vllm, types, tokens_list=[int(t) for t in args.mmvq_tokens.split(",")],
                           shapes=MMVQ_SHAPES if args.mmvq_shapes == "all"
                           else [MMVQ_SHAPES[int(i)] for i in args.mmvq_shapes.split(",")])
    if "mmq" in parts:
        rows += bench_mmq(vllm, args.mmq_types.split(",") if args.mmq_types else types,
                          tokens_list=[int(t) for t in args.mmq_tokens.split(",")])
    if "moe" in parts:
        rows += bench_moe(vllm, args.moe_types.split(","))
    summary = {"copy_gbs": copy_gbs}
    for part in ("dequant", "mmvq", "mmq", "moe"):
        ratios = [r["speedup_vs_vllm"] for r in rows if r["part"] == part and "speedup_vs_vllm" in r]
        if ratios:
            summary[part] = {"geomean_vs_vllm": common.geomean(ratios), "min_vs_vllm": min(ratios),
                             "cases_below_1": sum(r < 1.0 for r in ratios), "cases": len(ratios)}
    print("summary", summary)
    common.write_results(args.out, "bench_gguf", rows, summary)
    timed = [r for r in rows if "ours_of_copy" in r]
    common.plot_ratios(timed, args.out / "bench_gguf.png",
                       lambda r: f"{r['part']} {r['type']} {r.get('tokens', '')}")


if __name__ == "__main__":
    main()
