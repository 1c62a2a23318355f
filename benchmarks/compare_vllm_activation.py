"""Semantic agreement with vLLM 0.22.0's activation kernels, on identical random inputs.

For every op x dtype x input distribution (ordinary, large magnitudes, values around the clamp
limits), reports the largest distance in output ulps between our kernel and vLLM's.
Writes <out>/compare_vllm_activation.json; exits 1 if any case exceeds --max-ulp.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_activation import OPS  # noqa: E402

import vllm_ops  # noqa: E402

SHAPES = [(1, 8), (37, 1000), (64, 4096), (3, 7)]


def distributions(name, args, shape, dtype, gen):
    limit = args[-1] if name in ("silu_and_mul_with_clamp", "swigluoai_and_mul") else 7.0
    yield "normal", torch.randn(shape, generator=gen, device="cuda")
    yield "large", torch.randn(shape, generator=gen, device="cuda") * 60
    # Uniform over [-2 limit, 2 limit], with exact +-limit and values one step either side.
    x = (torch.rand(shape, generator=gen, device="cuda") * 4 - 2) * limit
    flat = x.view(-1)
    specials = torch.tensor([limit, -limit, limit * 1.001, -limit * 1.001, limit * 0.999, 0.0], device="cuda")
    flat[: min(flat.numel(), specials.numel())] = specials[: flat.numel()]
    yield "around_limit", x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vllm-lib", required=True)
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--max-ulp", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3)
    a = parser.parse_args(argv)
    vllm = common.load_vllm(a.vllm_lib)
    ours = getattr(torch.ops, vllm_ops.namespace)
    rows = []
    for name, (gated, args) in OPS.items():
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            worst = {"op": name, "dtype": str(dtype).replace("torch.", ""), "max_ulp": 0, "elements": 0,
                     "over_1ulp": 0, "worst_case": ""}
            for seed in range(a.seeds):
                gen = torch.Generator(device="cuda").manual_seed(seed)
                for tokens, d in SHAPES:
                    shape = (tokens, 2 * d if gated else d)
                    for label, x in distributions(name, args, shape, dtype, gen):
                        x = x.to(dtype)
                        out_ours = torch.full((tokens, d), float("nan"), device="cuda", dtype=dtype)
                        out_vllm = torch.full((tokens, d), float("nan"), device="cuda", dtype=dtype)
                        getattr(ours, name)(out_ours, x, *args)
                        getattr(vllm, name)(out_vllm, x, *args)
                        dist = common.ulp_distance(out_ours, out_vllm)
                        m = int(dist.max())
                        worst["elements"] += dist.numel()
                        worst["over_1ulp"] += int((dist > 1).sum())
                        if m > worst["max_ulp"]:
                            i = int(dist.view(-1).argmax())
                            worst["max_ulp"] = m
                            worst["worst_case"] = (
                                f"{label} {tokens}x{d} seed {seed}: ours {out_ours.view(-1)[i].item()!r} "
                                f"vllm {out_vllm.view(-1)[i].item()!r}"
                            )
            rows.append(worst)
    common.print_table(rows, [("op", "op", ""), ("dtype", "dtype", ""), ("elements", "elements", "d"),
                              ("max_ulp", "max ulp", "d"), ("over_1ulp", ">1 ulp", "d"), ("worst_case", "worst", "")])
    failures = [r for r in rows if r["max_ulp"] > a.max_ulp]
    summary = {"cases": len(rows), "elements": sum(r["elements"] for r in rows),
               "cases_over_max_ulp": len(failures), "max_ulp_allowed": a.max_ulp}
    print("\nsummary:", summary)
    common.write_results(a.out, "compare_vllm_activation", rows, summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
