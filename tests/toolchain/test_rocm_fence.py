"""CUDA-only families (CUTLASS, FP4/NVFP4, AWQ, permute_cols) never reach a cpu or HIP build: not
in their source lists, not registered outside the CUDA fence in torch_bindings.cpp, not in the
built HIP binary. Each check is a function that the tests also run on a copy with a planted leak,
so a check that cannot fail would show."""

import re
import shutil
import subprocess

import pytest

from buildenv.compile import LIBRARY_NAME
from buildenv.config import REPO_ROOT
from buildenv.publish import dist_dir

# The CUDA-only families' names. GGUF's MXFP4 block type is not one of them (it is decoded on
# every backend), hence fp4 only when not preceded by "mx". The scaled_mm capability queries
# carry the names too but are answered by every build (they say what it compiled).
CUDA_ONLY = re.compile(r"cutlass|nvfp4|(?<!mx)fp4|awq|permute_cols", re.IGNORECASE)
CAPABILITY_QUERY = re.compile(r"scaled_mm_supports_")
FENCE = "#if defined(USE_CUDA) && !defined(USE_ROCM)"
BINDINGS = REPO_ROOT / "csrc/libtorch_stable/torch_bindings.cpp"


def is_cuda_only(text: str) -> bool:
    return bool(CUDA_ONLY.search(text)) and not CAPABILITY_QUERY.search(text)


def sources(target, cmake_dir=REPO_ROOT / "cmake"):
    out = subprocess.run(["cmake", f"-DVLLM_OPS_TARGET={target}", "-P", str(cmake_dir / "print_sources.cmake")],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [line.removeprefix("-- ").strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]


def leaked_sources(target, cmake_dir=REPO_ROOT / "cmake"):
    return [s for s in sources(target, cmake_dir) if is_cuda_only(s)]


def registrations_outside_fence(text: str) -> list[str]:
    """Lines that register (`.impl(`) a CUDA-only op outside the CUDA fence. Schemas (`.def(`)
    belong in every build."""
    fenced, leaks = [], []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("#if"):
            fenced.append(stripped == FENCE)
        elif stripped.startswith("#endif"):
            fenced.pop()
        elif ".impl(" in stripped and is_cuda_only(stripped) and not any(fenced):
            leaks.append(f"torch_bindings.cpp:{number}: {stripped}")
    return leaks


@pytest.mark.parametrize("target", ["cpu", "rocm"])
def test_source_lists_have_no_cuda_only_family(target):
    listed = sources(target)
    assert listed, "print_sources listed nothing"
    assert leaked_sources(target) == []
    assert set(listed) <= set(sources("cuda"))


def test_cuda_lists_the_cuda_only_families():
    assert [s for s in sources("cuda") if is_cuda_only(s)], "no CUDA-only source in the cuda list"


def test_planted_source_leak_is_caught(tmp_path):
    cmake = tmp_path / "cmake"
    shutil.copytree(REPO_ROOT / "cmake", cmake)
    text = (cmake / "sources.cmake").read_text()
    planted = text.replace("set(VLLM_OPS_HOST_SOURCES\n",
                           "set(VLLM_OPS_HOST_SOURCES\n  csrc/libtorch_stable/quantization/awq/awq_kernels.cu\n", 1)
    assert planted != text
    (cmake / "sources.cmake").write_text(planted)
    assert leaked_sources("cpu", cmake) == ["csrc/libtorch_stable/quantization/awq/awq_kernels.cu"]
    assert leaked_sources("rocm", cmake) == ["csrc/libtorch_stable/quantization/awq/awq_kernels.cu"]


def test_rocm_cmake_never_adds_the_cuda_only_list():
    text = (REPO_ROOT / "cmake" / "rocm.cmake").read_text()
    cuda = (REPO_ROOT / "cmake" / "cuda.cmake").read_text()
    for name in ("VLLM_OPS_CUDA_ONLY_SOURCES", "VLLM_OPS_SEPARATE_FAMILIES"):
        assert name not in text
        assert name in cuda
    assert "CUTLASS" not in text.upper()


def test_cuda_only_registrations_sit_under_the_cuda_fence():
    text = BINDINGS.read_text()
    assert FENCE in text
    assert registrations_outside_fence(text) == []


def test_planted_registration_leaks_are_caught():
    text = BINDINGS.read_text()
    cpu_block = "STABLE_TORCH_LIBRARY_IMPL(VLLM_OPS_NAMESPACE, CPU, ops) {\n"
    in_cpu = text.replace(cpu_block, cpu_block + '  ops.impl("awq_gemm", TORCH_BOX(&vllm_ops::awq_gemm));\n', 1)
    assert in_cpu != text and len(registrations_outside_fence(in_cpu)) == 1
    # `#ifndef USE_ROCM` alone is also true for the cpu target: not the fence.
    weak = text.replace(FENCE, "#ifndef USE_ROCM", 1)
    assert weak != text and registrations_outside_fence(weak)


@pytest.mark.docker
@pytest.mark.parametrize("target", ["cpu", "rocm"])
def test_binary_has_no_cuda_only_symbols(target):
    library = dist_dir(target) / LIBRARY_NAME
    assert library.exists(), f"build it first: invoke build --target {target}"
    symbols = subprocess.run(["nm", "-C", "-D", str(library)], capture_output=True, text=True, check=True).stdout
    symbols += subprocess.run(["nm", "-C", str(library)], capture_output=True, text=True).stdout
    assert [s for s in symbols.splitlines() if is_cuda_only(s)] == []
    cuda = dist_dir("cuda") / LIBRARY_NAME
    if cuda.exists():  # the same check finds the families in the cuda binary
        cuda_symbols = subprocess.run(["nm", "-C", "-D", str(cuda)], capture_output=True, text=True).stdout
        cuda_symbols += subprocess.run(["nm", "-C", str(cuda)], capture_output=True, text=True).stdout
        assert [s for s in cuda_symbols.splitlines() if is_cuda_only(s)]
