"""env.yaml `families`: validated with the key named, and cmake/sources.cmake generated from it
(the committed file matches; a planted change is caught; a CUDA-only family stays off HIP)."""

import copy

import pytest

from buildenv import config, families
from buildenv.errors import ConfigError

CFG = config.load(profile="")


def with_families(update) -> config.EnvConfig:
    data = copy.deepcopy(CFG.data)
    update(data["families"])
    return config.EnvConfig(data=data, sha256=CFG.sha256, path=CFG.path)


def test_committed_sources_cmake_matches_env_yaml():
    assert not families.drifted(CFG), "run `invoke families` and commit cmake/sources.cmake"


def test_a_new_source_in_env_yaml_is_drift():
    planted = with_families(lambda f: f["gptq"]["host_sources"].append("csrc/cpu/quant_cpu.cpp"))
    assert families.drifted(planted)


def test_cuda_only_family_goes_to_the_cuda_only_list():
    def add(f):
        f["permute"] = {"backends": ["cuda"], "host_sources": [], "dependencies": [],
                        "gpu_sources": ["csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu"]}

    lists = families.source_lists(with_families(add))
    shuffle = "csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu"
    assert ("permute", [shuffle]) in lists["VLLM_OPS_CUDA_ONLY_SOURCES"]
    assert all(name != "permute" for name, _ in lists["VLLM_OPS_GPU_SOURCES"])


@pytest.mark.parametrize("narrowing", [{"dependencies": ["cutlass"]}, {"cuda_archs": ["9.0a"]}])
def test_a_family_with_dependencies_or_archs_is_compiled_apart(narrowing):
    shuffle = "csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu"

    def add(f):
        f["apart"] = {"backends": ["cuda"], "host_sources": [], "dependencies": [], "gpu_sources": [shuffle],
                      **narrowing}

    cfg = with_families(add)
    lists = families.source_lists(cfg)
    assert all(name != "apart" for groups in lists.values() for name, _ in groups)
    text = families.render(cfg)
    assert f"set(VLLM_OPS_apart_SOURCES\n  {shuffle})" in text
    assert f"set(VLLM_OPS_apart_CUDA_ARCHS{' 9.0a' if 'cuda_archs' in narrowing else ''})" in text
    assert "set(VLLM_OPS_SEPARATE_FAMILIES cutlass_w8a8 apart)" in text


def test_the_cutlass_family_is_narrowed_to_sm90a():
    family = CFG.data["families"]["cutlass_w8a8"]
    assert family["cuda_archs"] == ["9.0a"] and family["dependencies"] == ["cutlass"]
    assert family["backends"] == ["cuda"]


def test_missing_source_file_is_named():
    broken = with_families(lambda f: f["gguf"]["host_sources"].append("csrc/cpu/absent.cpp"))
    with pytest.raises(ConfigError, match="families.gguf lists csrc/cpu/absent.cpp, which does not exist"):
        families.render(broken)


@pytest.mark.parametrize("change, message", [
    (lambda f: f["gguf"].update(backends=["cpu", "cuda", "rocm"], dependencies=["cutlass"]),
     "families.gguf.backends must not include rocm: cutlass is CUDA-only"),
    (lambda f: f["gguf"].update(backends=["cuda", "rocm"]), "families.gguf.host_sources must be given exactly"),
    (lambda f: f["gguf"].update(backends=["cpu", "tpu"]), "families.gguf.backends\\[1\\] must be cpu or cuda or rocm"),
    (lambda f: f["gguf"].update(backends=["cpu", "rocm"]), "a family with rocm also builds for cuda"),
    (lambda f: f["gguf"].update(gpu_sources=["src/x.cu"]), "families.gguf.gpu_sources\\[0\\] must be a source path"),
    (lambda f: f["gguf"].pop("dependencies"), "missing key families.gguf.dependencies"),
    (lambda f: f["gguf"].update(cuda_archs=["9.0a"]), "families.gguf.cuda_archs is only for CUDA-only families"),
    (lambda f: f["cutlass_w8a8"].update(cuda_archs=["9.0a+PTX"]), "\\+PTX belongs in cuda.arch_list"),
    (lambda f: f["cutlass_w8a8"].update(cuda_archs=["sm90"]),
     "families.cutlass_w8a8.cuda_archs\\[0\\] must be a CUDA arch"),
])
def test_bad_family_is_a_config_error_naming_the_key(env_data, write_env, change, message):
    change(env_data["families"])
    with pytest.raises(ConfigError, match=message):
        config.load(write_env(env_data))
