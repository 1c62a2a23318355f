"""CUDA-only families (CUTLASS, FP4/NVFP4, AWQ, permute_cols) never reach a HIP build: not in
its source list, not registered outside #ifndef USE_ROCM, not in the built HIP binary."""

import re
import subprocess

import pytest

from buildenv.compile import LIBRARY_NAME
from buildenv.config import REPO_ROOT
from buildenv.publish import dist_dir

# The CUDA-only families' names. GGUF's MXFP4 block type is not one of them (it is decoded on
# every backend), hence fp4 only when not preceded by "mx".
CUDA_ONLY = re.compile(r"cutlass|nvfp4|(?<!mx)fp4|awq|permute_cols", re.IGNORECASE)


def sources(target):
    out = subprocess.run(["cmake", f"-DVLLM_OPS_TARGET={target}", "-P", "cmake/print_sources.cmake"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [line.removeprefix("-- ").strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]


def test_hip_source_list_has_no_cuda_only_family():
    rocm = sources("rocm")
    assert rocm, "print_sources listed nothing"
    assert [s for s in rocm if CUDA_ONLY.search(s)] == []
    assert set(rocm) <= set(sources("cuda"))


def test_rocm_cmake_never_adds_the_cuda_only_list():
    text = (REPO_ROOT / "cmake" / "rocm.cmake").read_text()
    assert "VLLM_OPS_CUDA_ONLY_SOURCES" not in text
    assert "VLLM_OPS_CUDA_ONLY_SOURCES" in (REPO_ROOT / "cmake" / "cuda.cmake").read_text()


def test_cuda_only_registrations_sit_under_ifndef_use_rocm():
    guarded = []  # one entry per open #if: is it the USE_ROCM fence?
    for number, line in enumerate((REPO_ROOT / "csrc/libtorch_stable/torch_bindings.cpp").read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#if"):
            guarded.append(stripped.startswith("#ifndef USE_ROCM"))
        elif stripped.startswith("#endif"):
            guarded.pop()
        elif not stripped.startswith("//") and CUDA_ONLY.search(stripped):
            assert any(guarded), f"torch_bindings.cpp:{number} registers a CUDA-only op outside #ifndef USE_ROCM"


@pytest.mark.docker
def test_hip_binary_has_no_cuda_only_symbols():
    library = dist_dir("rocm") / LIBRARY_NAME
    assert library.exists(), "build it first: invoke build --target rocm"
    symbols = subprocess.run(["nm", "-C", "-D", str(library)], capture_output=True, text=True, check=True).stdout
    symbols += subprocess.run(["nm", "-C", str(library)], capture_output=True, text=True).stdout
    assert [s for s in symbols.splitlines() if CUDA_ONLY.search(s)] == []
