"""cmake/sources.cmake from env.yaml's `families`: a family is declared in one place, and the
CMake source lists (and the ROCm fence checks, which read them) follow. `invoke families` writes
the file; a test fails when the committed one drifts."""

from __future__ import annotations

from .config import REPO_ROOT, EnvConfig
from .errors import ConfigError

SOURCES_CMAKE = REPO_ROOT / "cmake" / "sources.cmake"
# Not part of any family: the schemas and registration tables of all of them.
CORE_HOST_SOURCES = ["csrc/libtorch_stable/torch_bindings.cpp"]


def source_lists(cfg: EnvConfig) -> dict[str, list[tuple[str, list[str]]]]:
    """CMake list name -> [(family, sources)], in env.yaml's order."""
    lists: dict[str, list[tuple[str, list[str]]]] = {
        "VLLM_OPS_HOST_SOURCES": [("core", CORE_HOST_SOURCES)],
        "VLLM_OPS_GPU_SOURCES": [],
        "VLLM_OPS_CUDA_ONLY_SOURCES": [],
    }
    for name, family in cfg.data["families"].items():
        for path in family["host_sources"] + family["gpu_sources"]:
            if not (REPO_ROOT / path).is_file():
                raise ConfigError(f"env.yaml: families.{name} lists {path}, which does not exist")
        if family["host_sources"]:
            lists["VLLM_OPS_HOST_SOURCES"].append((name, family["host_sources"]))
        if family["gpu_sources"] and not compiled_apart(family):
            shared = "rocm" in family["backends"]
            target_list = "VLLM_OPS_GPU_SOURCES" if shared else "VLLM_OPS_CUDA_ONLY_SOURCES"
            lists[target_list].append((name, family["gpu_sources"]))
    return lists


def compiled_apart(family: dict) -> bool:
    """A CUDA-only family with its own arch list or dependencies: cmake/cuda.cmake compiles it as an
    object library of its own, for the archs of its list that the build has, with its
    dependencies' headers (CUTLASS's), which no other source sees."""
    return family["backends"] == ["cuda"] and bool(family.get("cuda_archs") or family["dependencies"])


def separate_families(cfg: EnvConfig) -> dict[str, dict]:
    return {name: family for name, family in cfg.data["families"].items() if compiled_apart(family)}


HEADER = """\
# Generated from env.yaml `families` by `invoke families`: edit env.yaml, not this file
# (tests/toolchain/test_families.py fails when the two drift). Also read in script mode
# (cmake/print_sources.cmake, tests/toolchain/test_rocm_fence.py).
"""
COMMENTS = {
    "VLLM_OPS_HOST_SOURCES": "# Compiled into every target, so a GPU build still runs on CPU tensors.",
    "VLLM_OPS_GPU_SOURCES": "# GPU kernels shared by CUDA and HIP (each .cu is compiled as HIP for ROCm).",
    "VLLM_OPS_CUDA_ONLY_SOURCES": "# CUDA-only families (backends without rocm). Listed by cmake/cuda.cmake only, "
                                  "never for\n# HIP; their registrations sit under "
                                  "#if defined(USE_CUDA) && !defined(USE_ROCM).",
}


SEPARATE_COMMENT = """\
# CUDA-only families compiled apart by cmake/cuda.cmake (never for HIP), each for the archs of
# its CUDA_ARCHS that the build has (all of the build's when empty) and with its DEPENDENCIES'
# headers. A family none of whose archs the build has is left out; VLLM_OPS_HAS_<FAMILY> tells
# the bindings which were compiled."""


def render(cfg: EnvConfig) -> str:
    parts = [HEADER]
    for list_name, groups in source_lists(cfg).items():
        lines = [COMMENTS[list_name], f"set({list_name}"]
        for family, sources in groups:
            lines.append(f"  # {family}")
            lines.extend(f"  {path}" for path in sources)
        lines[-1] += ")"
        parts.append("\n".join(lines) + "\n")
    separate = separate_families(cfg)
    lines = [SEPARATE_COMMENT, f"set(VLLM_OPS_SEPARATE_FAMILIES{''.join(' ' + name for name in separate)})"]
    for name, family in separate.items():
        lines.append(f"set(VLLM_OPS_{name}_SOURCES")
        lines.extend(f"  {path}" for path in family["gpu_sources"])
        lines[-1] += ")"
        lines.append(f"set(VLLM_OPS_{name}_CUDA_ARCHS{''.join(' ' + arch for arch in family.get('cuda_archs', []))})")
        lines.append(f"set(VLLM_OPS_{name}_DEPENDENCIES{''.join(' ' + dep for dep in family['dependencies'])})")
    parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def write(cfg: EnvConfig) -> bool:
    text = render(cfg)
    if SOURCES_CMAKE.read_text() == text:
        return False
    SOURCES_CMAKE.write_text(text)
    return True


def drifted(cfg: EnvConfig) -> bool:
    return SOURCES_CMAKE.read_text() != render(cfg)
