"""Shared fixtures. GPU tests are never skipped silently: without a GPU they are deselected
and the run says so in its summary; with VLLM_OPS_REQUIRE_GPU=1 a missing GPU is an error."""

from __future__ import annotations

import os

import pytest

_deselected_gpu: list[str] = []


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    if os.environ.get("VLLM_OPS_REQUIRE_GPU") == "1":
        raise pytest.UsageError("VLLM_OPS_REQUIRE_GPU=1 but torch sees no CUDA device")
    keep = []
    for item in items:
        (_deselected_gpu.append(item.nodeid) if item.get_closest_marker("cuda") else keep.append(item))
    if _deselected_gpu:
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid in set(_deselected_gpu)])
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    if _deselected_gpu:
        terminalreporter.write_line(
            f"{len(_deselected_gpu)} CUDA tests deselected: no GPU here. They run on a GPU machine "
            "(VLLM_OPS_REQUIRE_GPU=1 invoke test)."
        )
