"""Side-by-side W8A8 quantization benchmark on one GPU, in one process:

  ours        vllm_ops' kernels (torch.ops.<ns>.*)
  vllm        vLLM 0.22.0's kernels (torch.ops._C.*, from its _C_stable_libtorch.abi3.so)
  copy        a device copy moving the same number of bytes (read + write)
  compiled    torch.compile of a float32 torch formulation of the op (selected variants)

Prints a table, writes <out>/bench_quant.json and <out>/bench_quant.png.

  python benchmarks/bench_quant.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import vllm_ops  # noqa: E402

TOKENS = [1, 16, 256, 4096, 16384]
HIDDEN = [2048, 4096, 8192]
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
FP8 = torch.float8_e4m3fn


def _scale(tokens, hidden):
    return torch.tensor([0.02], device="cuda")


# variant -> (op name, output dtype, make the extra arguments after (out, x), )
VARIANTS = {
    "static_int8": ("static_scaled_int8_quant", torch.int8, lambda t, h: (_scale(t, h), None)),
    "static_int8_azp": ("static_scaled_int8_quant", torch.int8,
                        lambda t, h: (_scale(t, h), torch.tensor([3], dtype=torch.int32, device="cuda"))),
    "dynamic_int8": ("dynamic_scaled_int8_quant", torch.int8, lambda t, h: (torch.empty(t, 1, device="cuda"), None)),
    "dynamic_int8_azp": ("dynamic_scaled_int8_quant", torch.int8,
                         lambda t, h: (torch.empty(t, 1, device="cuda"),
                                       torch.empty(t, 1, dtype=torch.int32, device="cuda"))),
    "static_fp8": ("static_scaled_fp8_quant", FP8, lambda t, h: (_scale(t, h), None)),
    "static_fp8_1x128": ("static_scaled_fp8_quant", FP8,
                         lambda t, h: (torch.rand(t, h // 128, device="cuda") + 0.01, [1, 128])),
    "dynamic_fp8": ("dynamic_scaled_fp8_quant", FP8, lambda t, h: (torch.empty(1, device="cuda"),)),
    "per_token_fp8": ("dynamic_per_token_scaled_fp8_quant", FP8,
                      lambda t, h: (torch.empty(t, 1, device="cuda"), None)),
}


def _amax(x):
    return x.float().abs().amax(-1, keepdim=True)


# How a model would write these in plain torch (float32 math), for torch.compile.
TORCH_FORMULATIONS = {
    "static_int8": lambda x, s: torch.round(x.float() / s).clamp(-128, 127).to(torch.int8),
    "dynamic_int8": lambda x, s: (torch.round(x.float() * (127.0 / _amax(x))).clamp(-128, 127).to(torch.int8),
                                  _amax(x) / 127.0),
    "static_fp8": lambda x, s: (x.float() * (1.0 / s)).clamp(-448.0, 448.0).to(FP8),
    "per_token_fp8": lambda x, s: ((x.float() / (_amax(x) / 448.0).clamp_min(1.0 / (448.0 * 512.0)))
                                   .clamp(-448.0, 448.0).to(FP8)),
}


def bench_case(variant, dtype, tokens, hidden, vllm, compiled_cache, torch_variants):
    name, out_dtype, extra = VARIANTS[variant]
    elem = torch.tensor([], dtype=dtype).element_size()
    moved = tokens * hidden * (elem + 1)  # bytes read + bytes written (scales are negligible)

    def make():
        x = torch.randn(tokens, hidden, device="cuda", dtype=dtype)
        return (x, torch.empty(tokens, hidden, device="cuda", dtype=out_dtype), *extra(tokens, hidden))

    sets = common.rotating_sets(make, moved)
    ours_op = getattr(getattr(torch.ops, vllm_ops.namespace), name)
    row = {"variant": variant, "dtype": str(dtype).replace("torch.", ""), "tokens": tokens, "hidden": hidden,
           "bytes": moved}
    def ours(x, o, *e):
        ours_op(o, x, *e)

    if vllm is None:
        row["ours_us"] = common.time_us(ours, sets)
    else:
        vllm_op = getattr(vllm, name)
        row["ours_us"], row["vllm_us"] = common.time_pair_us(ours, lambda x, o, *e: vllm_op(o, x, *e), sets)
        row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
    if variant in torch_variants:
        compiled = compiled_cache.setdefault(variant, torch.compile(TORCH_FORMULATIONS[variant], dynamic=False))
        row["compiled_us"] = common.time_us(lambda x, o, s, *e: compiled(x, s), sets)
        row["speedup_vs_compiled"] = row["compiled_us"] / row["ours_us"]
    del sets
    row["copy_us"] = common.copy_baseline_us(moved)
    row["ours_tbps"] = moved / row["ours_us"] / 1e6
    row["ours_of_copy"] = row["copy_us"] / row["ours_us"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--torch-variants", default=",".join(TORCH_FORMULATIONS),
                        help="variants also timed as torch.compile of a torch formulation")
    parser.add_argument("--torch-dtypes", default="bf16", help="dtypes for the torch.compile baseline")
    parser.add_argument("--tokens", default=",".join(map(str, TOKENS)))
    parser.add_argument("--hidden", default=",".join(map(str, HIDDEN)))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    a = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    torch._dynamo.config.cache_size_limit = 1024
    vllm = common.load_vllm(a.vllm_lib)
    torch_variants = set(a.torch_variants.split(",")) if a.torch_variants else set()
    rows, compiled_cache = [], {}
    for variant in a.variants.split(","):
        for dname in a.dtypes.split(","):
            for tokens in map(int, a.tokens.split(",")):
                for hidden in map(int, a.hidden.split(",")):
                    compile_here = torch_variants if dname in a.torch_dtypes.split(",") else set()
                    rows.append(bench_case(variant, DTYPES[dname], tokens, hidden, vllm, compiled_cache,
                                           compile_here))
    columns = [
        ("variant", "variant", ""), ("dtype", "dtype", ""), ("tokens", "tokens", "d"), ("hidden", "hidden", "d"),
        ("ours_us", "ours us", ".2f"), ("vllm_us", "vllm us", ".2f"), ("speedup_vs_vllm", "x vllm", ".3f"),
        ("compiled_us", "compile us", ".2f"), ("copy_us", "copy us", ".2f"),
        ("ours_tbps", "ours TB/s", ".2f"), ("ours_of_copy", "of copy", ".3f"),
    ]
    ratios = [r["speedup_vs_vllm"] for r in rows if "speedup_vs_vllm" in r]
    vs_compiled = [r["speedup_vs_compiled"] for r in rows if "speedup_vs_compiled" in r]
    large = [r["ours_of_copy"] for r in rows if r["tokens"] >= 4096 and r["hidden"] >= 4096]
    summary = {
        "cases": len(rows),
        "min_speedup_vs_vllm": min(ratios) if ratios else None,
        "geomean_speedup_vs_vllm": common.geomean(ratios) if ratios else None,
        "cases_below_0.95x_vllm": sum(r < 0.95 for r in ratios),
        "geomean_speedup_vs_torch_compile": common.geomean(vs_compiled) if vs_compiled else None,
        "min_fraction_of_copy_at_4096x4096_plus": min(large) if large else None,
        "cases_below_85pct_copy_at_4096x4096_plus": sum(v < 0.85 for v in large),
    }
    common.report(a.out, "bench_quant", rows, columns, summary,
                  lambda r: f"{r['variant'][:12]} {r['dtype'][:4]} {r['tokens']}x{r['hidden']}")


if __name__ == "__main__":
    main()
