"""Bit-for-bit agreement with vLLM 0.22.0's W8A8 quantization kernels, on identical inputs.

A randomized sweep: each case draws an op variant, input dtype, shape (1 token to hundreds, odd
and even widths up to 20000), magnitude and specials (all-zero rows, constant rows, outliers
past the int8/fp8 range), runs our op and vLLM's on copies of the same tensors, and compares
every output: quantized values, scales and zero points. Writes <out>/compare_vllm_quant.json;
exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

import vllm_ops  # noqa: E402

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
FP8 = torch.float8_e4m3fn


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def make_case(rng: random.Random):
    """(variant, op name, x, outputs to compare (names), argument builder)."""
    variant = rng.choice(["static_int8", "static_int8_azp", "dynamic_int8", "dynamic_int8_azp", "static_fp8",
                          "static_fp8_group", "dynamic_fp8", "per_token_fp8", "per_token_fp8_ub"])
    dtype = rng.choice(DTYPES)
    rows = rng.choice([1, 2, 3, 7, 16, 64, 128, 300])
    cols = rng.choice([1, 7, 8, 64, 127, 128, 1000, 1024, 2048, 4096, 5120, 14336, 20000])
    mag = 10 ** rng.uniform(-4, 4)
    x = torch.randn(rows, cols, device="cuda") * mag
    if rows > 2 and rng.random() < 0.5:
        x[rng.randrange(rows)] = 0.0
        x[rng.randrange(rows)] = mag
    if rng.random() < 0.3:
        x.view(-1)[torch.randint(0, x.numel(), (max(1, x.numel() // 100),), device="cuda")] *= 1e4
    x = x.to(dtype)
    if variant.endswith("int8") or variant.endswith("int8_azp"):
        out_dtype = torch.int8
    else:
        out_dtype = FP8
    extra: dict = {}
    if variant.startswith("static"):
        extra["scale"] = torch.tensor([mag * rng.uniform(0.001, 0.05)], device="cuda")
    if variant == "static_int8_azp":
        extra["azp"] = torch.tensor([rng.randint(-20, 20)], dtype=torch.int32, device="cuda")
    if variant == "static_fp8_group":
        gm, gn = rng.choice(_divisors(rows)), rng.choice(_divisors(cols))
        shape = (rows // gm, cols // gn)
        extra["scale"] = (torch.rand(shape, device="cuda") + 0.01) * mag * 0.01
        extra["group_shape"] = [gm, gn] if rng.random() < 0.5 else None
    if variant.startswith("dynamic_int8"):
        extra["scale"] = torch.full((rows, 1), 7.0, device="cuda")
        extra["azp"] = torch.full((rows, 1), 9, dtype=torch.int32, device="cuda") if variant.endswith("azp") else None
    if variant == "dynamic_fp8":
        extra["scale"] = torch.full((1,), 7.0, device="cuda")
    if variant.startswith("per_token"):
        extra["scale"] = torch.full((rows, 1), 7.0, device="cuda")
        extra["scale_ub"] = torch.tensor([mag * 0.5], device="cuda") if variant.endswith("ub") else None
    return variant, dtype, rows, cols, x, out_dtype, extra


def run(lib, variant, x, out_dtype, extra):
    out = torch.full(x.shape, 0, device="cuda", dtype=torch.int8).view(out_dtype)
    e = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in extra.items()}
    if variant.startswith("static_int8"):
        lib.static_scaled_int8_quant(out, x, e["scale"], e.get("azp"))
    elif variant.startswith("dynamic_int8"):
        lib.dynamic_scaled_int8_quant(out, x, e["scale"], e["azp"])
    elif variant.startswith("static_fp8"):
        lib.static_scaled_fp8_quant(out, x, e["scale"], e.get("group_shape"))
    elif variant == "dynamic_fp8":
        lib.dynamic_scaled_fp8_quant(out, x, e["scale"])
    else:
        lib.dynamic_per_token_scaled_fp8_quant(out, x, e["scale"], e["scale_ub"])
    results = {"q": out.view(torch.int8)}
    for k in ("scale", "azp"):
        if torch.is_tensor(e.get(k)) and not variant.startswith("static"):
            results[k] = e[k]
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vllm-lib", required=True)
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    vllm = common.load_vllm(a.vllm_lib)
    ours = getattr(torch.ops, vllm_ops.namespace)
    rng = random.Random(a.seed)
    torch.manual_seed(a.seed)
    per_variant: dict[str, dict] = {}
    failures = []
    for i in range(a.cases):
        variant, dtype, rows, cols, x, out_dtype, extra = make_case(rng)
        mine, theirs = run(ours, variant, x, out_dtype, extra), run(vllm, variant, x, out_dtype, extra)
        stat = per_variant.setdefault(variant, {"variant": variant, "cases": 0, "elements": 0, "mismatched_cases": 0,
                                                "mismatched_values": 0})
        stat["cases"] += 1
        stat["elements"] += x.numel()
        bad = {k: int((mine[k] != theirs[k]).sum()) for k in mine}
        if any(bad.values()):
            stat["mismatched_cases"] += 1
            stat["mismatched_values"] += sum(bad.values())
            failures.append({"case": i, "variant": variant, "dtype": str(dtype), "shape": [rows, cols], **bad})
    rows = sorted(per_variant.values(), key=lambda r: r["variant"])
    common.print_table(rows, [("variant", "variant", ""), ("cases", "cases", "d"), ("elements", "elements", "d"),
                              ("mismatched_cases", "mismatched cases", "d"),
                              ("mismatched_values", "mismatched values", "d")])
    for f in failures[:20]:
        print("mismatch:", f)
    summary = {"cases": a.cases, "elements": sum(r["elements"] for r in rows),
               "mismatched_cases": len(failures), "seed": a.seed}
    print("\nsummary:", summary)
    common.write_results(a.out, "compare_vllm_quant", rows + failures[:100], summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
