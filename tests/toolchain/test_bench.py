"""invoke bench (buildenv/bench.py): choices, the GPU probe, the vLLM libraries, the plan of runs
and their execution, on a machine without a GPU (the runs themselves are fakes here)."""

import json
import sys
from pathlib import Path

import pytest

from buildenv import bench
from buildenv.errors import BuildEnvError


def test_choices():
    assert bench.parse_choice("all", bench.FAMILIES, "family") == list(bench.FAMILIES)
    assert bench.parse_choice("gptq, fp4", bench.FAMILIES, "family") == ["gptq", "fp4"]
    for bad in ("gptq,bogus", ""):
        with pytest.raises(BuildEnvError, match="--family must be 'all' or a comma-separated list of activation"):
            bench.parse_choice(bad, bench.FAMILIES, "family")


def test_results_dir_names_the_gpu():
    assert bench.results_dir("NVIDIA H200").name == "h200"
    assert bench.results_dir("NVIDIA H100 80GB HBM3").name == "h100-80gb-hbm3"


def fake_python(tmp_path, name: str, body: str) -> str:
    """An 'interpreter' that ignores its arguments and runs a shell body (what torch would report)."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_gpu_probe(tmp_path):
    assert bench.probe_gpu(fake_python(tmp_path, "gpu", "echo 'NVIDIA H200'")) == "NVIDIA H200"
    no_gpu = fake_python(tmp_path, "cpu_torch", "exit 2")  # the probe's exit code for "no CUDA device"
    with pytest.raises(BuildEnvError, match="needs a CUDA GPU: torch under .*cpu_torch sees none; pass --python"):
        bench.probe_gpu(no_gpu)
    no_torch = fake_python(tmp_path, "no_torch", "echo \"ModuleNotFoundError: No module named 'torch'\" >&2; exit 1")
    with pytest.raises(BuildEnvError, match="sees none \\(ModuleNotFoundError: No module named 'torch'\\)"):
        bench.probe_gpu(no_torch)


def test_vllm_library_from_a_path_or_an_installed_wheel(tmp_path):
    library = tmp_path / bench.VLLM_LIBRARY
    library.write_bytes(b"\x7fELF")
    assert bench.find_vllm_library(sys.executable, "vllm-0.22", str(library)) == library
    with pytest.raises(BuildEnvError, match=r"--vllm-0-33-lib /nonexistent: no such file \(to get it: pip download"):
        bench.find_vllm_library(sys.executable, "vllm-0.33", "/nonexistent")
    without_vllm = fake_python(tmp_path, "no_vllm", "echo None")
    with pytest.raises(BuildEnvError, match="pass --vllm-0-22-lib \\(no vllm 0.22.0 is installed"):
        bench.find_vllm_library(without_vllm, "vllm-0.22", None)
    package = tmp_path / "site" / "vllm"
    package.mkdir(parents=True)
    (package / bench.VLLM_LIBRARY).write_bytes(b"\x7fELF")
    installed = fake_python(tmp_path, "with_vllm", f"echo 0.22.0 {package}")
    assert bench.find_vllm_library(installed, "vllm-0.22", None) == package / bench.VLLM_LIBRARY
    with pytest.raises(BuildEnvError, match="no vllm 0.33.0 is installed"):  # another release is not taken
        bench.find_vllm_library(installed, "vllm-0.33", None)


def test_plan_runs_each_baseline_where_a_benchmark_measures_it(tmp_path):
    libs = {"vllm-0.22": Path("/v22.so"), "vllm-0.33": Path("/v33.so")}
    runs, unmeasured = bench.plan(["gptq", "activation", "fp4"], ["vllm-0.22", "vllm-0.33", "torch-compile"], libs,
                                  tmp_path)
    by_name = {r.json_name: r for r in runs}
    assert list(by_name) == ["bench_gptq", "bench_gptq_vllm33", "bench_activation", "bench_fp4"]
    assert by_name["bench_gptq"].argv[-2:] == ("--vllm-lib", "/v22.so")
    assert by_name["bench_gptq_vllm33"].argv[-2:] == ("--vllm33-lib", "/v33.so")  # a process of its own
    assert by_name["bench_activation"].baselines == ("vllm-0.22", "torch-compile")
    assert by_name["bench_fp4"].argv[1:3] == ("--out", str(tmp_path))
    assert "gptq: no torch-compile baseline in bench_gptq.py" in unmeasured
    assert "activation: no vllm-0.33 baseline in bench_activation.py" in unmeasured
    only_compile, _ = bench.plan(["w8a8"], ["torch-compile"], {}, tmp_path)
    assert "--vllm-lib" not in only_compile[0].argv


def test_execute_reads_what_each_run_wrote_and_no_stale_file(tmp_path):
    script = tmp_path / "fake_bench.py"
    script.write_text("import json, sys\nfrom pathlib import Path\nout = Path(sys.argv[1])\n"
                      "print('timing')\n"
                      "if sys.argv[2] == 'ok':\n"
                      "    (out / 'bench_ok.json').write_text(json.dumps({'summary': {'geomean': 1.5}, 'rows': []}))\n"
                      "else:\n    sys.exit(3)\n")
    out = tmp_path / "results"
    out.mkdir()
    (out / "bench_bad.json").write_text(json.dumps({"summary": {"old": True}}))  # from an earlier run
    runs = [bench.Run("gptq", ("vllm-0.22",), (str(script), str(out), "ok"), "bench_ok"),
            bench.Run("gguf", ("vllm-0.22",), (str(script), str(out), "bad"), "bench_bad")]
    lines = []
    ok, bad = bench.execute(runs, sys.executable, out, lines.append)
    assert ok.code == 0 and ok.summary == {"geomean": 1.5} and "timing" in ok.log_path.read_text()
    assert bad.code == 3 and bad.summary is None and not bad.json_path.exists()
    assert ok.outcome() == "ok, against vllm-0.22"
    assert bad.outcome() == f"FAILED (3), log {out / 'bench_bad.log'}"
    assert lines.count("timing") == 2
