"""Shared pieces of the side-by-side benchmarks: loading vLLM's kernels as a baseline, timing
with CUDA graphs over rotating buffers, ulp distances, and writing table/JSON/plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

VLLM_NAMESPACE = "_C"  # vLLM's _C_stable_libtorch registers its ops here


def load_vllm(library: str | None):
    """Load vLLM 0.22.0's `_C_stable_libtorch.abi3.so`; returns torch.ops._C or None."""
    if not library:
        return None
    torch.ops.load_library(library)
    return getattr(torch.ops, VLLM_NAMESPACE)


def _l2_bytes() -> int:
    props = torch.cuda.get_device_properties(0)
    return getattr(props, "L2_cache_size", 50 << 20)


def rotating_sets(make, bytes_per_set: int, min_total_factor: float = 3.0, max_sets: int = 32):
    """Enough independent argument sets that cycling through them defeats the L2 cache."""
    count = max(1, min(max_sets, math.ceil(min_total_factor * _l2_bytes() / max(bytes_per_set, 1))))
    return [make() for _ in range(count)]


def time_us(fn, arg_sets, replays: int = 20, graph_calls: int | None = None) -> float:
    """Median device time of one call, in microseconds. Calls are captured into a CUDA graph
    (cycling over `arg_sets`) so host launch overhead does not mask kernel time."""
    calls = graph_calls or max(len(arg_sets), 10)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for args in arg_sets:  # warm-up: module load, lazy init, compilation
            fn(*args)
    torch.cuda.current_stream().wait_stream(stream)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls):
            fn(*arg_sets[i % len(arg_sets)])
    for _ in range(3):  # a few untimed replays, so clocks that idled while inputs were made ramp up
        graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0 / calls)
    times.sort()
    return times[len(times) // 2]


def time_pair_us(fn_a, fn_b, arg_sets) -> tuple[float, float]:
    """time_us of two contenders, each taken twice in the order a b b a, keeping each one's
    faster run: neither alone pays for a state the GPU was left in (idle clocks, lazy loading)."""
    a = time_us(fn_a, arg_sets)
    b = time_us(fn_b, arg_sets)
    b = min(b, time_us(fn_b, arg_sets))
    a = min(a, time_us(fn_a, arg_sets))
    return a, b


def ulp_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise distance in units in the last place of a's dtype (NaN vs NaN counts 0)."""
    int_type = {2: torch.int16, 4: torch.int32}[a.element_size()]
    bits = 8 * a.element_size()

    def ordered(x):
        i = x.contiguous().view(int_type).to(torch.int64)
        # Sign-magnitude -> monotonically ordered integers.
        return torch.where(i < 0, -(i & ((1 << (bits - 1)) - 1)), i)

    dist = (ordered(a) - ordered(b)).abs()
    both_nan = torch.isnan(a) & torch.isnan(b)
    one_nan = torch.isnan(a) ^ torch.isnan(b)
    dist = torch.where(both_nan, torch.zeros_like(dist), dist)
    return torch.where(one_nan, torch.full_like(dist, 1 << 40), dist)


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def write_results(out_dir: Path, name: str, rows: list[dict], summary: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    env = {
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
    }
    path.write_text(json.dumps({"environment": env, "summary": summary, "rows": rows}, indent=1))
    return path


def print_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> None:
    """columns: (key, header, format spec)."""
    widths = [max(len(h), 9) for _, h, _ in columns]
    print("  ".join(h.rjust(w) for (_, h, _), w in zip(columns, widths, strict=False)))
    for row in rows:
        cells = []
        for (key, _, fmt), w in zip(columns, widths, strict=False):
            value = row.get(key, "")
            cells.append((format(value, fmt) if isinstance(value, int | float) else str(value)).rjust(w))
        print("  ".join(cells))


def plot_ratios(rows: list[dict], path: Path, label) -> None:
    """Ours/vLLM speed and ours/copy bandwidth per case; `label(row)` names the x ticks."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib not available; no plot written")
        return
    fig, ax = plt.subplots(figsize=(12, 5))
    labels = [label(r) for r in rows]
    ax.plot(range(len(rows)), [r.get("speedup_vs_vllm", float("nan")) for r in rows], ".", label="ours / vLLM speed")
    ax.plot(range(len(rows)), [r["ours_of_copy"] for r in rows], ".", label="ours / copy bandwidth")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.axhline(0.95, color="r", lw=0.5, ls="--")
    step = max(1, len(rows) // 40)
    ax.set_xticks(range(0, len(rows), step))
    ax.set_xticklabels(labels[::step], rotation=90, fontsize=5)
    ax.set_ylabel("ratio")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=130)


def copy_baseline_us(moved: int) -> float:
    """Time of a device copy that reads and writes `moved` bytes in total."""
    half = max(moved // 2, 1)
    sets = rotating_sets(lambda: (torch.empty(half, device="cuda", dtype=torch.uint8).random_(),
                                  torch.empty(half, device="cuda", dtype=torch.uint8)), moved)
    return time_us(lambda s, o: o.copy_(s), sets)


def report(out_dir: Path, name: str, rows: list[dict], columns, summary: dict, label) -> None:
    """The end of every benchmark: table, <out>/<name>.json, <out>/<name>.png, summary."""
    print_table(rows, columns)
    path = write_results(out_dir, name, rows, summary)
    plot_ratios(rows, out_dir / f"{name}.png", label)
    print("\nsummary:", summary)
    print("results:", path)
