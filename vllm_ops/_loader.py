"""Find and load the compiled library that ships inside this package."""

from __future__ import annotations

import json
from pathlib import Path

import torch

PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_PATH = PACKAGE_DIR / "_C_stable_libtorch.abi3.so"
BUILD_INFO_PATH = PACKAGE_DIR / "_build_info.json"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def load_library() -> dict:
    """Load the extension and return its build info; raise ImportError saying what to do."""
    if not LIBRARY_PATH.exists() or not BUILD_INFO_PATH.exists():
        raise ImportError(
            f"vllm_ops: the compiled library {LIBRARY_PATH.name} is missing from {PACKAGE_DIR}. "
            "Build it with `invoke build --target cpu` (or cuda/rocm), or install a vllm-ops wheel."
        )
    info = json.loads(BUILD_INFO_PATH.read_text())
    if _version_tuple(torch.__version__) < _version_tuple(info["target_abi"]):
        raise ImportError(
            f"vllm_ops: this library was built for the torch {info['target_abi']} stable ABI and "
            f"needs torch>={info['target_abi']}, but torch {torch.__version__} is installed."
        )
    try:
        torch.ops.load_library(str(LIBRARY_PATH))
    except OSError as exc:
        hint = ""
        if "libtorch_cuda" in str(exc) or "libamdhip" in str(exc):
            hint = (
                f" This is a {info['target']} build; it needs a torch with {info['target']} "
                "support (a CUDA/ROCm torch runs it on CPU too). Use a cpu build with a CPU-only torch."
            )
        raise ImportError(f"vllm_ops: could not load {LIBRARY_PATH}: {exc}.{hint}") from None
    return info
