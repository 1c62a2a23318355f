"""Side-by-side activation benchmark on one GPU, in one process:

  ours        vllm_ops' kernels (torch.ops.<ns>.*)
  vllm        vLLM 0.22.0's kernels (torch.ops._C.*, from its _C_stable_libtorch.abi3.so)
  copy        a device copy moving the same number of bytes (read + write)
  eager       the torch formulation a model would use (selected ops)
  compiled    torch.compile of that formulation (selected ops)

Prints a table, writes <out>/bench_activation.json and <out>/bench_activation.png.

  python benchmarks/bench_activation.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import vllm_ops  # noqa: E402

TOKENS = [1, 16, 256, 4096, 16384]
WIDTHS = [2048, 5632, 14336]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

# name -> (gated, scalar args)
OPS = {
    "silu_and_mul": (True, ()),
    "mul_and_silu": (True, ()),
    "silu_and_mul_with_clamp": (True, (7.0,)),
    "gelu_and_mul": (True, ()),
    "gelu_tanh_and_mul": (True, ()),
    "fatrelu_and_mul": (True, (0.1,)),
    "swigluoai_and_mul": (True, (1.702, 7.0)),
    "gelu_new": (False, ()),
    "gelu_fast": (False, ()),
    "gelu_quick": (False, ()),
}


def _halves(x):
    d = x.shape[-1] // 2
    return x[..., :d], x[..., d:]


# How a model writes these in plain torch (vLLM's forward_native style), for eager/compiled.
TORCH_FORMULATIONS = {
    "silu_and_mul": lambda x: F.silu(_halves(x)[0]) * _halves(x)[1],
    "gelu_tanh_and_mul": lambda x: F.gelu(_halves(x)[0], approximate="tanh") * _halves(x)[1],
    "swigluoai_and_mul": lambda x: (
        (x[..., 1::2].clamp(-7.0, 7.0) + 1)
        * x[..., ::2].clamp(max=7.0)
        * torch.sigmoid(1.702 * x[..., ::2].clamp(max=7.0))
    ),
}


def bench_case(name, dtype, tokens, d, vllm, compiled_cache, torch_ops):
    gated, args = OPS[name]
    width = 2 * d if gated else d
    elem = torch.tensor([], dtype=dtype).element_size()
    moved = tokens * (width + d) * elem  # bytes read + bytes written

    def make():
        x = torch.randn(tokens, width, device="cuda", dtype=dtype)
        return (x, torch.empty(tokens, d, device="cuda", dtype=dtype))

    sets = common.rotating_sets(make, moved)
    ours_op = getattr(getattr(torch.ops, vllm_ops.namespace), name)
    row = {"op": name, "dtype": str(dtype).replace("torch.", ""), "tokens": tokens, "d": d, "bytes": moved}
    def ours(x, o):
        ours_op(o, x, *args)

    if vllm is None:
        row["ours_us"] = common.time_us(ours, sets)
    else:
        vllm_op = getattr(vllm, name)
        row["ours_us"], row["vllm_us"] = common.time_pair_us(ours, lambda x, o: vllm_op(o, x, *args), sets)
        row["speedup_vs_vllm"] = row["vllm_us"] / row["ours_us"]
    if name in torch_ops and name in TORCH_FORMULATIONS:
        fn = TORCH_FORMULATIONS[name]
        row["eager_us"] = common.time_us(lambda x, o: fn(x), sets)
        compiled = compiled_cache.setdefault(name, torch.compile(fn, dynamic=False))
        row["compiled_us"] = common.time_us(lambda x, o: compiled(x), sets)
    del sets
    row["copy_us"] = common.copy_baseline_us(moved)
    row["ours_tbps"] = moved / row["ours_us"] / 1e6
    row["copy_tbps"] = moved / row["copy_us"] / 1e6
    row["ours_of_copy"] = row["copy_us"] / row["ours_us"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated op names")
    parser.add_argument("--torch-ops", default="silu_and_mul", help="ops also timed as torch eager/compiled")
    parser.add_argument("--tokens", default=",".join(map(str, TOKENS)))
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    a = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    torch._dynamo.config.cache_size_limit = 1024
    vllm = common.load_vllm(a.vllm_lib)
    torch_ops = set(a.torch_ops.split(",")) if a.torch_ops else set()
    rows, compiled_cache = [], {}
    for name in a.ops.split(","):
        for dname in a.dtypes.split(","):
            for tokens in map(int, a.tokens.split(",")):
                for d in map(int, a.widths.split(",")):
                    rows.append(bench_case(name, DTYPES[dname], tokens, d, vllm, compiled_cache, torch_ops))
    columns = [
        ("op", "op", ""), ("dtype", "dtype", ""), ("tokens", "tokens", "d"), ("d", "d", "d"),
        ("ours_us", "ours us", ".2f"), ("vllm_us", "vllm us", ".2f"), ("speedup_vs_vllm", "x vllm", ".3f"),
        ("eager_us", "eager us", ".2f"), ("compiled_us", "compile us", ".2f"), ("copy_us", "copy us", ".2f"),
        ("ours_tbps", "ours TB/s", ".2f"), ("ours_of_copy", "of copy", ".3f"),
    ]
    ratios = [r["speedup_vs_vllm"] for r in rows if "speedup_vs_vllm" in r]
    large = [r["ours_of_copy"] for r in rows if r["tokens"] >= 4096]
    summary = {
        "cases": len(rows),
        "min_speedup_vs_vllm": min(ratios) if ratios else None,
        "geomean_speedup_vs_vllm": common.geomean(ratios) if ratios else None,
        "cases_below_0.95x_vllm": sum(r < 0.95 for r in ratios),
        "min_fraction_of_copy_at_4096plus_tokens": min(large) if large else None,
        "cases_below_90pct_copy_at_4096plus_tokens": sum(v < 0.90 for v in large),
    }
    common.report(a.out, "bench_activation", rows, columns, summary,
                  lambda r: f"{r['op'][:10]} {r['dtype'][:4]} {r['tokens']}x{r['d']}")


if __name__ == "__main__":
    main()
