"""docs/performance.md from the benchmarks' JSON results (benchmarks/results/): for each family
and op, the speed ratio against each baseline (geomean, worst case and the case it is, cases
below 1x) and the fraction of copy bandwidth, with a link to the run's plot. Every number comes
from the JSON files named in SOURCES; the one hand-written part is BEHIND, a few lines per family
on where it is behind and why, kept beside the sources they explain (details: benchmarks/NOTES.md).

`invoke report` writes the file; `invoke report --check` (and a host test) fails when it is stale.
Standard library only."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_ROOT
from .errors import BuildEnvError

RESULTS = REPO_ROOT / "benchmarks" / "results"
REPORT = REPO_ROOT / "docs" / "performance.md"


@dataclass(frozen=True)
class Source:
    family: str
    path: str  # under benchmarks/results/
    group: str | None  # the row key naming the op or part; None: one group
    vllm: str = "vLLM 0.22.0"  # the vLLM release the run compared against


# The latest full run of each family (the H100 ones are the activation and W8A8 runs: no H200 JSON
# of them is in the repository yet).
SOURCES = [
    Source("activation", "bench_activation.json", "op"),
    Source("w8a8", "bench_quant.json", "variant"),
    Source("gguf", "h200/bench_gguf_dequant_mmvq_moe_866ee45d.json", "part"),
    Source("gguf", "h200/bench_gguf_mmq_5f507cea.json", "part"),
    Source("gptq", "h200/bench_gptq_c542a33e.json", "part"),
    Source("gptq", "h200/bench_gptq_m1m4_8a7d7cf0.json", "part"),
    Source("gptq", "h200/bench_gptq_vllm33.json", "part", vllm="vLLM 0.33.0"),
    Source("awq, permute_cols", "h200/bench_awq_699df7f8.json", "part"),
    Source("cutlass_w8a8", "h200/bench_cutlass_scaled_mm_c631886d.json", "part"),
    Source("fp4", "h200/bench_fp4_e37050e3.json", None),
]

# Speed ratios (>1: ours is faster) by baseline: the row keys that hold one, and whether the key
# is a time ratio ours / theirs (to be inverted) instead.
BASELINES = {
    "vllm": (("speedup_vs_vllm", False), ("ours_vs_vllm", False)),
    "fp16 matmul on the dense weight": (("speedup_vs_matmul", False), ("ours_vs_matmul", False),
                                        ("ours_over_matmul", True)),
    "torch.compile": (("speedup_vs_compiled", False),),
    "torch._scaled_mm": (("speedup_vs_scaled_mm", False),),
}
# Fractions of copy bandwidth, in _speedup's (key, inverted) form.
ROOFLINE_KEYS = (("ours_of_copy", False), ("roofline_frac", False))
# Row keys that describe a case (shape, dtype, type...), for naming the worst one.
CASE_KEYS = ("type", "variant", "op", "dtype", "layout", "bits", "act", "m", "tokens", "lead", "k", "n", "d", "hidden")

BEHIND = {
    "activation": "These are H100 numbers, where every case met its target. Issue 16 reports an H200 run of the "
                  "same library with cases below 0.95x vLLM and below 0.90 of copy at >= 4096 tokens: the launch "
                  "shapes were tuned for the H100; deriving them from device properties is open.",
    "w8a8": "H100 numbers, as for activation; issue 16's H200 run has per-token fp8 and static int8 with zero "
            "point below 0.95x vLLM at >= 4096 tokens. Same cause, same open work.",
    "gguf": "Mat-vec at one token is bound by the ALU pipe (the decoders' integer work; ncu), so the weight "
            "stream is far from copy bandwidth; the lead is fewer instructions per chunk in the table-lookup "
            "decoders. Mat-mat from 64 tokens is dequantize + GEMM, bounded by 1 + t(dequantize) / t(GEMM) "
            "against the fp16 matmul: only a fused kernel with cuBLAS-class tensor throughput closes it.",
    "gptq": "M = 1 at 8192^2 and 4096 x 14336 is below vLLM: the few-rows kernel's weight stream alone, with no "
            "arithmetic, takes most of its time (scripts/gptq_stream_probe.cu), where a linear sweep of the "
            "same bytes is 1.7x faster; a layout from gptq_shuffle whose concurrent stages are adjacent is the "
            "lead. M = 16-64 re-read a's fragments from L2; M = 512 is dequantize + GEMM.",
    "awq, permute_cols": "awq_gemm at M = 33 takes the dequantize path; permute_cols at 16 rows is launch-bound.",
    "cutlass_w8a8": "fp8 at 8192^3 is below vLLM: one 128 x 128 tile configuration serves it; a larger-tile or "
                    "stream-K configuration has not been measured there.",
    "fp4": "vLLM 0.22.0 has no NVFP4 quantization kernel for sm_90, so copy bandwidth is the only baseline; the "
           "kernel is bound by the ALU pipe (ncu), the target is 0.8 of copy.",
}


def _speedup(row: dict, keys) -> float | None:
    for key, inverted in keys:
        value = row.get(key)
        if isinstance(value, int | float) and value > 0 and math.isfinite(value):
            return 1.0 / value if inverted else float(value)
    return None


def _case(row: dict) -> str:
    return " ".join(f"{key}={row[key]}" for key in CASE_KEYS if key in row and row[key] is not None)


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


@dataclass
class Stat:
    cases: int
    geomean: float
    worst: float
    worst_case: str
    below_1: int


def _stat(pairs: list[tuple[float, dict]]) -> Stat:
    worst, worst_row = min(pairs, key=lambda p: p[0])
    values = [v for v, _ in pairs]
    return Stat(len(values), _geomean(values), worst, _case(worst_row), sum(v < 1.0 for v in values))


def summarize(rows: list[dict], group: str | None) -> dict[str, dict[str, Stat]]:
    """{op or part: {baseline or 'of copy': Stat}} over the rows that carry a timing."""
    out: dict[str, dict[str, Stat]] = {}
    names = sorted({str(r.get(group, "all")) for r in rows}) if group else ["all"]
    for name in names:
        members = [r for r in rows if not group or str(r.get(group, "all")) == name]
        stats = {}
        for baseline, keys in BASELINES.items():
            pairs = [(s, r) for r in members if (s := _speedup(r, keys)) is not None]
            if pairs:
                stats[baseline] = _stat(pairs)
        roof = [(s, r) for r in members if (s := _speedup(r, ROOFLINE_KEYS)) is not None]
        if roof:
            stats["of copy"] = _stat(roof)
        if stats:
            out[name] = stats
    return out


def _cell(stat: Stat | None, with_case: bool) -> str:
    if stat is None:
        return ""
    text = f"{stat.geomean:.2f} / {stat.worst:.2f}"
    return f"{text} ({stat.below_1} < 1; worst: {stat.worst_case})" if with_case else text


def render(results: Path = RESULTS) -> str:
    lines = [
        "# Performance",
        "",
        "Generated by `invoke report` from the benchmarks' JSON results; do not edit by hand (a host test",
        "fails when this file and the JSON disagree). Each cell is **geomean / worst** of our speed over the",
        "baseline's (above 1: we are faster), with the count of cases below 1 and the worst case; \"of copy\"",
        "is our achieved bandwidth over a device copy's in the same run (roofline fraction). How each",
        "benchmark times and what it rotates: `benchmarks/NOTES.md` and each script's docstring.",
        "",
    ]
    for family in dict.fromkeys(s.family for s in SOURCES):
        lines += [f"## {family}", ""]
        for source in (s for s in SOURCES if s.family == family):
            path = results / source.path
            if not path.is_file():
                raise BuildEnvError(f"performance report: {path} (named in buildenv/performance.py SOURCES) is missing")
            data = json.loads(path.read_text())
            device = data.get("environment", {}).get("device", "unknown device")
            torch_version = data.get("environment", {}).get("torch", "?")
            plot = path.with_suffix(".png")
            link = f", [plot](../benchmarks/results/{source.path[:-5]}.png)" if plot.is_file() else ""
            lines += [f"`benchmarks/results/{source.path}` ({device}, torch {torch_version}{link})", ""]
            summary = summarize(data["rows"], source.group)
            baselines = [b for b in (*BASELINES, "of copy") if any(b in s for s in summary.values())]
            header = [source.group or "op", "cases"] + [source.vllm if b == "vllm" else b for b in baselines]
            lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for name, stats in summary.items():
                cases = max(s.cases for s in stats.values())
                cells = [_cell(stats.get(b), with_case=b == "vllm" or (b == "of copy" and "vllm" not in stats))
                         for b in baselines]
                lines.append("| " + " | ".join([name, str(cases), *cells]) + " |")
            lines.append("")
        lines += [f"Behind: {BEHIND[family]}", ""]
    return "\n".join(lines).rstrip() + "\n"


def write(report: Path = REPORT) -> bool:
    """Writes the report when it changed; returns whether it did."""
    text = render()
    if report.is_file() and report.read_text() == text:
        return False
    report.write_text(text)
    return True


def stale(report: Path = REPORT) -> bool:
    return not report.is_file() or report.read_text() != render()
