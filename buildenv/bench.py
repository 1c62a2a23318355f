"""`invoke bench`: every family's benchmark (benchmarks/bench_<name>.py) on this machine's GPU,
each in a process of its own (vLLM 0.22.0 and 0.33.0 both register namespace _C, so one process
holds at most one of them), results under benchmarks/results/<gpu>/.

The benchmarks time every implementation in one process themselves (CUDA graphs, inputs rotated
past the L2, the copy baseline of the same run) and write JSON, a table and a plot each; this
module finds the GPU and the vLLM libraries, plans which script runs against which baseline,
runs them with their output in a log beside the results, and reports what each produced.
`invoke report` then turns chosen results into docs/performance.md (buildenv/performance.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .config import REPO_ROOT
from .errors import BuildEnvError
from .files import Log

BENCHMARKS = REPO_ROOT / "benchmarks"
# Family -> its benchmark script and the JSON name it writes (benchmarks/common.py report()).
FAMILIES = {
    "activation": ("bench_activation.py", "bench_activation"),
    "w8a8": ("bench_quant.py", "bench_quant"),
    "gguf": ("bench_gguf.py", "bench_gguf"),
    "gptq": ("bench_gptq.py", "bench_gptq"),
    "awq": ("bench_awq.py", "bench_awq"),
    "cutlass_w8a8": ("bench_cutlass_scaled_mm.py", "bench_cutlass_scaled_mm"),
    "fp4": ("bench_fp4.py", "bench_fp4"),
}
BASELINES = ("vllm-0.22", "vllm-0.33", "torch-compile")
# What each benchmark can time besides our kernels: vLLM 0.22.0 everywhere (it has every op);
# vLLM 0.33.0 only for GPTQ (its other ops kept 0.22.0's kernels, and it has no GGUF ops); a
# torch.compile formulation of the op in the activation and W8A8 benchmarks, which always time it.
MEASURES = {"vllm-0.22": set(FAMILIES), "vllm-0.33": {"gptq"}, "torch-compile": {"activation", "w8a8"}}
VLLM_LIBRARY = "_C_stable_libtorch.abi3.so"
# How to get a vLLM library without installing vLLM: its wheel is a zip.
HOW_TO_GET_VLLM = ("pip download --no-deps vllm=={version} && unzip -j vllm-{version}-*.whl "
                   f"'vllm/{VLLM_LIBRARY}' -d .vllm-{{version}}")
RELEASES = {"vllm-0.22": "0.22.0", "vllm-0.33": "0.33.0"}


def parse_choice(value: str, allowed, what: str) -> list[str]:
    """A comma-separated list, each item one of `allowed` ('all': every one)."""
    items = list(allowed) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown or not items:
        raise BuildEnvError(f"--{what} must be 'all' or a comma-separated list of {', '.join(allowed)}; "
                            f"got {value!r}")
    return items


def probe_gpu(python: str) -> str:
    """The name of GPU 0 as torch under `python` sees it; an error that says so when there is none."""
    code = "import torch, sys; sys.exit(2) if not torch.cuda.is_available() else print(torch.cuda.get_device_name(0))"
    try:
        result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildEnvError(f"invoke bench: could not run {python}: {exc}") from None
    if result.returncode != 0 or not result.stdout.strip():
        detail = result.stderr.strip().splitlines()[-1:] if result.returncode != 2 else []
        raise BuildEnvError(f"invoke bench needs a CUDA GPU: torch under {python} sees none"
                            + (f" ({detail[0]})" if detail else "")
                            + "; pass --python for an interpreter whose torch has CUDA")
    return result.stdout.strip().splitlines()[-1]


def results_dir(gpu: str) -> Path:
    """benchmarks/results/<gpu>/: 'NVIDIA H200' -> h200, 'NVIDIA H100 80GB HBM3' -> h100-80gb-hbm3."""
    slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"^nvidia\s+", "", gpu.strip().lower())).strip("-")
    return BENCHMARKS / "results" / (slug or "gpu")


def find_vllm_library(python: str, baseline: str, path: str | None) -> Path:
    """The vLLM release's library: `path` when given, else the one in a vllm wheel installed for
    `python` (of that release)."""
    version = RELEASES[baseline]
    hint = HOW_TO_GET_VLLM.format(version=version)
    flag = f"--{baseline.replace('.', '-')}-lib"
    if path:
        library = Path(path)
        if not library.is_file():
            raise BuildEnvError(f"{flag} {path}: no such file (to get it: {hint})")
        return library
    code = ("import importlib.util, importlib.metadata as m, pathlib; s = importlib.util.find_spec('vllm'); "
            "print(m.version('vllm'), pathlib.Path(s.origin).parent) if s else None")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    found = result.stdout.split() if result.returncode == 0 else []
    if len(found) == 2 and found[0].split("+")[0] == version and (Path(found[1]) / VLLM_LIBRARY).is_file():
        return Path(found[1]) / VLLM_LIBRARY
    raise BuildEnvError(f"baseline {baseline}: pass {flag} (no vllm {version} is installed for {python}); "
                        f"to get the library: {hint}")


@dataclass(frozen=True)
class Run:
    family: str
    baselines: tuple[str, ...]  # what this run times besides ours
    argv: tuple[str, ...]  # after the interpreter
    json_name: str


def plan(families: list[str], baselines: list[str], libraries: dict[str, Path],
         out: Path) -> tuple[list[Run], list[str]]:
    """The runs, and a line for each (family, baseline) pair no benchmark measures."""
    runs, unmeasured = [], []
    for family in families:
        script, json_name = FAMILIES[family]
        base = [str(BENCHMARKS / script), "--out", str(out)]
        first = [b for b in baselines if b in ("vllm-0.22", "torch-compile") and family in MEASURES[b]]
        if "vllm-0.22" in first:
            base += ["--vllm-lib", str(libraries["vllm-0.22"])]
        runs.append(Run(family, tuple(first), tuple(base), json_name))
        if "vllm-0.33" in baselines and family in MEASURES["vllm-0.33"]:
            argv = (str(BENCHMARKS / script), "--out", str(out), "--vllm33-lib", str(libraries["vllm-0.33"]))
            runs.append(Run(family, ("vllm-0.33",), argv, f"{json_name}_vllm33"))
        unmeasured += [f"{family}: no {b} baseline in {script}" for b in baselines if family not in MEASURES[b]]
    return runs, unmeasured


@dataclass
class RunResult:
    run: Run
    code: int
    seconds: float
    json_path: Path
    log_path: Path
    summary: dict | None  # the JSON's summary, when the run wrote one

    def outcome(self) -> str:
        """One line for the summary table: what the run was timed against, or where its log is."""
        if self.code != 0:
            return f"FAILED ({self.code}), log {self.log_path}"
        return f"ok, against {', '.join(self.run.baselines) or 'ours and copy bandwidth only'}"


def execute(runs: list[Run], python: str, out: Path, log: Log = print) -> list[RunResult]:
    """Each run in turn, its output streamed to `log` and into <out>/<json name>.log."""
    out.mkdir(parents=True, exist_ok=True)
    # The scripts import vllm_ops: the package in this checkout (its library built with
    # `invoke build --target cuda --native`), ahead of any installed one.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    results = []
    for run in runs:
        log_path, json_path = out / f"{run.json_name}.log", out / f"{run.json_name}.json"
        json_path.unlink(missing_ok=True)  # so a failed run cannot pass off an older file as its own
        start = time.monotonic()
        with log_path.open("w") as sink:
            process = subprocess.Popen([python, *run.argv], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, env=env)
            for line in process.stdout:
                sink.write(line)
                log(line.rstrip("\n"))
            code = process.wait()
        summary = json.loads(json_path.read_text()).get("summary") if code == 0 and json_path.is_file() else None
        results.append(RunResult(run, code, time.monotonic() - start, json_path, log_path, summary))
    return results
