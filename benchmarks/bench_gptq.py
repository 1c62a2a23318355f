"""Side-by-side GPTQ benchmark on one GPU, in one process:

  ours        vllm_ops' gptq_gemm, exllama path (use_exllama=True) after our gptq_shuffle
  vllm        vLLM 0.22.0's gptq_gemm (torch.ops._C, from its _C_stable_libtorch.abi3.so), exllama path
              after its own gptq_shuffle of its own copy of qweight (its shuffle also rewrites the bit
              layout); fp16 only. With --vllm33-lib instead: vLLM 0.33.0's, whose ops dropped g_idx; called
              through the schema it registers (printed at start), so it has no act-order rows
  matmul      torch.matmul(a, w) on the dense dequantized weight [K, N] in a's dtype
  roofline    a device copy moving the bytes the GEMM must move (qweight + qzeros + scales + a + output)

Cases: M x (K, N) x bits x act-order x dtype, group 128, v1 zeros. The weights of every contender
rotate over enough copies to exceed 3x the L2 cache. The agreement part compares both libraries
with a.float() @ w in fp32 (w dequantized exactly) on the same inputs: max|x - ref| / max|ref|.
Prints tables, writes <out>/bench_gptq.json (bench_gptq_vllm33.json with --vllm33-lib) and .png.

Both vLLM libraries register namespace _C, so a process loads at most one: run twice to have both.

  python benchmarks/bench_gptq.py --vllm-lib .vllm_ref/_C_stable_libtorch.abi3.so --out results/
  python benchmarks/bench_gptq.py --vllm33-lib .vllm33/_C_stable_libtorch.abi3.so --out results/
  python benchmarks/bench_gptq.py --parts gemm --m 1,16 --shapes 0 --bits 4 --dtypes fp16 --act 0
"""

from __future__ import annotations

import argparse
import functools
import itertools
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import common  # noqa: E402
from test_gptq import Checkpoint  # noqa: E402

import vllm_ops  # noqa: E402

ours = getattr(torch.ops, vllm_ops.namespace)

M_VALUES = [1, 4, 16, 64, 512, 4096]
SHAPES = [(4096, 4096), (8192, 8192), (4096, 14336)]  # (K, N)
DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
GROUP = 128
# Columns quantized per checkpoint; wider layers repeat them. The test's CPU quantizer and packer
# (a Python loop over K) take ~1 s per 1024 columns at K = 4096; full-width layers would take
# minutes of the sweep, and the timings do not depend on the values.
TILE_N = 1024
GEMM_ARGS = {"a", "b_q_weight", "b_gptq_qzeros", "b_gptq_scales", "b_g_idx", "use_exllama", "use_v2_format", "bit"}
SHUFFLE_ARGS = {"q_weight", "q_perm", "bit"}


class VllmGptq:
    """A vLLM library's gptq ops, called by argument name in the order its registered schema
    gives: 0.22.0 has our schema; 0.33.0 dropped b_g_idx / q_perm (so no act-order there)."""

    def __init__(self, lib, name: str, soft: bool):
        self.name, self.soft = name, soft  # soft: a failure drops the column instead of ending the run
        self.gemm_op, self.shuffle_op = lib.gptq_gemm.default, lib.gptq_shuffle.default
        print(f"{name}: {self.gemm_op._schema}\n{name}: {self.shuffle_op._schema}")
        self.gemm_names = [arg.name for arg in self.gemm_op._schema.arguments]
        self.shuffle_names = [arg.name for arg in self.shuffle_op._schema.arguments]
        unknown = (set(self.gemm_names) - GEMM_ARGS) | (set(self.shuffle_names) - SHUFFLE_ARGS)
        if unknown:
            raise RuntimeError(f"{name}: schema arguments this benchmark cannot fill: {sorted(unknown)}")
        self.act_order = "b_g_idx" in self.gemm_names and "q_perm" in self.shuffle_names

    def shuffle(self, q_weight, q_perm, bit):
        values = {"q_weight": q_weight, "q_perm": q_perm, "bit": bit}
        self.shuffle_op(*[values[n] for n in self.shuffle_names])

    def gemm(self, a, q, z, s, perm, bit):
        values = {"a": a, "b_q_weight": q, "b_gptq_qzeros": z, "b_gptq_scales": s, "b_g_idx": perm,
                  "use_exllama": True, "use_v2_format": False, "bit": bit}
        return self.gemm_op(*[values[n] for n in self.gemm_names])

    def attempt(self, what, fn, *args):
        """fn(*args); for the soft (0.33.0) baseline a failure returns None with a printed note."""
        if not self.soft:
            return fn(*args)
        try:
            return fn(*args)
        except Exception as e:
            print(f"note: {self.name} {what} failed, its column is dropped for this case: {e!r}", flush=True)
            return None


def load_baseline(args):
    if args.vllm_lib:
        return VllmGptq(common.load_vllm(args.vllm_lib), "vllm-0.22.0", soft=False)
    if args.vllm33_lib:
        try:
            return VllmGptq(common.load_vllm(args.vllm33_lib), "vllm-0.33.0", soft=True)
        except Exception as e:
            print(f"note: vLLM 0.33.0 baseline not available, its column is dropped: {e!r}")
    return None


@functools.cache
def checkpoint(k, bits, act, dtype):
    """Quantized on the CPU once per (K, bits, act-order, dtype), shared by shapes of the same K;
    with its exact dequantization in fp32 (a 16-bit scale times a small integer is exact there)."""
    ck = Checkpoint(k, TILE_N, bits, GROUP, act, False, dtype, seed=k + 10 * bits + act)
    return ck, ck.dequant().float()


def make_layer(k, n, bits, act, dtype):
    """GPU tensors of one [K, N] layer, unshuffled; columns tile the TILE_N-wide checkpoint."""
    ck, w32 = checkpoint(k, bits, act, dtype)

    def tile(t):
        return t.cuda().repeat(1, n // TILE_N).contiguous()

    perm = torch.argsort(ck.g_idx).to(torch.int32) if act else torch.empty(0, dtype=torch.int32)
    return SimpleNamespace(q=tile(ck.qweight), z=tile(ck.qzeros), s=tile(ck.scales), w32=tile(w32),
                           perm=perm.cuda())


def shuffled(shuffle, layer, bits):
    q = layer.q.clone()  # each library shuffles its own copy: the layouts differ
    shuffle(q, layer.perm, bits)
    return q


def rotation(layer, q_ours, q_vllm):
    """Copies of (our qweight, vLLM's qweight or None, qzeros, scales), as many as the bytes one
    contender reads per call need to exceed 3x the L2."""
    def make():
        return q_ours.clone(), None if q_vllm is None else q_vllm.clone(), layer.z.clone(), layer.s.clone()

    return common.rotating_sets(make, nbytes(layer.q, layer.z, layer.s))


def nbytes(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors)


_MATMUL_US: dict[tuple, float] = {}
_COPY_US: dict[int, float] = {}


def matmul_us(a, layer, dtype):
    key = (a.shape[0], *layer.w32.shape, dtype)
    if key not in _MATMUL_US:  # a dense GEMM's time does not depend on bits or act-order: once per shape
        dense = layer.w32.to(dtype)
        sets = common.rotating_sets(lambda: (dense.clone(),), nbytes(dense))
        _MATMUL_US[key] = common.time_us(lambda w: torch.matmul(a, w), sets)
    return _MATMUL_US[key]


def roofline_us(moved):
    if moved not in _COPY_US:
        _COPY_US[moved] = common.copy_baseline_us(moved)
    return _COPY_US[moved]


def gemm_row(row, a, layer, sets, bits, vllm):
    """sets: (our qweight, vLLM's qweight or None, qzeros, scales) copies; each contender reads its own."""
    perm = layer.perm

    def run_ours(qo, qv, z, s):
        return ours.gptq_gemm(a, qo, z, s, perm, True, False, bits)

    def run_vllm(qo, qv, z, s):
        return vllm.gemm(a, qv, z, s, perm, bits)

    with_vllm = sets[0][1] is not None
    pair = vllm.attempt("gptq_gemm", common.time_pair_us, run_ours, run_vllm, sets) if with_vllm else None
    if pair is None:
        row["ours_us"] = common.time_us(run_ours, sets)
    else:
        row["ours_us"], row["vllm_us"] = pair
        row["ours_vs_vllm"] = row["vllm_us"] / row["ours_us"]
    row["matmul_us"] = matmul_us(a, layer, a.dtype)
    row["ours_vs_matmul"] = row["matmul_us"] / row["ours_us"]
    m, n = a.shape[0], layer.q.shape[1]
    row["roofline_us"] = roofline_us(nbytes(layer.q, layer.z, layer.s, a) + m * n * a.element_size())
    row["roofline_frac"] = row["roofline_us"] / row["ours_us"]
    return row


def agreement_row(row, a, layer, q_ours, q_vllm, bits, vllm):
    ref = a.float() @ layer.w32  # fp32 on exact weights (TF32 is off, see main)
    scale = ref.abs().max().item()
    mine = ours.gptq_gemm(a, q_ours, layer.z, layer.s, layer.perm, True, False, bits).float()
    row["ours_rel_err"] = (mine - ref).abs().max().item() / scale
    theirs = None if q_vllm is None else vllm.attempt("gptq_gemm", vllm.gemm, a, q_vllm, layer.z, layer.s,
                                                      layer.perm, bits)
    if theirs is not None:
        row["vllm_rel_err"] = (theirs.float() - ref).abs().max().item() / scale
        row["ours_vs_vllm_rel"] = (mine - theirs.float()).abs().max().item() / scale
    return row


def summarize(rows, vllm, copy_gbs):
    gemm = [r for r in rows if r["part"] == "gemm"]
    summary = {"baseline": vllm.name if vllm else None, "copy_gbs": copy_gbs}
    ratios = [r["ours_vs_vllm"] for r in gemm if "ours_vs_vllm" in r]
    if ratios:
        summary["vs_vllm"] = {"geomean": common.geomean(ratios), "min": min(ratios),
                              "cases_below_1": sum(r < 1.0 for r in ratios), "cases": len(ratios)}
    keys = ("ours_vs_vllm", "ours_vs_matmul", "roofline_frac")
    summary["geomean_by_m"] = {m: {key: common.geomean([r[key] for r in gemm if r["m"] == m and key in r])
                                   for key in keys if any(r["m"] == m and key in r for r in gemm)}
                               for m in sorted({r["m"] for r in gemm})}

    def same_case(r):
        return r["m"], r["k"], r["n"], r["bits"], r["dtype"]

    seq = {same_case(r): r["ours_us"] for r in gemm if not r["act"]}
    cost = [(r["m"], r["ours_us"] / seq[same_case(r)]) for r in gemm if r["act"] and same_case(r) in seq]
    if cost:  # ours with act-order over ours without, same shape, bits and dtype
        summary["act_order_cost"] = {"geomean": common.geomean([c for _, c in cost]), "max": max(c for _, c in cost),
                                     "geomean_by_m": {m: common.geomean([c for mm, c in cost if mm == m])
                                                      for m in sorted({m for m, _ in cost})}}
    agree = [r for r in rows if r["part"] == "agreement"]
    summary["agreement_max"] = {key: max(r[key] for r in agree if key in r)
                                for key in ("ours_rel_err", "vllm_rel_err", "ours_vs_vllm_rel")
                                if any(key in r for r in agree)}
    return summary


def sweep(args, vllm):
    parts, rows = args.parts.split(","), []
    shapes = [SHAPES[int(i)] for i in args.shapes.split(",")]
    layers = itertools.product(shapes, map(int, args.bits.split(",")), map(int, args.act.split(",")),
                               args.dtypes.split(","))
    for (k, n), bits, act, dname in layers:
        dtype = DTYPES[dname]
        layer = make_layer(k, n, bits, bool(act), dtype)
        q_ours = shuffled(ours.gptq_shuffle, layer, bits)
        with_vllm = vllm is not None and dtype == torch.float16 and (vllm.act_order or not act)
        q_vllm = vllm.attempt("gptq_shuffle", shuffled, vllm.shuffle, layer, bits) if with_vllm else None
        sets = rotation(layer, q_ours, q_vllm) if "gemm" in parts else []
        for m in map(int, args.m.split(",")):
            a = torch.randn(m, k, device="cuda", dtype=dtype)
            case = {"m": m, "k": k, "n": n, "bits": bits, "act": act, "dtype": dname}
            if "agreement" in parts:
                rows.append(agreement_row({"part": "agreement", **case}, a, layer, q_ours, q_vllm, bits, vllm))
                print_row(rows[-1])
            if "gemm" in parts:
                rows.append(gemm_row({"part": "gemm", **case}, a, layer, sets, bits, vllm))
                print_row(rows[-1])
        del layer, q_ours, q_vllm, sets
        torch.cuda.empty_cache()  # layers differ in size; keep the caching allocator from growing
    return rows


def print_row(row):
    print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    baseline = parser.add_mutually_exclusive_group()  # both register namespace _C: one per process
    baseline.add_argument("--vllm-lib", help="path to vLLM 0.22.0's _C_stable_libtorch.abi3.so")
    baseline.add_argument("--vllm33-lib", help="path to vLLM 0.33.0's library with gptq_gemm (instead)")
    parser.add_argument("--out", default="results", type=Path)
    parser.add_argument("--parts", default="agreement,gemm")
    parser.add_argument("--m", default=",".join(map(str, M_VALUES)))
    parser.add_argument("--shapes", default="0,1,2", help="indices into SHAPES " + str(SHAPES))
    parser.add_argument("--bits", default="4,8")
    parser.add_argument("--dtypes", default="fp16,bf16")
    parser.add_argument("--act", default="0,1", help="act-order off (0) and/or on (1)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 reference must be fp32 (the default; made sure)
    vllm = load_baseline(args)
    moved = 2 << 30
    copy_gbs = moved / common.copy_baseline_us(moved) / 1e3
    print(f"copy bandwidth: {copy_gbs:.0f} GB/s (2 GiB moved)")
    rows = sweep(args, vllm)
    case_columns = [("m", "M", "d"), ("k", "K", "d"), ("n", "N", "d"), ("bits", "bits", "d"), ("act", "act", "d"),
                    ("dtype", "dtype", "")]
    agree = [r for r in rows if r["part"] == "agreement"]
    if agree:
        common.print_table(agree, case_columns + [
            ("ours_rel_err", "ours err", ".2e"), ("vllm_rel_err", "vllm err", ".2e"),
            ("ours_vs_vllm_rel", "ours-vllm", ".2e")])
    gemm = [r for r in rows if r["part"] == "gemm"]
    if gemm:
        common.print_table(gemm, case_columns + [
            ("ours_us", "ours us", ".2f"), ("vllm_us", "vllm us", ".2f"), ("ours_vs_vllm", "x vllm", ".3f"),
            ("matmul_us", "matmul us", ".2f"), ("ours_vs_matmul", "x matmul", ".3f"),
            ("roofline_us", "roof us", ".2f"), ("roofline_frac", "of roof", ".3f")])
    summary = summarize(rows, vllm, copy_gbs)
    print("\nsummary:", summary)
    name = "bench_gptq_vllm33" if args.vllm33_lib else "bench_gptq"
    print("results:", common.write_results(args.out, name, rows, summary))
    if gemm:  # plot_ratios reads speedup_vs_vllm and ours_of_copy
        common.plot_ratios([{**r, "speedup_vs_vllm": r.get("ours_vs_vllm", float("nan")),
                             "ours_of_copy": r["roofline_frac"]} for r in gemm], args.out / f"{name}.png",
                           lambda r: f"{r['m']} {r['k']}x{r['n']} {r['bits']}b act{r['act']} {r['dtype']}")


if __name__ == "__main__":
    main()
