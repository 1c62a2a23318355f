"""pytest plugin of the vllm-ops compat run (`pytest -p vllm_compat_plugin`).

- imports the stand-in `vllm` package, which loads vllm_ops and aliases torch.ops._C to it;
- with VLLM_COMPAT_DEVICE=cpu, runs the CUDA-targeted tests on the CPU: a TorchFunctionMode,
  entered for the whole session, rewrites every "cuda"/"cuda:N" device argument (a `device=`
  keyword, a positional device string or torch.device) to "cpu" and makes Tensor.cuda() a
  no-op move to the CPU; torch.set_default_device maps the same way, and
  torch.accelerator.device_count() answers 1, so the tests parametrize one "cuda:0", as on a
  one-GPU machine. torch.cuda itself is left alone (torch's own code asks it whether to start
  CUDA), so a test that drives the CUDA runtime directly (streams, graphs) fails on CPU;
- provides the `default_vllm_config` fixture that vLLM's tests/conftest.py would;
- with VLLM_COMPAT_REPORT=PATH, writes the outcome counts and each failure's message there
  (JSON) for scripts/vllm-compat.sh.
"""

from __future__ import annotations

import json
import os
import re
import types

import pytest
import torch
from torch.overrides import TorchFunctionMode

# The markers vLLM 0.22.0's pytest configuration declares (its tests use some of them).
VLLM_MARKERS = ("slow_test", "skip_global_cleanup", "core_model", "hybrid_model", "cpu_model", "cpu_test", "split",
                "distributed", "optional")

_CUDA_NAME = re.compile(r"cuda(:\d+)?")


def _to_cpu(value):
    if isinstance(value, str) and _CUDA_NAME.fullmatch(value):
        return "cpu"
    if isinstance(value, torch.device) and value.type == "cuda":
        return torch.device("cpu")
    return value


class CudaToCpu(TorchFunctionMode):
    """Every torch call sees "cpu" where its caller said "cuda"."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.cuda:
            return args[0].to("cpu")
        args = tuple(_to_cpu(a) for a in args)
        if "device" in kwargs:
            kwargs = {**kwargs, "device": _to_cpu(kwargs["device"])}
        return func(*args, **kwargs)


def _install_cpu_mapping() -> None:
    CudaToCpu().__enter__()  # never left: the process ends with the session
    set_default_device = torch.set_default_device

    def set_default_device_on_cpu(device):
        set_default_device(_to_cpu(device))

    torch.set_default_device = set_default_device_on_cpu
    torch.accelerator.device_count = lambda: 1


_counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0, "xfailed": 0, "xpassed": 0}
_problems: list[dict] = []


def pytest_configure(config):
    for marker in VLLM_MARKERS:
        config.addinivalue_line("markers", f"{marker}: declared by vLLM's pytest configuration")
    import vllm  # noqa: F401  (loads vllm_ops, aliases torch.ops._C)
    from vllm._compat import compat_device

    config._vllm_compat_device = compat_device()
    if config._vllm_compat_device == "cpu":
        _install_cpu_mapping()


def pytest_report_header(config):
    from vllm.platforms import current_platform

    import vllm_ops

    device = config._vllm_compat_device
    return [
        f"vllm-ops compat adapter: vllm_ops {vllm_ops.build_info['target']} build, torch.ops._C -> "
        f"torch.ops.{vllm_ops.namespace}; device {device}"
        + (f" (cuda mapped to cpu, capability {current_platform.get_device_capability().as_version_str()})"
           if device == "cpu" else "")
    ]


@pytest.fixture
def default_vllm_config():
    """vLLM's conftest installs a default VllmConfig here; the adapter's layers read none."""
    yield types.SimpleNamespace()


def _message(report) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and crash.message:
        return crash.message
    text = str(getattr(report, "longrepr", "") or "").strip()
    return text.splitlines()[-1] if text else ""


def _problem(report, kind: str) -> None:
    _problems.append({"nodeid": report.nodeid, "kind": kind, "when": getattr(report, "when", "collect"),
                      "message": _message(report)[:2000]})


def pytest_runtest_logreport(report):
    xfail = hasattr(report, "wasxfail")
    if report.when == "call":
        if xfail:
            _counts["xfailed" if report.skipped else "xpassed"] += 1
        elif report.passed:
            _counts["passed"] += 1
        elif report.failed:
            _counts["failed"] += 1
            _problem(report, "failed")
        else:
            _counts["skipped"] += 1
    elif report.failed:  # setup or teardown
        _counts["errors"] += 1
        _problem(report, "error")
    elif report.skipped and report.when == "setup":
        if xfail:
            _counts["xfailed"] += 1
        else:
            _counts["skipped"] += 1


def pytest_collectreport(report):
    if report.failed:
        _counts["errors"] += 1
        _problem(report, "error")
    elif report.skipped:  # a module-level pytest.skip
        _counts["skipped"] += 1


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("VLLM_COMPAT_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"counts": _counts, "problems": _problems, "exitstatus": int(exitstatus)}, f, indent=1)
