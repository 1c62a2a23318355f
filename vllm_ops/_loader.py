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
    backend = {"cuda": torch.version.cuda, "rocm": torch.version.hip}.get(info["target"], "cpu")
    if not backend:
        raise ImportError(
            f"vllm_ops: this is a {info['target']} build, but torch {torch.__version__} has no "
            f"{info['target']} support. Install a {info['target']} torch (it runs the library on CPU "
            "too), or build the cpu target: `invoke build --target cpu`."
        )
    try:
        torch.ops.load_library(str(LIBRARY_PATH))
    except OSError as exc:
        raise ImportError(f"vllm_ops: could not load {LIBRARY_PATH}: {exc}") from None
    return info
